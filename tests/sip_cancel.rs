//! CANCEL before answer (RFC 3261 §9.2): while the `slow` route rings, SIPp cancels; Chorus answers the
//! CANCEL 200 and the INVITE 487, and logs the call as cancelled.

mod common;

use std::time::{Duration, Instant};

use common::{sipp, Chorus, Transport};

#[test]
fn cancel_while_ringing_gets_487_and_is_logged() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let started = Instant::now();
    let run = sipp(
        "uac_cancel.xml",
        chorus.sip_addr(),
        "slow",
        Transport::Udp,
        2,
        &[],
        Duration::from_secs(20),
    );
    run.assert_success("CANCEL of a ringing call");
    // The route rings for 10 s: had the CANCEL not ended the call, SIPp would still be waiting.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "cancel took {:?}",
        started.elapsed()
    );
    let log = chorus.wait_call_log(2, Duration::from_secs(5));
    for line in &log {
        assert_eq!(line["route"], "slow", "{line}");
        assert_eq!(line["end_reason"], "cancelled", "{line}");
        assert_eq!(line["status"], 487, "{line}");
        assert!(line["answered_at"].is_null(), "never answered: {line}");
    }
    // The ACK for the 487 was absorbed: no further line, and the server still answers.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(chorus.call_log().len(), 2);
    assert_eq!(common::sip::ping(chorus.sip_addr()).status(), Some(200));
}
