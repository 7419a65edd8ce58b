//! Keys Chorus sends (`send_dtmf`), received by a real user agent. PJSUA2 calls a route that answers,
//! waits a second and sends keys (`tests/dialplans/send_dtmf.yaml`):
//! - offering telephone-event, PJSUA reports each key once (`Call::onDtmfDigit`) and its RFC 4733 end
//!   once with the right duration (`Call::onDtmfEvent`), keys the duration + gap apart, and the audio
//!   it records holds no tones (events replace the audio);
//! - offering no telephone-event (its SDP offer edited in `Call::onCallSdpCreated`), PJSUA reports no
//!   events, and its recording holds the keys as tone pairs: the right row and column frequencies,
//!   about -7 dBm0 each, for the duration, with silence for the gap; in G.711 and in G.722 at 16 kHz;
//! - `w` and `W` in the keys hold the next key back half a second and a second.

mod common;

use std::path::Path;
use std::time::Duration;

use common::audio::{goertzel, rms, Audio};
use common::pcap::dtmf_freqs;
use common::{pjsua_call_args, Chorus, PjCall};
use serde_json::Value;

const DIALPLAN: &str = "tests/dialplans/send_dtmf.yaml";
const ALL: [f64; 8] = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0];

/// One PJSUA call to `user`, 3 s after media is up, reporting the keys it gets; returns its result and
/// what it recorded.
fn call(user: &str, codec: &str, extra: &[&str]) -> (Value, Audio, Value) {
    call_for(user, codec, extra, 3.0)
}

/// [`call`], `seconds` after media is up.
fn call_for(user: &str, codec: &str, extra: &[&str], seconds: f64) -> (Value, Audio, Value) {
    let chorus = Chorus::start(DIALPLAN);
    let dir = common::scratch_dir("dtmf-send");
    let heard = dir.join("heard.wav");
    let mut args = vec!["--report-dtmf"];
    args.extend_from_slice(extra);
    let result = pjsua_call_args(
        chorus.sip_addr(),
        &PjCall {
            user,
            play: None,
            record: &heard,
            seconds,
            wait_bye: false,
            codec: Some(codec),
        },
        &args,
    );
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(result["codec"], codec, "{result}");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let line = log[0].clone();
    assert_eq!(line["end_reason"], "caller_bye", "{line}");
    assert_eq!(
        line["dtmf"], "",
        "Chorus sent keys, it received none: {line}"
    );
    let audio = Audio::read(Path::new(&heard));
    std::fs::remove_dir_all(dir).unwrap();
    (result, audio, line)
}

/// The events PJSUA reported, as (digit, seconds after media, duration in ms), of starts or ends.
fn events(result: &Value, end: bool) -> Vec<(String, f64, u64)> {
    result["dtmf_events"]
        .as_array()
        .unwrap_or_else(|| panic!("no dtmf_events: {result}"))
        .iter()
        .filter(|e| {
            if end {
                e["end"] == true
            } else {
                e["end"] == false && e["update"] == false
            }
        })
        .map(|e| {
            (
                e["digit"].as_str().unwrap_or_default().to_string(),
                e["at"].as_f64().unwrap_or(-1.0),
                e["duration_ms"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Checks the RFC 4733 keys PJSUA reported: `keys` once each, `on_ms` long, `on_ms + off_ms` apart,
/// the first about a second after media was up; and no tones in the audio.
fn check_events(result: &Value, audio: &Audio, keys: &str, on_ms: u64, off_ms: u64) {
    assert_eq!(
        result["dtmf_received"], keys,
        "onDtmfDigit: each key once: {result}"
    );
    let ends = events(result, true);
    let starts = events(result, false);
    let digits = |v: &[(String, f64, u64)]| v.iter().map(|e| e.0.as_str()).collect::<String>();
    assert_eq!(digits(&ends), keys, "one end per key: {result}");
    assert_eq!(digits(&starts), keys, "one start per key: {result}");
    for (d, _, ms) in &ends {
        assert_eq!(*ms, on_ms, "key {d}: the end's duration: {result}");
    }
    assert!(
        (0.9..1.5).contains(&starts[0].1),
        "first key a second after the answer: {result}"
    );
    let period = (on_ms + off_ms) as f64 / 1000.0;
    for w in starts.windows(2) {
        let apart = w[1].1 - w[0].1;
        assert!(
            (apart - period).abs() < 0.05,
            "keys {} and {} {apart:.3} s apart, not {period}: {result}",
            w[0].0,
            w[1].0
        );
    }
    assert_eq!(
        audio.loud_seconds(500.0),
        0.0,
        "events replace the audio: nothing audible in the recording"
    );
}

/// How far a tone's length or spacing in PJSUA's recording may be off: one 20 ms frame and the 5 ms
/// analysis block.
const TOLERANCE: f64 = 0.025;

/// Runs of 5 ms blocks above `threshold` RMS, as (start, end) in seconds.
fn loud_runs(audio: &Audio, threshold: f64) -> Vec<(f64, f64)> {
    let n = (audio.rate / 200) as usize;
    let mut runs = Vec::new();
    let mut start = None;
    for (i, block) in audio.samples.chunks(n).enumerate() {
        let t = i as f64 * 0.005;
        match (rms(block) > threshold, start) {
            (true, None) => start = Some(t),
            (false, Some(s)) => {
                runs.push((s, t));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, audio.seconds()));
    }
    runs
}

/// dBm0 of the sine at `f` in `samples` (0 dBm0: a peak 3.17 dB below full scale).
fn level_dbm0(samples: &[i16], rate: u32, f: f64) -> f64 {
    let amplitude = 2.0 * goertzel(samples, rate, f).sqrt();
    20.0 * (amplitude / 32768.0).log10() + 3.17
}

/// Checks the recording holds `keys` as tone pairs, `on_ms` each and `on_ms + off_ms` apart, and that
/// PJSUA got no RFC 4733 events.
fn check_tones(result: &Value, audio: &Audio, keys: &str, on_ms: u64, off_ms: u64) {
    assert_eq!(result["offered_telephone_event"], false, "{result}");
    assert_eq!(
        result["dtmf_received"], "",
        "no events without telephone-event: {result}"
    );
    assert_eq!(result["dtmf_events"], serde_json::json!([]), "{result}");
    let runs = loud_runs(audio, 2000.0);
    assert_eq!(
        runs.len(),
        keys.len(),
        "one burst of tone per key in the recording: {runs:?}"
    );
    assert!(
        (0.9..1.5).contains(&runs[0].0),
        "first key a second after the answer: {runs:?}"
    );
    let (on, period) = (on_ms as f64 / 1000.0, (on_ms + off_ms) as f64 / 1000.0);
    for (key, (start, end)) in keys.chars().zip(&runs) {
        let len = end - start;
        // Within one 20 ms frame (and the 5 ms analysis block): on a loaded machine PJSUA's jitter
        // buffer may conceal a late packet by repeating the last frame, or shift its timeline by one.
        assert!(
            (len - on).abs() <= TOLERANCE,
            "key {key}: {:.0} ms of tone, want {on_ms}: {runs:?}",
            len * 1000.0
        );
        // The middle of the tone, clear of the codec's edges.
        let body = audio.slice(start + 0.01, end - 0.01);
        let (lo, hi) = dtmf_freqs(key);
        for f in [lo, hi] {
            let level = level_dbm0(body, audio.rate, f);
            assert!(
                (-8.5..=-5.5).contains(&level),
                "key {key}: {f} Hz at {level:.1} dBm0, want about -7"
            );
        }
        let p = |f: f64| goertzel(body, audio.rate, f);
        let other = ALL
            .iter()
            .filter(|f| **f != lo && **f != hi)
            .map(|f| p(*f))
            .fold(0.0, f64::max);
        assert!(
            p(lo).min(p(hi)) > 100.0 * other,
            "key {key}: {lo} + {hi} Hz, the other DTMF frequencies far below"
        );
        // The gap is silence.
        let gap = audio.slice(end + 0.01, end + off_ms as f64 / 1000.0 - 0.01);
        assert!(rms(gap) < 100.0, "key {key}: silence after the tone");
    }
    for w in runs.windows(2) {
        let apart = w[1].0 - w[0].0;
        assert!(
            (apart - period).abs() <= TOLERANCE,
            "tones {apart:.3} s apart, want {period}: {runs:?}"
        );
    }
}

#[test]
fn keys_reach_pjsua_as_rfc4733_events() {
    let (result, audio, line) = call("send-keys", "PCMU", &[]);
    check_events(&result, &audio, "1234#", 100, 100);
    assert_eq!(line["rtp"]["codec"], "PCMU", "{line}");
    assert_eq!(
        line["dtmf_sent"], "1234#",
        "sent keys in the call log: {line}"
    );
    assert_eq!(line["dtmf"], "", "none received: {line}");
}

#[test]
fn keys_from_a_variable_reach_pjsua_as_rfc4733_events_in_g722() {
    let (result, audio, line) = call("send-pin-42", "G722", &["--clock-rate", "16000"]);
    check_events(&result, &audio, "42#", 60, 140);
    assert_eq!(line["dtmf_sent"], "42#", "{line}");
}

#[test]
fn keys_reach_pjsua_as_tones_without_telephone_event() {
    let (result, audio, line) = call("send-keys", "PCMU", &["--no-telephone-event"]);
    assert_eq!(audio.rate, 8000);
    check_tones(&result, &audio, "1234#", 100, 100);
    assert_eq!(line["rtp"]["codec"], "PCMU", "{line}");
}

#[test]
fn keys_reach_pjsua_as_tones_in_g722_at_16k() {
    let (result, audio, _) = call(
        "send-pin-42",
        "G722",
        &["--no-telephone-event", "--clock-rate", "16000"],
    );
    assert_eq!(audio.rate, 16000);
    check_tones(&result, &audio, "42#", 60, 140);
}

#[test]
fn w_and_big_w_pause_between_keys() {
    let (result, _, line) = call_for("send-pauses", "PCMU", &[], 4.5);
    assert_eq!(result["dtmf_received"], "123", "{result}");
    assert_eq!(line["dtmf_sent"], "123", "pauses are not keys: {line}");
    let starts = events(&result, false);
    assert_eq!(starts.len(), 3, "{result}");
    // Each key takes 100 ms + 100 ms; w adds 0.5 s before 2, W adds 1 s before 3.
    for (w, want) in starts.windows(2).zip([0.7, 1.2]) {
        let apart = w[1].1 - w[0].1;
        assert!(
            (apart - want).abs() < 0.05,
            "keys {} and {} {apart:.3} s apart, not {want}: {result}",
            w[0].0,
            w[1].0
        );
    }
}
