//! Transfer before the answer: the `redir` route's first step is `transfer: {to: 'sip:desk@127.0.0.1',
//! mode: redirect}`, which Chorus does with a 302 whose Contact is the target. SIPp checks the Contact and
//! ACKs the 302; the call log has status 302 and end_reason "transferred", and no answer.

mod common;

use std::time::Duration;

use common::{sipp, Chorus, Transport};

fn transfer_dialplan(sip: std::net::SocketAddr) -> String {
    let path = common::repo_root().join("tests/dialplans/transfer.yaml");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .replace("{chorus}", &sip.to_string())
}

#[test]
fn redirect_before_answer_sends_302_with_contact() {
    let chorus = Chorus::start_generated(transfer_dialplan);
    let run = sipp(
        "uac_redirect.xml",
        chorus.sip_addr(),
        "redir",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(15),
    );
    run.assert_success("302 with Contact: <sip:desk@127.0.0.1>");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log.len(), 1, "{log:#?}");
    let line = &log[0];
    assert_eq!(line["route"], "redir", "{line}");
    assert_eq!(line["status"], 302, "{line}");
    assert_eq!(line["end_reason"], "transferred", "{line}");
    assert!(line["answered_at"].is_null(), "never answered: {line}");
    let xfer = &line["transfer"];
    assert_eq!(xfer["mode"], "redirect", "{line}");
    assert_eq!(xfer["result"], "transferred", "{line}");
    assert_eq!(xfer["status"], 302, "{line}");
}

#[test]
fn redirect_over_tcp() {
    let chorus = Chorus::start_generated(transfer_dialplan);
    let run = sipp(
        "uac_redirect.xml",
        chorus.sip_addr(),
        "redir",
        Transport::Tcp,
        1,
        &[],
        Duration::from_secs(15),
    );
    run.assert_success("302 over TCP");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log[0]["status"], 302, "{:?}", log[0]);
    assert_eq!(log[0]["end_reason"], "transferred", "{:?}", log[0]);
}
