//! Drain behind Kamailio's dispatcher, for a deploy without dropped calls: two Chorus instances in one
//! dispatcher set probed with OPTIONS every second. Calls are up on both; SIGUSR1 to one (A) makes it answer
//! OPTIONS 503 with Retry-After, so the dispatcher takes it down within a few seconds; new calls then all go
//! to B without the proxy ever trying A; the calls A had finish normally with the callers' BYE, after
//! which A exits 0. No call fails.

mod common;
#[path = "common/kamailio.rs"]
mod kamailio;

use std::time::{Duration, Instant};

use common::{sip, Chorus};
use kamailio::{call_users, sip_uri, users_of, Dest, Kamailio, Upstream};

/// How Chorus logs a call it took (`tracing` line of chorus::server).
const CALL_LINE: &str = "chorus::server: call call_id=";

#[test]
fn drained_instance_finishes_its_calls_and_new_calls_go_elsewhere() {
    let chorus_a = Chorus::start("tests/kamailio/dialplan.yaml");
    let chorus_b = Chorus::start("tests/kamailio/dialplan.yaml");
    let dests = [
        Dest::active(chorus_a.sip_addr()),
        Dest::active(chorus_b.sip_addr()),
    ];
    let proxy = Kamailio::start(Upstream::Dispatcher {
        dests: &dests,
        ping_interval: 1,
    });
    for c in [&chorus_a, &chorus_b] {
        let flags = proxy.wait_dispatcher_flags(c.sip_addr(), "AP", Duration::from_secs(10));
        assert_eq!(
            flags.as_deref(),
            Some("AP"),
            "{}",
            proxy.kamcmd(&["dispatcher.list"])
        );
    }

    // Long calls to six users: the hash over the user spreads them; they last well past the drain.
    let proxy_addr = proxy.sip_addr();
    let long_users = ["u-1", "u-2", "u-3", "u-4", "u-5", "u-6"];
    let long = std::thread::spawn(move || {
        call_users(
            proxy_addr,
            &long_users,
            Duration::from_secs(12),
            Duration::from_secs(40),
        )
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut on_a, mut on_b) = (0, 0);
    while Instant::now() < deadline {
        on_a = chorus_a.log_count(CALL_LINE);
        on_b = chorus_b.log_count(CALL_LINE);
        if on_a + on_b == long_users.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        on_a + on_b,
        long_users.len(),
        "the long calls did not all reach chorus: {:#?}",
        proxy.test_lines()
    );
    // Drain the one that has calls (both, most likely; the hash decides).
    let (mut drained, other, in_progress) = if on_a > 0 {
        (chorus_a, chorus_b, on_a)
    } else {
        (chorus_b, chorus_a, on_b)
    };
    eprintln!(
        "draining {} with {in_progress} calls in progress",
        drained.sip_addr()
    );
    // Let the ACKs land before the signal.
    std::thread::sleep(Duration::from_millis(500));
    drained.signal("USR1");
    assert!(
        drained.wait_log("draining", Duration::from_secs(5)),
        "no sign of draining after SIGUSR1:\n{}",
        drained.log_text()
    );

    // Its OPTIONS answer is now 503 with Retry-After, and the dispatcher takes it down.
    let reply = sip::ping(drained.sip_addr());
    assert_eq!(
        reply.status(),
        Some(503),
        "OPTIONS while draining: {reply:?}"
    );
    assert!(
        reply.header("Retry-After").is_some(),
        "503 without Retry-After: {reply:?}"
    );
    let drained_uri = sip_uri(drained.sip_addr());
    assert!(
        proxy.wait_line(&["dst-down", &drained_uri], Duration::from_secs(5)),
        "the dispatcher did not take the draining instance down: {:#?}",
        proxy.test_lines()
    );
    let flags = proxy
        .dispatcher_flags(drained.sip_addr())
        .unwrap_or_default();
    assert!(
        flags.starts_with('I'),
        "draining instance: inactive, got {flags}\n{}",
        proxy.kamcmd(&["dispatcher.list"])
    );
    assert_eq!(
        proxy.dispatcher_flags(other.sip_addr()).as_deref(),
        Some("AP"),
        "{}",
        proxy.kamcmd(&["dispatcher.list"])
    );
    assert!(drained.is_running(), "exited with calls in progress");

    // New calls, to users of both halves of the hash: all on the other instance, none even tried on A.
    let new_users = ["n-1", "n-2", "n-3", "n-4", "n-5", "n-6", "n-7", "n-8"];
    let run = call_users(
        proxy.sip_addr(),
        &new_users,
        Duration::from_millis(500),
        Duration::from_secs(30),
    );
    run.assert_success("new calls while one instance drains");
    assert_eq!(
        drained.log_count(CALL_LINE),
        in_progress,
        "the draining instance took a new call"
    );
    assert!(
        proxy.lines_with(&["failover"]).is_empty(),
        "the proxy tried the draining instance: {:#?}",
        proxy.test_lines()
    );

    // The calls in progress finish normally, and the drained instance exits 0 after the last one.
    let long_run = long.join().unwrap();
    long_run.assert_success("calls in progress during the drain");
    let status = drained.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "the drained instance did not exit 0 after its last call: {status:?}\n{}",
        drained.log_text()
    );
    let drained_log = drained.call_log();
    assert_eq!(drained_log.len(), in_progress, "{drained_log:#?}");
    for line in &drained_log {
        assert_eq!(line["end_reason"], "caller_bye", "{line}");
        assert_eq!(line["status"], 200, "{line}");
    }
    let other_log = other.wait_call_log(
        long_users.len() - in_progress + new_users.len(),
        Duration::from_secs(5),
    );
    for line in &other_log {
        assert_eq!(line["end_reason"], "caller_bye", "{line}");
        assert_eq!(line["status"], 200, "{line}");
    }
    let mut got = users_of(&other_log);
    got.retain(|u| u.starts_with("n-"));
    got.sort();
    assert_eq!(got, new_users, "every new call on the other instance");
}
