//! The demo's `record` route with a real user agent (PJSUA2): Chorus answers, beeps, and records the caller
//! until `#`. The caller sends a steady tone from the moment media is up and dials `#` by RFC 2833 at 3.4 s,
//! so about 3 s of tone fall between the end of the 0.4 s beep and the `#`. Then:
//! - the call log line lists one recording, relative to the recordings directory, and Chorus hung up;
//! - the WAV is 16-bit mono at the call's rate (8 kHz, PCMU), about 3 s long, and holds the caller's tone;
//! - the sidecar `<same>.json` has the call's call_id, from, to, a started_at within the call, the WAV's
//!   duration and rate;
//! - the caller heard the beep (prompts/beep.wav, 1 kHz) at the start, then silence.
//!
//! The caller's tone is 700 Hz, not 1 kHz like the beep, so the recording cannot pass by holding the beep.

mod common;

use std::time::Duration;

use common::audio::{rms, tone_share, write_tone, Audio};
use common::recording::Recording;
use common::{pjsua_call_args, repo_root, Chorus, PjCall};

const TONE_HZ: f64 = 700.0;
const HASH_AT: f64 = 3.4;

#[test]
fn record_route_keeps_the_callers_tone_until_hash() {
    let chorus = Chorus::start("dialplans/demo.yaml");
    let dir = common::scratch_dir("dialplan-record");
    let tone = dir.join("tone.wav");
    write_tone(&tone, 8000, TONE_HZ, 6.0, 8000.0);
    let heard = dir.join("heard.wav");
    let result = pjsua_call_args(
        chorus.sip_addr(),
        &PjCall {
            user: "record",
            play: Some(&tone),
            record: &heard,
            seconds: 10.0,
            wait_bye: true,
            codec: Some("PCMU"),
        },
        &["--dtmf", "#", "--dtmf-at", &HASH_AT.to_string()],
    );
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(result["dtmf_sent"], "#", "{result}");
    assert_eq!(
        result["remote_bye"], true,
        "Chorus should hang up after '#': {result}"
    );

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let call = &log[0];
    assert_eq!(call["route"], "record", "{call}");
    assert_eq!(call["end_reason"], "server_bye", "{call}");
    assert_eq!(call["dtmf"], "#", "{call}");

    let rec = Recording::only_of(&chorus.recordings_dir(), call);
    let rel = call["recordings"][0].as_str().unwrap();
    let var = call["vars"]["recording"].as_str().unwrap_or("");
    assert!(
        var.ends_with(rel),
        "vars.recording should name the recording {rel}: {call}"
    );
    let spec = hound::WavReader::open(&rec.path).unwrap().spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 8000, 16),
        "recording format of {}",
        rec.path.display()
    );

    let secs = rec.audio.seconds();
    eprintln!(
        "recording {rel}: {secs:.2} s (# sent at {HASH_AT} s after media, beep 0.4 s); sidecar {}",
        rec.sidecar
    );
    assert!(
        (secs - (HASH_AT - 0.4)).abs() <= 0.6,
        "recording is {secs:.2} s, expected about {:.1} s (from the end of the beep to '#')",
        HASH_AT - 0.4
    );
    // The tone throughout, apart from the edges (start of the stream, the '#' replacing audio at the end).
    let body = rec.audio.slice(0.3, secs - 0.4);
    let share = tone_share(body, 8000, TONE_HZ);
    assert!(
        rms(body) > 2000.0 && share > 0.8,
        "the recording does not hold the caller's {TONE_HZ} Hz tone: rms {:.0}, tone share {share:.2}",
        rms(body)
    );
    let beep_share = tone_share(body, 8000, 1000.0);
    assert!(
        beep_share < 0.05,
        "the recording holds 1 kHz (the beep?): share {beep_share:.2}"
    );
    // Loud from (nearly) the first frame to (nearly) the last: nothing lost in the middle.
    let loud = rec.audio.loud_seconds(1000.0);
    assert!(
        loud >= secs - 0.5,
        "only {loud:.2} s of the {secs:.2} s recording is tone"
    );
    rec.check_sidecar(call);

    // The caller heard the beep first, then silence while being recorded.
    let beep = Audio::read(&repo_root().join("prompts/beep.wav"));
    let heard = Audio::read(&heard);
    let start = heard.first_tone(1000.0, 1000.0);
    assert!(
        start.is_some_and(|t| t < 1.0),
        "no 1 kHz beep in the first second of what the caller heard (first tone at {start:?})"
    );
    let t = start.unwrap();
    let beep_heard = Audio {
        rate: heard.rate,
        samples: heard.slice(t, t + 1.0).to_vec(),
    }
    .loud_seconds(1000.0);
    assert!(
        (beep_heard - beep.seconds()).abs() <= 0.1,
        "heard {beep_heard:.2} s of beep, the prompt is {:.2} s",
        beep.seconds()
    );
    let after = heard.slice(t + beep.seconds() + 0.2, HASH_AT);
    assert!(
        rms(after) < 100.0,
        "the caller should hear silence while recorded (rms {:.0})",
        rms(after)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
