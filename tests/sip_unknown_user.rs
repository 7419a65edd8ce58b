//! A call to a user no route matches is refused 404 (over UDP and TCP), the ACK for it is absorbed, and
//! the call log records the rejection.

mod common;

use std::time::Duration;

use common::{sipp, Chorus, Transport};

#[test]
fn unknown_user_gets_404_and_a_rejected_log_line() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    for transport in [Transport::Udp, Transport::Tcp] {
        let run = sipp(
            "uac_404.xml",
            chorus.sip_addr(),
            "nobody-here",
            transport,
            1,
            &[],
            Duration::from_secs(15),
        );
        run.assert_success(&format!("404 over {transport:?}"));
    }
    let log = chorus.wait_call_log(2, Duration::from_secs(5));
    assert_eq!(log.len(), 2, "{log:#?}");
    for line in &log {
        assert!(line["route"].is_null(), "no route matched: {line}");
        assert_eq!(line["end_reason"], "rejected", "{line}");
        assert_eq!(line["status"], 404, "{line}");
        assert!(line["answered_at"].is_null(), "{line}");
        assert!(
            line["to"].as_str().unwrap_or("").contains("nobody-here"),
            "{line}"
        );
    }
}
