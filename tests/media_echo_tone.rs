//! Audio through the echo route, checked by content: a real user agent (PJSUA2) sends a 1 kHz tone for
//! 4 s with PCMU and again with PCMA, records what comes back, and the recording must hold that tone,
//! loud, from within half a second of the start of audio to the end of the call. Once more with an INVITE
//! without SDP (late offer): Chorus offers in its 200 and PJSUA2 answers in the ACK.

mod common;

use std::time::Duration;

use common::audio::{tone_dominance, write_tone, Audio};
use common::{pjsua_call_args, Chorus, PjCall};

const TONE_HZ: f64 = 1000.0;
/// The tone's RMS is 8000/√2 ≈ 5660; two G.711 passes keep it within a dB.
const LOUD: f64 = 2000.0;

fn echo_tone(codec: &str, extra: &[&str]) {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let dir = common::scratch_dir("media-echo");
    let tone = dir.join("tone.wav");
    let heard = dir.join(format!("heard-{codec}.wav"));
    write_tone(&tone, 8000, TONE_HZ, 5.0, 8000.0);

    let result = pjsua_call_args(
        chorus.sip_addr(),
        &PjCall {
            user: "echo",
            play: Some(&tone),
            record: &heard,
            seconds: 4.0,
            wait_bye: false,
            codec: Some(codec),
        },
        extra,
    );
    assert_eq!(result["connected"], true, "{result}");
    assert_eq!(result["media_active"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(
        result["remote_bye"], false,
        "the echo route never hangs up: {result}"
    );
    assert_eq!(result["codec"], codec, "negotiated codec: {result}");

    let audio = Audio::read(&heard);
    assert!(
        audio.seconds() > 3.5,
        "recording is {:.2} s, expected about 4",
        audio.seconds()
    );
    let start = audio.first_tone(TONE_HZ, LOUD).unwrap_or_else(|| {
        panic!(
            "no 1 kHz tone came back ({codec}); frame RMS: {:?}",
            audio
                .frame_rms()
                .iter()
                .step_by(10)
                .map(|r| *r as i64)
                .collect::<Vec<_>>()
        )
    });
    assert!(
        start <= 0.5,
        "the echo started {start:.2} s after the start of audio ({codec})"
    );
    // From the first echoed frame to shortly before hangup it is the tone, loud, without gaps.
    let body = audio.slice(start, audio.seconds() - 0.2);
    let frames: Vec<&[i16]> = body.chunks(160).collect();
    let quiet = frames
        .iter()
        .filter(|f| common::audio::rms(f) < LOUD)
        .count();
    assert!(
        quiet * 50 <= frames.len(),
        "{quiet} of {} frames of the echo were quiet ({codec})",
        frames.len()
    );
    let dominance = tone_dominance(body, audio.rate, TONE_HZ);
    assert!(
        dominance > 100.0,
        "1 kHz is not dominant in the echo ({codec}): {dominance:.1}x the power at 600/1400 Hz"
    );
    let level = common::audio::rms(body);
    eprintln!(
        "{codec}: echo from {start:.2} s, {quiet}/{} quiet frames, dominance {dominance:.0}, level {level:.0}",
        frames.len()
    );
    assert!(level > 4000.0, "echo level {level:.0} RMS ({codec})");

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log[0]["route"], "echo", "{}", log[0]);
    assert_eq!(log[0]["end_reason"], "caller_bye", "{}", log[0]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn echo_returns_the_tone_with_pcmu() {
    echo_tone("PCMU", &[]);
}

#[test]
fn echo_returns_the_tone_with_pcma() {
    echo_tone("PCMA", &[]);
}

#[test]
fn echo_returns_the_tone_when_the_invite_has_no_offer() {
    echo_tone("PCMU", &["--no-sdp-offer"]);
}
