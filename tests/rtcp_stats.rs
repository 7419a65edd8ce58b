//! RTP statistics in the call log: a 6 s PJSUA2 echo call over loopback (PJSUA sends RTP every 20 ms
//! and RTCP reports every ~5 s) ends with `rtp` counters that match what was sent: at least 250 packets
//! each way, nothing lost, jitter well under a frame.

mod common;

use std::time::Duration;

use common::audio::write_tone;
use common::{pjsua_call, Chorus, PjCall};

#[test]
fn call_log_counts_packets_loss_and_jitter() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let dir = common::scratch_dir("rtcp-stats");
    let tone = dir.join("tone.wav");
    let heard = dir.join("heard.wav");
    write_tone(&tone, 8000, 1000.0, 7.0, 8000.0);
    let result = pjsua_call(
        chorus.sip_addr(),
        &PjCall {
            user: "echo",
            play: Some(&tone),
            record: &heard,
            seconds: 6.0,
            wait_bye: false,
            codec: Some("PCMU"),
        },
    );
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let call = &log[0];
    let rtp = &call["rtp"];
    assert!(
        rtp.is_object(),
        "the call log line has an rtp object: {call}"
    );
    eprintln!("rtp stats: {rtp}");
    assert_eq!(rtp["codec"], "PCMU", "{call}");
    let received = rtp["packets_received"].as_u64();
    assert!(
        received.is_some_and(|n| n >= 250),
        "6 s of 20 ms packets is 300: packets_received {received:?}: {call}"
    );
    let sent = rtp["packets_sent"].as_u64();
    assert!(
        sent.is_some_and(|n| n >= 250),
        "the echo sends what it gets: packets_sent {sent:?}: {call}"
    );
    for key in ["bytes_sent", "bytes_received"] {
        assert!(
            rtp[key].as_u64().is_some_and(|n| n >= 250 * 160),
            "{key} at least 250 PCMU payloads: {call}"
        );
    }
    assert_eq!(
        rtp["packets_lost"].as_i64(),
        Some(0),
        "nothing is lost on loopback: {call}"
    );
    let jitter = rtp["jitter_ms"].as_f64();
    assert!(
        jitter.is_some_and(|j| (0.0..20.0).contains(&j)),
        "interarrival jitter on loopback: {jitter:?} ms: {call}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
