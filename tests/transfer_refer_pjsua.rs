//! Transfer after the answer: the `xfer` route answers, pauses and transfers to `sip:echo@<chorus>`, which
//! Chorus does with a REFER in the dialog (RFC 3515). PJSUA2 accepts it (its default), places the new call
//! to the echo route of the same server and reports it in NOTIFYs (RFC 3515 sipfrag); Chorus, told the new
//! call was answered (`SIP/2.0 200 OK`), sends BYE on the first call. The call log then has the first call
//! with end_reason "transferred" and the new call on route `echo`. When the new call fails instead (a target
//! with no route: 404), the NOTIFY says so and the dialplan goes on: the caller hears the greeting.

mod common;

use std::time::Duration;

use common::audio::{envelope_similarity, Audio};
use common::{assert_refer_logged, pjsua_follow_refer, repo_root, Chorus};

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
    let result = pjsua_follow_refer(chorus.sip_addr(), "xfer", &heard, 8.0);
    let xfer = &result["transfer"];
    let target = format!("sip:echo@{}", chorus.sip_addr());
    assert!(
        xfer["refer_to"]
            .as_str()
            .is_some_and(|t| t.contains(&target)),
        "REFER with Refer-To {target}: {result}"
    );
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
    assert_refer_logged(first, &target, "transferred", 200);
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

#[test]
fn a_transfer_whose_new_call_fails_goes_on_with_the_next_step() {
    let chorus = Chorus::start_generated(transfer_dialplan);
    let dir = common::scratch_dir("pjsua-xfer-fail");
    let heard = dir.join("heard.wav");
    let result = pjsua_follow_refer(chorus.sip_addr(), "xfer_fail", &heard, 15.0);
    assert_ne!(
        result["transfer"]["connected"], true,
        "the new call cannot connect: {result}"
    );

    // The greeting (prompts/hello.wav) follows the failed transfer on the first call.
    let prompt = Audio::read(&repo_root().join("prompts/hello.wav"));
    let audio = Audio::read(&heard);
    let speech = audio.loud_seconds(200.0);
    assert!(
        speech >= 2.0,
        "only {speech:.2} s of speech heard: {result}"
    );
    let similarity = envelope_similarity(&prompt, &audio, 3.0);
    assert!(
        similarity > 0.7,
        "what was heard does not follow the greeting (correlation {similarity:.2})"
    );

    let log = chorus.wait_call_log(2, Duration::from_secs(5));
    let first = log
        .iter()
        .find(|l| l["route"] == "xfer_fail")
        .unwrap_or_else(|| panic!("no xfer_fail line: {log:#?}"));
    assert_eq!(
        first["end_reason"], "server_bye",
        "not transferred: {first}"
    );
    let nobody = format!("sip:nobody@{}", chorus.sip_addr());
    assert_refer_logged(first, &nobody, "failed", 404);
    assert_eq!(first["status"], 200, "{first}");
    let attempt = log
        .iter()
        .find(|l| l["to"].as_str().is_some_and(|t| t.contains("nobody")))
        .unwrap_or_else(|| panic!("no line for the new call to nobody: {log:#?}"));
    assert_eq!(attempt["status"], 404, "{attempt}");
    std::fs::remove_dir_all(dir).unwrap();
}
