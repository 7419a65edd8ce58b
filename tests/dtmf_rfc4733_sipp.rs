//! RFC 4733 DTMF from SIPp: a call offering PCMU and telephone-event (PT 101) gets telephone-event in the
//! answer, then sends the keys 1, 2, 3 and # as event packets replayed from SIPp's own captures (each
//! press: 7 updates 20 ms apart and the end packet three times). The call log holds each key once, in
//! order.

mod common;

use std::time::Duration;

use common::{fixture, sipp_with_files, Chorus, Transport};

#[test]
fn rfc4733_keys_reach_the_call_log_once_each() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let pcaps: Vec<_> = ["1", "2", "3", "pound"]
        .iter()
        .map(|k| fixture(&format!("dtmf_2833_{k}.pcap")))
        .collect();
    let files: Vec<&std::path::Path> = pcaps.iter().map(|p| p.as_path()).collect();
    let run = sipp_with_files(
        "uac_dtmf_2833.xml",
        chorus.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(20),
        &files,
    );
    run.assert_success("RFC 4733 call (the answer must keep PCMU and telephone-event 101)");

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let call = &log[0];
    assert_eq!(call["route"], "echo", "{call}");
    assert_eq!(call["end_reason"], "caller_bye", "{call}");
    assert_eq!(
        call["dtmf"], "123#",
        "keys 1 2 3 # sent as RFC 4733 events (3 end packets each): {call}"
    );
    let rtp = &call["rtp"];
    assert_eq!(rtp["codec"], "PCMU", "{call}");
    assert!(
        rtp["packets_received"].as_u64().is_some_and(|n| n > 0),
        "40 event packets were sent (32 sequence numbers): {call}"
    );
}
