//! The 16 kHz path (wideband calls): every key is found once at typical and low level and under noise,
//! with the same timing as at 8 kHz, and the 8 kHz speech corpus upsampled to 16 kHz gives no digit.

#[path = "dtmf_inband_common.rs"]
mod common;

use common::*;

const RATE: u32 = 16000;

#[test]
fn all_keys_at_16_khz() {
    for key in KEYS {
        for (dbm0, snr) in [
            (-10.0, None),
            (-25.0, None),
            (-10.0, Some(20.0)),
            (-25.0, Some(20.0)),
        ] {
            let mut audio = Vec::new();
            push_silence(&mut audio, RATE, 50.0);
            push_key(&mut audio, RATE, key, dbm0, 100.0);
            push_silence(&mut audio, RATE, 100.0);
            if let Some(snr) = snr {
                add_noise(&mut audio, snr, 11);
            }
            let t0 = t0();
            let events = detect(RATE, &audio, t0);
            assert_eq!(
                digits(&events),
                key.to_string(),
                "{key} {dbm0} dBm0 snr {snr:?}"
            );
            let start = ms_since(t0, events[0].start);
            let dur = events[0].duration.as_secs_f64() * 1000.0;
            assert!((47.0..=60.0).contains(&start), "{key}: start {start} ms");
            assert!((80.0..=106.0).contains(&dur), "{key}: duration {dur} ms");
        }
    }
}

#[test]
fn frequency_and_twist_limits_hold_at_16_khz() {
    for key in KEYS {
        let (r, c) = freqs(key);
        for (kr, kc, lr, lc, found) in [
            (1.015, 0.985, -10.0, -10.0, true),
            (1.035, 1.0, -10.0, -10.0, false),
            (1.0, 0.965, -10.0, -10.0, false),
            (1.0, 1.0, -8.0, -16.0, true),
            (1.0, 1.0, -14.0, -10.0, true),
            (1.0, 1.0, -8.0, -18.0, false),
            (1.0, 1.0, -16.0, -10.0, false),
        ] {
            let mut audio = Vec::new();
            push_pair(&mut audio, RATE, (r * kr, lr), (c * kc, lc), 100.0);
            let want = if found {
                key.to_string()
            } else {
                String::new()
            };
            assert_eq!(
                digits(&detect(RATE, &audio, t0())),
                want,
                "{key} x{kr} x{kc} {lr}/{lc}"
            );
        }
    }
}

#[test]
fn upsampled_speech_gives_no_digits() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/speech_60s_8k.wav");
    let mut reader = hound::WavReader::open(&path).expect("the speech fixture");
    let narrow: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| s.expect("a sample"))
        .collect();
    // Linear interpolation: crude, but it leaves the 4-8 kHz band almost empty, like G.722 speech.
    let mut wide = Vec::with_capacity(narrow.len() * 2);
    for w in narrow.windows(2) {
        wide.push(w[0]);
        wide.push(((i32::from(w[0]) + i32::from(w[1])) / 2) as i16);
    }
    let events = detect(RATE, &wide, t0());
    assert!(
        events.is_empty(),
        "talk-off at 16 kHz: {:?}",
        digits(&events)
    );
}
