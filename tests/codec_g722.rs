//! G.722 end to end, checked by content: PJSUA2 runs its media at 16 kHz, offers G.722 first (and the
//! narrowband codecs after it), and sends a tone to the echo route; the call must use G.722 and the
//! 16 kHz recording of the echo must hold that tone. A 1 kHz tone checks the path; a 5 kHz tone proves
//! it is wideband end to end, since any 8 kHz stage (G.711, or resampling through 8 kHz inside the
//! server) removes everything above 4 kHz.

mod common;

use std::time::Duration;

use common::audio::{rms, tone_share, write_tone, Audio};
use common::{pjsua_call_args, Chorus, PjCall};

fn echo_wideband(tone_hz: f64) {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let dir = common::scratch_dir("codec-g722");
    let tone = dir.join("tone16k.wav");
    let heard = dir.join("heard.wav");
    write_tone(&tone, 16000, tone_hz, 5.0, 8000.0);

    let result = pjsua_call_args(
        chorus.sip_addr(),
        &PjCall {
            user: "echo",
            play: Some(&tone),
            record: &heard,
            seconds: 4.0,
            wait_bye: false,
            codec: None,
        },
        &["--prefer", "G722", "--clock-rate", "16000"],
    );
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(result["codec"], "G722", "negotiated codec: {result}");

    let audio = Audio::read(&heard);
    assert_eq!(audio.rate, 16000, "PJSUA records at its 16 kHz clock");
    assert!(
        audio.seconds() > 3.5,
        "recording is {:.2} s",
        audio.seconds()
    );
    // Skip the first second (call setup, the echo's start) and the last 0.3 s (hangup).
    let body = audio.slice(1.0, audio.seconds() - 0.3);
    let level = rms(body);
    let share = tone_share(body, audio.rate, tone_hz);
    let per_second: Vec<String> = audio
        .samples
        .chunks(16000)
        .map(|s| {
            format!(
                "{:.0} rms/{:.2}",
                rms(s),
                tone_share(s, audio.rate, tone_hz)
            )
        })
        .collect();
    eprintln!("{tone_hz} Hz over G.722: level {level:.0}, tone share {share:.3}; per second {per_second:?}");
    assert!(
        level > 2000.0,
        "the {tone_hz} Hz echo is too quiet: {level:.0} RMS (sent 5657); per second (rms/share): {per_second:?}"
    );
    assert!(
        share > 0.7,
        "{tone_hz} Hz is not the dominant content of the echo: {share:.3} of its power; per second (rms/share): {per_second:?}"
    );

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let call = &log[0];
    assert_eq!(call["end_reason"], "caller_bye", "{call}");
    assert_eq!(call["rtp"]["codec"], "G722", "{call}");
    assert!(
        call["rtp"]["packets_received"]
            .as_u64()
            .is_some_and(|n| n > 150),
        "{call}"
    );
    assert!(
        call["rtp"]["packets_sent"]
            .as_u64()
            .is_some_and(|n| n > 150),
        "{call}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn g722_echoes_a_1khz_tone() {
    echo_wideband(1000.0);
}

#[test]
fn g722_echoes_a_5khz_tone() {
    echo_wideband(5000.0);
}
