//! RFC 4028 session timers against SIPp (route `echo` of `tests/dialplans/test.yaml`):
//!
//! - an INVITE asking for `Session-Expires: 60` (below Chorus's minimum) gets `422` with `Min-SE: 90`;
//! - with `Session-Expires: 90;refresher=uac` the 200 carries `Session-Expires: 90;refresher=uac` and
//!   `Require: timer`, and the caller's refreshes (UPDATE without SDP, then re-INVITE) each get a 200 with
//!   `Session-Expires` again;
//! - a caller that never refreshes gets BYE at 90 - min(32, 90/3) = 60 s and the call log says
//!   session_expired; with `refresher=uas` Chorus sends UPDATE half-way (45 s), and a caller whose Allow
//!   has no UPDATE gets a re-INVITE there instead (our SDP again; its 200 ACKed); a five-minute call kept
//!   up by refreshes; our refresh answered 481 ends the call with BYE at once. These take one to five
//!   minutes each and run in parallel in this one test binary.
//!
//! These SIPp callers send no RTP (they test signalling only), so the RTP timeout is off here.

mod common;

use std::time::{Duration, Instant};

use common::{sipp, Chorus, Transport};

const DIALPLAN: &str = "tests/dialplans/test.yaml";

/// Chorus on the test dialplan without the RTP timeout.
fn chorus() -> Chorus {
    Chorus::start_with_config(DIALPLAN, Some("rtp_timeout: 0\n"))
}

#[test]
fn too_short_session_expires_gets_422_with_min_se() {
    let chorus = chorus();
    let run = sipp(
        "uac_session_422.xml",
        chorus.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(15),
    );
    run.assert_success("422 with Min-SE: 90 for Session-Expires: 60");
    // Rejected before a call exists: no dialplan ran.
    std::thread::sleep(Duration::from_millis(300));
    for line in chorus.call_log() {
        assert_ne!(line["status"], 200, "{line}");
        assert!(line["answered_at"].is_null(), "{line}");
    }
}

#[test]
fn caller_refreshes_by_update_and_reinvite() {
    let chorus = chorus();
    let run = sipp(
        "uac_session_refresh.xml",
        chorus.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(20),
    );
    run.assert_success("Session-Expires in the 200s to INVITE, UPDATE and re-INVITE");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["end_reason"], "caller_bye", "{}", log[0]);
    assert_eq!(log[0]["status"], 200, "{}", log[0]);
}

#[test]
fn caller_refreshes_over_tcp() {
    let chorus = chorus();
    let run = sipp(
        "uac_session_refresh.xml",
        chorus.sip_addr(),
        "echo",
        Transport::Tcp,
        1,
        &[],
        Duration::from_secs(20),
    );
    run.assert_success("session refresh over TCP");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log[0]["end_reason"], "caller_bye", "{}", log[0]);
}

#[test]
fn no_refresh_from_the_caller_ends_the_call() {
    let chorus = chorus();
    let started = Instant::now();
    let run = sipp(
        "uac_session_expire.xml",
        chorus.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(85),
    );
    let took = started.elapsed();
    run.assert_success("BYE when the refresh never comes");
    assert!(
        took >= Duration::from_secs(58) && took <= Duration::from_secs(66),
        "BYE expected 60 s after the 200 (90 - min(32, 30)), SIPp ran {took:?}"
    );
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["end_reason"], "session_expired", "{}", log[0]);
    assert_eq!(log[0]["status"], 200, "{}", log[0]);
}

/// Runs `scenario`, in which Chorus is the refresher and the scenario ends right after the refresh
/// half-way through the 90 s interval, and checks it passed, took about 45 s, and how the call ended.
fn chorus_refresh_at_45s(scenario: &str, what: &str, end_reason: &str) {
    let chorus = chorus();
    let started = Instant::now();
    let run = sipp(
        scenario,
        chorus.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(75),
    );
    let took = started.elapsed();
    run.assert_success(what);
    assert!(
        took >= Duration::from_secs(44) && took <= Duration::from_secs(50),
        "{what}: expected about 45 s after the 200, SIPp ran {took:?}"
    );
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log[0]["end_reason"], end_reason, "{}", log[0]);
}

#[test]
fn chorus_refreshes_with_update_when_refresher_is_uas() {
    chorus_refresh_at_45s(
        "uac_session_uas_refresh.xml",
        "UPDATE from Chorus half-way through the session interval",
        "caller_bye",
    );
}

/// A caller that takes no UPDATE is refreshed by re-INVITE (our SDP again), whose 200 we ACK.
#[test]
fn chorus_refreshes_with_reinvite_when_the_caller_takes_no_update() {
    chorus_refresh_at_45s(
        "uac_session_reinvite_refresh.xml",
        "re-INVITE from Chorus half-way through the session interval, then its ACK",
        "caller_bye",
    );
}

/// RFC 4028 §10: our own refresh answered 481 ends the session with BYE at once.
#[test]
fn chorus_ends_the_call_when_its_refresh_gets_481() {
    chorus_refresh_at_45s(
        "uac_session_uas_481.xml",
        "UPDATE at 45 s answered 481, then BYE from Chorus",
        "session_expired",
    );
}

/// Issue 6: a five-minute call end to end, kept up by the caller's UPDATE refreshes every 43 s under a
/// 90 s session interval (Chorus would send BYE 60 s after a missed refresh). The longest test of the
/// suite, by design.
#[test]
fn five_minute_call_survives_on_refreshes() {
    let chorus = chorus();
    let run = sipp(
        "uac_session_5min.xml",
        chorus.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(340),
    );
    run.assert_success("seven refreshes over 301 s, each answered with Session-Expires");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["end_reason"], "caller_bye", "{}", log[0]);
    let at = |k: &str| common::recording::rfc3339_seconds(log[0][k].as_str().unwrap_or(""));
    let secs = at("ended_at").unwrap_or(0.0) - at("answered_at").unwrap_or(f64::MAX);
    assert!(secs >= 300.0, "the call lasted {secs} s: {}", log[0]);
}
