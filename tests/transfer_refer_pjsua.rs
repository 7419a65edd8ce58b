//! Transfer after the answer: the `xfer` route answers, pauses and transfers to `sip:echo@<chorus>`, which
//! Chorus does with a REFER in the dialog (RFC 3515). PJSUA2 accepts it (its default), places the new call
//! to the echo route of the same server, and Chorus, seeing the REFER accepted, sends BYE on the first call.
//! The call log then has the first call with end_reason "transferred" and the new call on route `echo`.

mod common;

use std::time::Duration;

use common::{pjsua_call_args, Chorus, PjCall};

/// `tests/dialplans/transfer.yaml` with `{chorus}` set to the server's address.
pub fn transfer_dialplan(sip: std::net::SocketAddr) -> String {
    let path = common::repo_root().join("tests/dialplans/transfer.yaml");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .replace("{chorus}", &sip.to_string())
}

#[test]
fn refer_moves_pjsua_to_the_echo_route() {
    let chorus = Chorus::start_generated(transfer_dialplan);
    let dir = common::scratch_dir("pjsua-xfer");
    let heard = dir.join("heard.wav");
    let result = pjsua_call_args(
        chorus.sip_addr(),
        &PjCall {
            user: "xfer",
            play: None,
            record: &heard,
            seconds: 8.0,
            wait_bye: true,
            codec: Some("PCMU"),
        },
        &["--follow-transfer", "3"],
    );
    eprintln!("call.py: {result}");
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(
        result["remote_bye"], true,
        "Chorus hangs up the first call once the REFER is accepted: {result}"
    );
    let xfer = &result["transfer"];
    let target = format!("sip:echo@{}", chorus.sip_addr());
    assert!(
        xfer["refer_to"]
            .as_str()
            .is_some_and(|t| t.contains(&target)),
        "REFER with Refer-To {target}: {result}"
    );
    assert_eq!(xfer["created"], true, "PJSUA placed the new call: {result}");
    assert_eq!(
        xfer["connected"], true,
        "the transferred call reached the echo route: {result}"
    );
    assert_eq!(xfer["media_active"], true, "{result}");
    assert_eq!(
        xfer["remote_bye"], false,
        "the echo call stays up until PJSUA hangs up: {result}"
    );

    let log = chorus.wait_call_log(2, Duration::from_secs(5));
    assert_eq!(log.len(), 2, "{log:#?}");
    let first = log
        .iter()
        .find(|l| l["route"] == "xfer")
        .unwrap_or_else(|| panic!("no xfer line: {log:#?}"));
    assert_eq!(first["end_reason"], "transferred", "{first}");
    assert_eq!(first["status"], 200, "{first}");
    assert!(first["answered_at"].is_string(), "{first}");
    let second = log
        .iter()
        .find(|l| l["route"] == "echo")
        .unwrap_or_else(|| panic!("no echo line (the transferred call): {log:#?}"));
    assert_eq!(second["status"], 200, "{second}");
    assert_eq!(second["end_reason"], "caller_bye", "{second}");
    assert_ne!(first["call_id"], second["call_id"], "{log:#?}");
    std::fs::remove_dir_all(dir).unwrap();
}
