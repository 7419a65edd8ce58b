//! Transfer by REFER with Kamailio in front of Chorus (Record-Route, loose routing), dialplan
//! `tests/kamailio/transfer.yaml` with `{kamailio}` set to the proxy's address, PJSUA2 calling through the
//! proxy (`tests/pjsua/call.py --follow-transfer`):
//!
//! - `xfer`: Chorus answers and REFERs the caller to `sip:echo@<kamailio>`; the REFER reaches PJSUA through
//!   the proxy, PJSUA's new call goes through the proxy to the echo route and connects with media, its
//!   NOTIFY (`SIP/2.0 200 OK`) comes back through the proxy, and Chorus hangs up the first call:
//!   `end_reason` "transferred" for it, route `echo` for the new one.
//! - `xfer-fail`: the REFER names `sip:nobody@<kamailio>`, a user with no route, so PJSUA's new call gets 404
//!   and its NOTIFY says `SIP/2.0 404 Not Found`: the transfer failed (RFC 3515), so the first call is not
//!   "transferred" and the dialplan goes on: the caller hears the `hello` greeting, then Chorus hangs up.

mod common;
#[path = "common/kamailio.rs"]
mod kamailio;

use std::net::SocketAddr;
use std::time::Duration;

use common::audio::Audio;
use common::{assert_refer_logged, free_sip_port, pjsua_follow_refer, Chorus};
use kamailio::{Kamailio, Upstream};

/// RMS above which a 20 ms frame counts as speech (as in tests/dialplan_ivr.rs).
const SPEECH: f64 = 200.0;

/// Chorus running `tests/kamailio/transfer.yaml` with `{kamailio}` set to the proxy's address, and the
/// proxy in front of it. The proxy's port is chosen first, since Chorus's dialplan must name it.
fn start() -> (Chorus, Kamailio) {
    let port = free_sip_port();
    let proxy_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let path = common::repo_root().join("tests/kamailio/transfer.yaml");
    let template =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let chorus =
        Chorus::start_generated(|_| template.replace("{kamailio}", &proxy_addr.to_string()));
    let proxy = Kamailio::start_on(Upstream::One(chorus.sip_addr()), port);
    assert_eq!(proxy.sip_addr(), proxy_addr);
    (chorus, proxy)
}

/// The call-log line of `route` (a JSON null route for a call that matched none).
fn line_of<'a>(log: &'a [serde_json::Value], route: &serde_json::Value) -> &'a serde_json::Value {
    log.iter()
        .find(|l| &l["route"] == route)
        .unwrap_or_else(|| panic!("no call-log line with route {route}: {log:#?}"))
}

#[test]
fn refer_through_the_proxy_moves_the_caller_to_echo() {
    let (chorus, proxy) = start();
    let dir = common::scratch_dir("kamailio-xfer");
    let heard = dir.join("heard.wav");
    let result = pjsua_follow_refer(proxy.sip_addr(), "xfer", &heard, 8.0);
    let xfer = &result["transfer"];
    let target = format!("sip:echo@{}", proxy.sip_addr());
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
    assert_eq!(xfer["status"], 200, "{result}");
    assert_eq!(xfer["media_active"], true, "{result}");
    assert_eq!(
        xfer["remote_bye"], false,
        "the echo call stays up until PJSUA hangs up: {result}"
    );

    let log = chorus.wait_call_log(2, Duration::from_secs(5));
    assert_eq!(log.len(), 2, "{log:#?}");
    let first = line_of(&log, &"xfer".into());
    assert_eq!(first["status"], 200, "{first}");
    assert!(first["answered_at"].is_string(), "{first}");
    assert_eq!(first["end_reason"], "transferred", "{first}");
    assert_refer_logged(first, &target, "transferred", 200);
    let second = line_of(&log, &"echo".into());
    assert_eq!(second["status"], 200, "{second}");
    assert_eq!(second["end_reason"], "caller_bye", "{second}");
    // (PJSIP writes the To header of its calls without the port: `sip:echo@127.0.0.1`.)
    assert!(
        second["to"]
            .as_str()
            .is_some_and(|t| t.starts_with("sip:echo@127.0.0.1")),
        "the new call was addressed to the Refer-To target: {second}"
    );
    let packets = second["rtp"]["packets_received"].as_u64().unwrap_or(0);
    assert!(
        packets >= 50,
        "PJSUA's RTP reached the echo route in the transferred call: {second}"
    );
    let first_id = first["call_id"].as_str().unwrap().to_string();
    let second_id = second["call_id"].as_str().unwrap().to_string();
    assert_ne!(first_id, second_id, "{log:#?}");

    // Everything went through the proxy: both INVITEs, the REFER from Chorus and the BYE from Chorus on the
    // first call, PJSUA's NOTIFY on it, and PJSUA's BYE on the second.
    let lines = proxy.test_lines();
    let chorus_at = format!("from {}", chorus.sip_addr());
    let one = |needles: &[&str], what: &str| {
        assert_eq!(
            proxy.lines_with(needles).len(),
            1,
            "kamailio routed {what} once ({needles:?}): {lines:#?}"
        );
    };
    one(&["new INVITE xfer", &first_id], "the first INVITE");
    one(
        &["new INVITE echo", &second_id],
        "the transferred call's INVITE",
    );
    one(
        &["in-dialog REFER", &chorus_at, &first_id],
        "Chorus's REFER to PJSUA",
    );
    one(
        &["in-dialog BYE", &chorus_at, &first_id],
        "Chorus's BYE of the first call",
    );
    one(
        &["in-dialog BYE from", &second_id],
        "PJSUA's BYE of the transferred call",
    );
    assert!(
        proxy.lines_with(&["without a route"]).is_empty(),
        "{lines:#?}"
    );
    // RFC 3515: Chorus hung up only once PJSUA's NOTIFY reported the new call answered: in the proxy's
    // order, the new INVITE, then a NOTIFY from PJSUA on the first call, then Chorus's BYE.
    let at = |needles: &[&str]| {
        lines
            .iter()
            .position(|l| needles.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("no kamailio line with {needles:?}: {lines:#?}"))
    };
    let new_invite = at(&["new INVITE echo", &second_id]);
    let bye = at(&["in-dialog BYE", &chorus_at, &first_id]);
    let notifies: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("in-dialog NOTIFY from") && l.contains(&first_id))
        .map(|(i, _)| i)
        .collect();
    assert!(
        notifies.iter().all(|i| !lines[*i].contains(&chorus_at)),
        "NOTIFYs come from PJSUA: {lines:#?}"
    );
    assert!(
        new_invite < bye && notifies.iter().any(|n| (new_invite..bye).contains(n)),
        "Chorus sent BYE before PJSUA's NOTIFY about the new call: {lines:#?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn failed_transfer_through_the_proxy_goes_on_with_the_dialplan() {
    let (chorus, proxy) = start();
    let dir = common::scratch_dir("kamailio-xfer-fail");
    let heard = dir.join("heard.wav");
    let result = pjsua_follow_refer(proxy.sip_addr(), "xfer-fail", &heard, 12.0);
    let xfer = &result["transfer"];
    let target = format!("sip:nobody@{}", proxy.sip_addr());
    assert!(
        xfer["refer_to"]
            .as_str()
            .is_some_and(|t| t.contains(&target)),
        "PJSUA got the REFER with Refer-To {target}: {result}"
    );
    assert_eq!(xfer["connected"], false, "{result}");
    assert_eq!(xfer["status"], 404, "nobody has no route: {result}");

    let log = chorus.wait_call_log(2, Duration::from_secs(5));
    assert_eq!(log.len(), 2, "{log:#?}");
    let first = line_of(&log, &"xfer_fail".into());
    assert_eq!(first["status"], 200, "{first}");
    assert_ne!(
        first["end_reason"], "transferred",
        "the new call failed (NOTIFY with SIP/2.0 404), so the first call was not transferred: {first}"
    );
    assert_eq!(first["end_reason"], "server_bye", "{first}");
    // The caller accepted the REFER but its new call failed.
    assert_refer_logged(first, &target, "failed", 404);
    let nobody = line_of(&log, &serde_json::Value::Null);
    assert_eq!(nobody["status"], 404, "{nobody}");
    assert_eq!(nobody["end_reason"], "rejected", "{nobody}");
    assert!(
        nobody["to"]
            .as_str()
            .is_some_and(|t| t.starts_with("sip:nobody@127.0.0.1")),
        "{nobody}"
    );
    let first_id = first["call_id"].as_str().unwrap().to_string();
    let nobody_id = nobody["call_id"].as_str().unwrap().to_string();

    // The REFER, the 404'd INVITE and the NOTIFY all went through the proxy.
    let lines = proxy.test_lines();
    let chorus_at = format!("from {}", chorus.sip_addr());
    assert_eq!(
        proxy
            .lines_with(&["in-dialog REFER", &chorus_at, &first_id])
            .len(),
        1,
        "{lines:#?}"
    );
    assert_eq!(
        proxy.lines_with(&["new INVITE nobody", &nobody_id]).len(),
        1,
        "{lines:#?}"
    );
    assert!(
        !proxy
            .lines_with(&["in-dialog NOTIFY from", &first_id])
            .is_empty(),
        "PJSUA's NOTIFY went through the proxy: {lines:#?}"
    );
    assert_eq!(
        proxy
            .lines_with(&["in-dialog BYE", &chorus_at, &first_id])
            .len(),
        1,
        "Chorus's BYE after the greeting: {lines:#?}"
    );

    // After the transfer attempt the caller heard the greeting (3.6 s of speech), not silence.
    let refer_at = xfer["refer_at"]
        .as_f64()
        .unwrap_or_else(|| panic!("no refer_at: {result}"));
    let audio = Audio::read(&heard);
    assert!(
        audio.seconds() >= refer_at + 3.0,
        "the recording ({} s) runs on past the REFER at {refer_at} s: {result}",
        audio.seconds()
    );
    let before = common::audio::rms(audio.slice(0.0, (refer_at - 0.1).max(0.0)));
    assert!(
        before < SPEECH,
        "only the pause (silence) came before the REFER: rms {before:.0}"
    );
    let after = Audio {
        rate: audio.rate,
        samples: audio.slice(refer_at, audio.seconds()).to_vec(),
    };
    let prompt = Audio::read(&common::repo_root().join("prompts/hello.wav"));
    let (heard_speech, prompt_speech) = (after.loud_seconds(SPEECH), prompt.loud_seconds(SPEECH));
    eprintln!(
        "REFER at {refer_at} s; rms before it {before:.0}; speech after it {heard_speech:.2} s \
         (the prompt has {prompt_speech:.2} s)"
    );
    assert!(
        heard_speech >= 0.8 * prompt_speech,
        "the greeting after the failed transfer: {heard_speech:.2} s of speech heard after the REFER, \
         the prompt has {prompt_speech:.2} s; {result}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
