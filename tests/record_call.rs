//! `record_call`: the whole call recorded in the background, both directions mixed (as Asterisk's
//! MixMonitor and FreeSWITCH's record_session). PJSUA2 calls the `record-call` route sending a steady
//! 700 Hz tone; the route records, waits a second, plays the hello prompt, waits a second and hangs up.
//! The recording must hold both sides where they were: the caller's tone throughout (at its level), and
//! our speech only between the two silent seconds; the call log lists it and `into` names it; the
//! sidecar has the call's fields. The `record-call-mask` route masks the recording for two seconds
//! (silence in the file, time kept) and stops it a second before the call ends. `record-call-stereo`
//! keeps the sides apart: the caller's tone alone on the left, our prompt alone on the right.
//! `record-call-keys` sends a key in-band: its tone pair is in the recording, as the caller heard it.

mod common;

use std::time::Duration;

use common::audio::{rms, tone_share, write_tone, Audio};
use common::recording::Recording;
use common::{pjsua_call, pjsua_call_args, repo_root, Chorus, PjCall};

const TONE_HZ: f64 = 700.0;
/// The caller's tone: amplitude 4000, RMS about 2830.
const TONE_AMPLITUDE: f64 = 4000.0;

/// RMS of what is not the tone in `s`: the other side's audio (speech), or silence.
fn residual(s: &[i16], rate: u32) -> f64 {
    let level = rms(s);
    level * (1.0 - tone_share(s, rate, TONE_HZ)).max(0.0).sqrt()
}

/// A PJSUA2 call (PCMU) to `user` sending the tone for 10 s and waiting up to 12 s for Chorus's BYE:
/// its scratch directory and call.py's result.
fn call_with_tone(chorus: &Chorus, user: &str) -> (std::path::PathBuf, serde_json::Value) {
    let dir = common::scratch_dir(user);
    let tone = dir.join("tone.wav");
    write_tone(&tone, 8000, TONE_HZ, 10.0, TONE_AMPLITUDE);
    let heard = dir.join("heard.wav");
    let result = pjsua_call(
        chorus.sip_addr(),
        &PjCall {
            user,
            play: Some(&tone),
            record: &heard,
            seconds: 12.0,
            wait_bye: true,
            codec: Some("PCMU"),
        },
    );
    (dir, result)
}

#[test]
fn the_whole_call_is_recorded_both_ways() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let (dir, result) = call_with_tone(&chorus, "record-call");
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(result["remote_bye"], true, "{result}");

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let call = &log[0];
    assert_eq!(call["route"], "record-call", "{call}");
    let rec = Recording::only_of(&chorus.recordings_dir(), call);
    let rel = call["recordings"][0].as_str().unwrap_or_default();
    assert_eq!(rel, "whole-record-call.wav", "{call}");
    assert!(
        call["vars"]["whole"]
            .as_str()
            .is_some_and(|v| v.ends_with(rel)),
        "into names the file: {call}"
    );
    assert_eq!(rec.sidecar["call_id"], call["call_id"], "{}", rec.sidecar);
    assert_eq!(rec.sidecar["sample_rate"], 8000, "{}", rec.sidecar);

    let prompt = Audio::read(&repo_root().join("prompts/hello.wav"));
    let audio = &rec.audio;
    let rate = audio.rate;
    let secs = audio.seconds();
    let expect = 2.0 + prompt.seconds();
    eprintln!(
        "recording {secs:.2} s (route: 1 s + hello {:.2} s + 1 s); sidecar {}",
        prompt.seconds(),
        rec.sidecar
    );
    assert!(
        (secs - expect).abs() < 0.5,
        "recording is {secs:.2} s, the call's media lasted about {expect:.2} s"
    );
    // Per 100 ms window: the caller's tone level and what else is there.
    let windows: Vec<(f64, f64, f64)> = audio
        .samples
        .chunks(rate as usize / 10)
        .enumerate()
        .map(|(i, w)| {
            (
                i as f64 / 10.0,
                rms(w) * tone_share(w, rate, TONE_HZ).sqrt(),
                residual(w, rate),
            )
        })
        .collect();
    let table: Vec<String> = windows
        .iter()
        .map(|(t, tone, rest)| format!("{t:.1}:{tone:.0}/{rest:.0}"))
        .collect();
    // The caller's side: the tone all along (after the first 300 ms: latching, jitter buffer), at about
    // its level (G.711 twice: within 2 dB).
    let body: Vec<_> = windows
        .iter()
        .filter(|(t, _, _)| *t >= 0.3 && *t <= secs - 0.4)
        .collect();
    let toned = body
        .iter()
        .filter(|(_, tone, _)| (2250.0..3560.0).contains(tone))
        .count();
    assert!(
        toned * 100 >= body.len() * 90,
        "the caller's 700 Hz tone should be in {}% of the recording, found {toned} of {} windows \
         (time:tone/other RMS): {table:?}",
        90,
        body.len()
    );
    // Our side: speech between 1 s and 1 s + hello, nothing but the tone in the silent seconds.
    let quiet = |from: f64, to: f64| -> f64 {
        let w: Vec<f64> = windows
            .iter()
            .filter(|(t, _, _)| *t >= from && *t < to)
            .map(|(_, _, r)| *r)
            .collect();
        w.iter().sum::<f64>() / w.len().max(1) as f64
    };
    let before = quiet(0.3, 0.9);
    let during = quiet(1.2, 1.0 + prompt.seconds() - 0.2);
    let after = quiet(1.3 + prompt.seconds(), secs - 0.3);
    eprintln!("other than the tone, mean RMS: before {before:.0}, during hello {during:.0}, after {after:.0}");
    assert!(
        before < 200.0 && after < 200.0,
        "nothing but the caller in the silent seconds: {table:?}"
    );
    assert!(
        during > 3.0 * before.max(50.0),
        "our hello prompt is in the recording: {table:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_masked_stretch_is_silent_and_stop_ends_the_file() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let (dir, result) = call_with_tone(&chorus, "record-call-mask");
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");
    let duration = result["duration"].as_f64().unwrap_or(0.0);
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let call = &log[0];
    let rec = Recording::only_of(&chorus.recordings_dir(), call);
    let audio = &rec.audio;
    let secs = audio.seconds();
    eprintln!("recording {secs:.2} s of a {duration:.2} s call");
    assert!(
        (secs - 4.0).abs() < 0.3,
        "stopped after 1 s + 2 s masked + 1 s: {secs:.2} s"
    );
    assert!(
        duration > secs + 0.6,
        "the call went on after the stop: {duration:.2} s"
    );
    let level = |from: f64, to: f64| rms(audio.slice(from, to));
    let (first, masked, last) = (level(0.3, 0.9), level(1.1, 2.9), level(3.2, 3.9));
    eprintln!("RMS: before the mask {first:.0}, masked {masked:.0}, after {last:.0}");
    assert!(
        first > 2000.0 && last > 2000.0,
        "the caller's tone before and after the mask: {first:.0}, {last:.0}"
    );
    assert_eq!(masked, 0.0, "silence while masked");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn stereo_puts_the_caller_left_and_chorus_right() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let (dir, result) = call_with_tone(&chorus, "record-call-stereo");
    assert_eq!(result["connected"], true, "{result}");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let rec = Recording::only_of(&chorus.recordings_dir(), &log[0]);
    assert_eq!(rec.sidecar["channels"], 2, "{}", rec.sidecar);
    let (left, channels) = Audio::read_channel(&rec.path, 0);
    let (right, _) = Audio::read_channel(&rec.path, 1);
    assert_eq!(channels, 2);
    let prompt = Audio::read(&repo_root().join("prompts/hello.wav"));
    let secs = left.seconds();
    let hello = (1.2, 1.0 + prompt.seconds() - 0.2);
    let l_share = tone_share(left.slice(0.3, secs - 0.4), left.rate, TONE_HZ);
    let l_level = rms(left.slice(0.3, secs - 0.4));
    let r_hello = rms(right.slice(hello.0, hello.1));
    let r_share = tone_share(right.slice(hello.0, hello.1), right.rate, TONE_HZ);
    let r_quiet = rms(right.slice(0.2, 0.9)).max(rms(right.slice(hello.1 + 0.5, secs - 0.2)));
    eprintln!(
        "{secs:.2} s; left: tone share {l_share:.3}, RMS {l_level:.0}; right: hello RMS {r_hello:.0}, \
         700 Hz share {r_share:.3}, quiet RMS {r_quiet:.0}"
    );
    assert!(
        l_share > 0.95 && (2250.0..3560.0).contains(&l_level),
        "the left channel is the caller's tone alone: share {l_share:.3}, RMS {l_level:.0}"
    );
    assert!(
        r_hello > 500.0 && r_share < 0.05,
        "the right channel holds our prompt, not the caller: RMS {r_hello:.0}, 700 Hz share {r_share:.3}"
    );
    assert!(
        r_quiet < 50.0,
        "the right channel is silent while we are: {r_quiet:.0}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn keys_sent_in_band_are_in_the_recording() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let dir = common::scratch_dir("record-call-keys");
    let heard = dir.join("heard.wav");
    let result = pjsua_call_args(
        chorus.sip_addr(),
        &PjCall {
            user: "record-call-keys",
            play: None,
            record: &heard,
            seconds: 10.0,
            wait_bye: true,
            codec: Some("PCMU"),
        },
        &["--no-telephone-event"],
    );
    assert_eq!(result["connected"], true, "{result}");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log[0]["dtmf_sent"], "1", "{}", log[0]);
    let rec = Recording::only_of(&chorus.recordings_dir(), &log[0]);
    let audio = &rec.audio;
    // Key 1 is 697 Hz + 1209 Hz, from 1 s for 200 ms.
    let key = audio.slice(1.03, 1.17);
    let pair = tone_share(key, audio.rate, 697.0) + tone_share(key, audio.rate, 1209.0);
    let before = rms(audio.slice(0.2, 0.9));
    eprintln!(
        "key window: RMS {:.0}, 697+1209 Hz share {pair:.3}; before: RMS {before:.0}",
        rms(key)
    );
    assert!(
        rms(key) > 1000.0 && pair > 0.8,
        "the key's tones are in the recording: RMS {:.0}, share {pair:.3}",
        rms(key)
    );
    assert!(before < 50.0, "silence before the key: {before:.0}");
    std::fs::remove_dir_all(dir).unwrap();
}
