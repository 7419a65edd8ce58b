//! DTMF from a real user agent: PJSUA2 calls the echo route and, a second after media is up, dials keys
//! as RFC 2833/4733 events from its media stream (`Call::dialDtmf`) and, in a second call, as SIP INFO
//! (`Call::sendDtmf` with `PJSUA_DTMF_METHOD_SIP_INFO`: one INFO `application/dtmf-relay` per key,
//! sent back to back). Either way the call log holds exactly the keys dialled.

mod common;

use std::time::Duration;

use common::{pjsua_call_args, Chorus, PjCall};

const KEYS: &str = "147*0#";

fn dial(method: &str) {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let dir = common::scratch_dir("pjsua-dtmf");
    let heard = dir.join("heard.wav");
    let result = pjsua_call_args(
        chorus.sip_addr(),
        &PjCall {
            user: "echo",
            play: None,
            record: &heard,
            seconds: 4.0,
            wait_bye: false,
            codec: Some("PCMU"),
        },
        &["--dtmf", KEYS, "--dtmf-method", method, "--dtmf-at", "1.0"],
    );
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{method}: {result}");
    assert_eq!(result["dtmf_sent"], KEYS, "{method}: {result}");

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let call = &log[0];
    assert_eq!(call["end_reason"], "caller_bye", "{call}");
    assert_eq!(
        call["dtmf"], KEYS,
        "PJSUA dialled {KEYS} by {method}: {call}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn pjsua_keys_by_rfc2833() {
    dial("rfc2833");
}

#[test]
fn pjsua_keys_by_sip_info() {
    dial("info");
}
