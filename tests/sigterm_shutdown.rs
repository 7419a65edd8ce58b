//! Graceful shutdown: with an echo call up, SIGTERM makes Chorus send BYE to the caller, refuse new
//! calls with 503 meanwhile, write the call's log line with end_reason "shutdown" and exit 0 within 5 s.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::sip::{establish, recv_until, response_to, Leg};
use common::Chorus;

#[test]
fn sigterm_hangs_up_calls_and_exits_zero() {
    let mut chorus = Chorus::start("tests/dialplans/test.yaml");
    let server = chorus.sip_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (leg, _) = establish(
        &sock,
        server,
        "echo",
        "term",
        rtp.local_addr().unwrap().port(),
    );
    // Let the call settle (ACK absorbed, media task running) before the signal.
    std::thread::sleep(Duration::from_millis(300));

    let pid = chorus.pid();
    let signalled = Instant::now();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM {pid}");

    let (bye, seen) = recv_until(&sock, Duration::from_secs(3), |m| m.method() == Some("BYE"));
    let bye = bye.unwrap_or_else(|| {
        panic!(
            "no BYE within 3 s of SIGTERM; received {:?}",
            seen.iter().map(|m| &m.start).collect::<Vec<_>>()
        )
    });
    assert_eq!(bye.header("Call-ID"), Some(leg.call_id.as_str()), "{bye:?}");

    // While the BYE is unanswered the server is still shutting down: a new call must be refused.
    let late = Leg::new(&sock, server, "echo", "late");
    sock.send_to(
        late.invite(rtp.local_addr().unwrap().port()).as_bytes(),
        server,
    )
    .unwrap();
    let (refused, _) = recv_until(&sock, Duration::from_secs(1), |m| {
        m.status().is_some_and(|s| s >= 200) && m.header("Call-ID") == Some(late.call_id.as_str())
    });
    match refused {
        Some(r) => {
            eprintln!("INVITE during shutdown: {}", r.start);
            assert_eq!(r.status(), Some(503), "INVITE during shutdown: {r:?}");
            let mut ack = late.clone();
            ack.to_tag = r.to_tag();
            let _ = sock.send_to(
                ack.request("ACK", 1, &late.invite_branch).as_bytes(),
                server,
            );
        }
        None => assert!(
            !chorus.is_running(),
            "INVITE during shutdown got no answer while the server was still running"
        ),
    }

    let _ = sock.send_to(response_to(&bye, 200, "OK", None).as_bytes(), server);

    let status = chorus
        .wait_exit(Duration::from_secs(5).saturating_sub(signalled.elapsed()))
        .unwrap_or_else(|| {
            panic!(
                "chorus still running {:?} after SIGTERM",
                signalled.elapsed()
            )
        });
    assert!(status.success(), "exit status after SIGTERM: {status}");

    let log = chorus.call_log();
    let line = log
        .iter()
        .find(|l| l["call_id"] == leg.call_id.as_str())
        .unwrap_or_else(|| panic!("no call-log line for the call: {log:#?}"));
    assert_eq!(line["end_reason"], "shutdown", "{line}");
    assert_eq!(line["route"], "echo", "{line}");
    assert!(line["answered_at"].is_string(), "{line}");
}
