//! SIP INFO DTMF from SIPp: in an answered call, INFO requests with `application/dtmf-relay` bodies
//! (`Signal=4`, `5`, `6`) and one `application/dtmf` body (`7`) are each answered 200, and the call log
//! holds the four keys in order.

mod common;

use std::time::Duration;

use common::{sipp, Chorus, Transport};

#[test]
fn info_keys_are_answered_and_logged() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let run = sipp(
        "uac_dtmf_info.xml",
        chorus.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(20),
    );
    run.assert_success("four INFO requests, each expecting 200");
    let infos = run.messages.matches("INFO sip:").count();
    assert!(infos >= 4, "four INFO requests were sent:\n{run}");

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let call = &log[0];
    assert_eq!(call["route"], "echo", "{call}");
    assert_eq!(call["end_reason"], "caller_bye", "{call}");
    assert_eq!(
        call["dtmf"], "4567",
        "INFO dtmf-relay 4 5 6 and application/dtmf 7: {call}"
    );
}
