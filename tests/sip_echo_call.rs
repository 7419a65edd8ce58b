//! Calls to the echo route from SIPp over UDP and over TCP: INVITE, 200 with a PCMA answer, ACK, RTP,
//! the caller's BYE. Each finished call leaves one call-log line saying the caller hung up.

mod common;

use std::time::Duration;

use common::{sipp, Chorus, Transport};

const CALLS: u32 = 3;

fn echo_calls(transport: Transport) {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let run = sipp(
        "uac_echo.xml",
        chorus.sip_addr(),
        "echo",
        transport,
        CALLS,
        &[],
        Duration::from_secs(30),
    );
    run.assert_success(&format!("{CALLS} echo calls over {transport:?}"));
    let log = chorus.wait_call_log(CALLS as usize, Duration::from_secs(5));
    assert_eq!(log.len(), CALLS as usize, "one line per call: {log:#?}");
    for line in &log {
        assert_eq!(line["route"], "echo", "{line}");
        assert_eq!(line["end_reason"], "caller_bye", "{line}");
        assert_eq!(line["status"], 200, "{line}");
        assert!(line["answered_at"].is_string(), "answered_at set: {line}");
        assert!(line["ended_at"].is_string(), "ended_at set: {line}");
        assert!(
            line["to"].as_str().unwrap_or("").starts_with("sip:echo@"),
            "{line}"
        );
        assert!(
            line["call_id"].as_str().is_some_and(|c| !c.is_empty()),
            "{line}"
        );
    }
    let mut ids: Vec<&str> = log.iter().filter_map(|l| l["call_id"].as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), CALLS as usize, "distinct Call-IDs: {log:#?}");
}

#[test]
fn echo_calls_over_udp() {
    echo_calls(Transport::Udp);
}

#[test]
fn echo_calls_over_tcp() {
    echo_calls(Transport::Tcp);
}
