//! Which codec the server answers with: SIPp offers PCMU, PCMA and G.722 in that order (`0 8 9`).
//! By default Chorus prefers G.722 and answers with PT 9 alone; with `codecs: [PCMU, PCMA]` in its
//! config file it answers PT 0. The answer is read from SIPp's message trace, and the call log's
//! `rtp.codec` must agree.

mod common;

use std::time::Duration;

use common::{sipp, Chorus, Transport};

/// The `m=audio` line of the 200 OK to the INVITE in a SIPp `-trace_msg` file.
fn answered_m_line(messages: &str) -> Option<String> {
    messages
        .split("message received")
        .skip(1)
        .map(|m| {
            m.split("-----------------------------------------------")
                .next()
                .unwrap_or(m)
        })
        .filter(|m| {
            m.lines().any(|l| l.starts_with("SIP/2.0 200"))
                && m.lines()
                    .any(|l| l.to_ascii_lowercase().starts_with("cseq:") && l.contains("INVITE"))
        })
        .find_map(|m| {
            m.lines()
                .find(|l| l.starts_with("m=audio"))
                .map(|l| l.trim().to_string())
        })
}

fn answer_to_0_8_9(config: Option<&str>) -> (Vec<String>, serde_json::Value) {
    let chorus = Chorus::start_with_config("tests/dialplans/test.yaml", config);
    let run = sipp(
        "uac_codec_offer.xml",
        chorus.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(15),
    );
    run.assert_success("offer 0 8 9 (the answer must hold exactly one of them)");
    let m = answered_m_line(&run.messages)
        .unwrap_or_else(|| panic!("no m=audio line in the 200 OK:\n{run}"));
    let formats: Vec<String> = m.split_whitespace().skip(3).map(String::from).collect();
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    (formats, log[0].clone())
}

#[test]
fn g722_is_preferred_by_default() {
    let (formats, call) = answer_to_0_8_9(None);
    assert_eq!(formats, ["9"], "answer to an offer of 0 8 9: {call}");
    assert_eq!(call["rtp"]["codec"], "G722", "{call}");
}

#[test]
fn configured_codecs_set_the_choice() {
    let (formats, call) = answer_to_0_8_9(Some("codecs: [PCMU, PCMA]\n"));
    assert_eq!(
        formats,
        ["0"],
        "answer to 0 8 9 with codecs: [PCMU, PCMA]: {call}"
    );
    assert_eq!(call["rtp"]["codec"], "PCMU", "{call}");
}
