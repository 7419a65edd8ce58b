//! Through Kamailio: a re-INVITE putting the call on hold (a=sendonly) follows the route set to Chorus and
//! is answered 200 with a=recvonly, and the resume with sendrecv; OPTIONS relayed by the proxy are
//! answered 200 by Chorus (with its Allow list, which Kamailio would not make up).

mod common;
#[path = "common/kamailio.rs"]
mod kamailio;

use std::time::Duration;

use common::{sipp, Chorus, Transport};
use kamailio::{Kamailio, Upstream};

#[test]
fn hold_reinvite_through_the_proxy() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let proxy = Kamailio::start(Upstream::One(chorus.sip_addr()));
    let run = sipp(
        "../kamailio/uac_hold.xml",
        proxy.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(30),
    );
    run.assert_success("hold and resume through kamailio");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let line = &log[0];
    assert_eq!(line["route"], "echo", "{line}");
    assert_eq!(line["end_reason"], "caller_bye", "{line}");
    let call_id = line["call_id"].as_str().unwrap().to_string();

    // Both re-INVITEs and their ACKs were loose-routed by the proxy (not sent around it).
    let reinvites = proxy.lines_with(&["in-dialog INVITE from", &call_id]);
    assert_eq!(reinvites.len(), 2, "{:#?}", proxy.test_lines());
    assert_eq!(
        proxy.lines_with(&["in-dialog ACK from", &call_id]).len(),
        3,
        "{:#?}",
        proxy.test_lines()
    );
    // The answer to the resume is not still on hold. SIPp's message log separates messages with dashes.
    let answers: Vec<&str> = run
        .messages
        .split("-----------------------------------------------")
        .filter(|m| m.contains("message received"))
        .filter(|m| m.contains("SIP/2.0 200") && m.contains("CSeq: 3 INVITE"))
        .collect();
    assert!(!answers.is_empty(), "no 200 to the resume:\n{run}");
    for a in answers {
        assert!(
            !a.contains("a=recvonly") && !a.contains("a=inactive"),
            "the resume was answered still on hold:\n{a}"
        );
    }
}

#[test]
fn options_through_the_proxy() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let proxy = Kamailio::start(Upstream::One(chorus.sip_addr()));
    let run = sipp(
        "uac_options.xml",
        proxy.sip_addr(),
        "options",
        Transport::Udp,
        3,
        &[],
        Duration::from_secs(20),
    );
    run.assert_success("OPTIONS through kamailio");
    let relayed = proxy.lines_with(&["new OPTIONS", &format!("to sip:{}", chorus.sip_addr())]);
    assert_eq!(relayed.len(), 3, "{:#?}", proxy.test_lines());
    assert!(
        run.messages.contains("Chorus"),
        "the 200s do not name Chorus (Server/User-Agent):\n{run}"
    );
}
