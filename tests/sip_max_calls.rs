//! The call limit (`max_calls` in the config file): with two calls up, a third INVITE gets 503 with
//! Retry-After and a "rejected" call-log line; once one call ends, a new call is taken again.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::sip::{establish, final_response, Leg};
use common::Chorus;

#[test]
fn third_call_past_max_calls_gets_503() {
    let chorus = Chorus::start_with_config("tests/dialplans/test.yaml", Some("max_calls: 2\n"));
    let server = chorus.sip_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp: Vec<UdpSocket> = (0..4)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let port = |i: usize| rtp[i].local_addr().unwrap().port();

    let (first, _) = establish(&sock, server, "echo", "max-1", port(0));
    let (second, _) = establish(&sock, server, "echo", "max-2", port(1));

    let third = Leg::new(&sock, server, "echo", "max-3");
    sock.send_to(third.invite(port(2)).as_bytes(), server)
        .unwrap();
    let busy = final_response(&sock, "INVITE", Duration::from_secs(5));
    assert_eq!(busy.status(), Some(503), "third call: {busy:?}");
    assert!(
        busy.header("Retry-After").is_some(),
        "503 without Retry-After: {busy:?}"
    );
    assert_eq!(busy.header("Call-ID"), Some(third.call_id.as_str()));
    // ACK the 503 in its INVITE transaction.
    let mut acked = third.clone();
    acked.to_tag = busy.to_tag();
    sock.send_to(
        acked.request("ACK", 1, &third.invite_branch).as_bytes(),
        server,
    )
    .unwrap();

    // One call ends; the slot is free again.
    sock.send_to(first.bye().as_bytes(), server).unwrap();
    let ok = final_response(&sock, "BYE", Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "BYE: {ok:?}");
    let (fourth, _) = establish(&sock, server, "echo", "max-4", port(3));

    for leg in [&second, &fourth] {
        sock.send_to(leg.bye().as_bytes(), server).unwrap();
        let ok = final_response(&sock, "BYE", Duration::from_secs(5));
        assert_eq!(ok.status(), Some(200), "BYE: {ok:?}");
    }

    let log = chorus.wait_call_log(4, Duration::from_secs(5));
    let line = |leg: &Leg| {
        log.iter()
            .find(|l| l["call_id"] == leg.call_id.as_str())
            .unwrap_or_else(|| panic!("no call-log line for {}: {log:#?}", leg.call_id))
    };
    let rejected = line(&third);
    assert_eq!(rejected["end_reason"], "rejected", "{rejected}");
    assert_eq!(rejected["status"], 503, "{rejected}");
    assert!(rejected["answered_at"].is_null(), "{rejected}");
    for leg in [&first, &second, &fourth] {
        let l = line(leg);
        assert_eq!(l["end_reason"], "caller_bye", "{l}");
        assert_eq!(l["status"], 200, "{l}");
    }
}
