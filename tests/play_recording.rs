//! `play: {recording: ...}` with a real user agent: PJSUA2 calls `review` (tests/dialplans/test.yaml)
//! playing a 1 kHz tone for 2 s then silence. Chorus records 2 s of it (`record ... into: message`), plays
//! `{message}` back, then asks for a recording that does not exist (logged, skipped) and hangs up. The
//! caller hears its own tone again, about 2 s long, after the recording ended.

mod common;

use std::time::Duration;

use common::audio::{tone_dominance, write_tone, Audio};
use common::{pjsua_call_args, Chorus, PjCall};

const TONE_HZ: f64 = 1000.0;

#[test]
fn a_recording_is_played_back_to_the_caller() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let dir = common::scratch_dir("play-recording");
    let tone = dir.join("tone.wav");
    let heard = dir.join("heard.wav");
    write_tone(&tone, 8000, TONE_HZ, 2.0, 8000.0);
    let result = pjsua_call_args(
        chorus.sip_addr(),
        &PjCall {
            user: "review",
            play: Some(&tone),
            record: &heard,
            seconds: 10.0,
            wait_bye: true,
            codec: Some("PCMU"),
        },
        &["--from-uri", "<sip:2001@127.0.0.1>"],
    );
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(result["remote_bye"], true, "{result}");

    let audio = Audio::read(&heard);
    // 100 ms windows where the tone is loud and dominant.
    let toned: Vec<f64> = audio
        .samples
        .chunks(800)
        .enumerate()
        .filter(|(_, w)| common::audio::rms(w) > 2000.0 && tone_dominance(w, 8000, TONE_HZ) > 100.0)
        .map(|(i, _)| i as f64 * 0.1)
        .collect();
    let first = toned.first().copied().unwrap_or(f64::NAN);
    let last = toned.last().copied().unwrap_or(f64::NAN);
    eprintln!(
        "heard {:.2} s; the tone in {} windows of 100 ms, from {first:.1} s to {last:.1} s",
        audio.seconds(),
        toned.len()
    );
    assert!(
        (1.9..=2.6).contains(&first),
        "the playback starts when the 2 s recording ends: {first:.1} s"
    );
    assert!(
        (15..=21).contains(&toned.len()),
        "about 2 s of the tone played back: {} windows",
        toned.len()
    );

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let line = &log[0];
    let message = line["vars"]["message"].as_str().unwrap_or_default();
    assert!(message.ends_with("review-2001.wav"), "{line}");
    assert_eq!(line["end_reason"], "server_bye", "{line}");
    std::fs::remove_dir_all(dir).unwrap();
}
