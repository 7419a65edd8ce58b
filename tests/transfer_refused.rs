//! A refused transfer: the `refused` route answers and transfers with REFER; SIPp answers the REFER 603.
//! The call stays up and the steps go on: the greeting plays, then Chorus hangs up (SIPp gets BYE), and the
//! call log says server_bye, not transferred.
//!
//! `transfer_right_after_answer_sends_refer` runs the same with the transfer as the step right after
//! `answer`: the REFER must still go out (once the ACK is in), not be given up on locally.

mod common;

use std::time::{Duration, Instant};

use common::{sipp, Chorus, Transport};

fn transfer_dialplan(sip: std::net::SocketAddr) -> String {
    let path = common::repo_root().join("tests/dialplans/transfer.yaml");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .replace("{chorus}", &sip.to_string())
}

fn refused(route: &str) {
    let chorus = Chorus::start_generated(transfer_dialplan);
    let started = Instant::now();
    let run = sipp(
        "uac_refer_refused.xml",
        chorus.sip_addr(),
        route,
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(25),
    );
    run.assert_success("REFER answered 603, then the greeting and BYE");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "the refusal should end the transfer step at once, not after the REFER wait: {took:?}"
    );
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log.len(), 1, "{log:#?}");
    let line = &log[0];
    assert_eq!(line["route"], route, "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["end_reason"], "server_bye", "{line}");
    assert!(line["answered_at"].is_string(), "{line}");
    let xfer = &line["transfer"];
    assert_eq!(xfer["to"], "sip:desk@127.0.0.1", "{line}");
    assert_eq!(xfer["mode"], "refer", "{line}");
    assert_eq!(xfer["result"], "refused", "{line}");
    assert_eq!(xfer["status"], 603, "{line}");
    assert!(
        chorus.log_text().contains("refer answered"),
        "the server saw the REFER's answer:\n{}",
        chorus.log_text()
    );
}

#[test]
fn refused_refer_keeps_the_call_and_goes_on() {
    refused("refused");
}

/// Chorus bug (found by this test): `answer` returns before the caller's ACK, so a `transfer` step right
/// after it finds the dialog not yet confirmed; `Endpoint::refer` refuses (WrongState "answered"), no REFER
/// is sent, the interpreter logs "transfer refused; the call goes on" and the caller never hears of it.
#[test]
fn transfer_right_after_answer_sends_refer() {
    refused("refer_now");
}
