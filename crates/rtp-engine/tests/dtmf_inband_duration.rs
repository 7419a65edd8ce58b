//! Q.24 timing: a 40 ms tone is accepted and a 20 ms tone rejected, whatever its alignment with the
//! detector's 12.75 ms blocks and the 20 ms frames.

#[path = "dtmf_inband_common.rs"]
mod common;

use common::*;

/// Digits for `key` held `ms` ms after `lead` samples of silence.
fn detect_tone(rate: u32, key: char, ms: f64, lead: usize) -> String {
    let mut audio = vec![0i16; lead];
    push_key(&mut audio, rate, key, -10.0, ms);
    digits(&detect(rate, &audio, t0()))
}

#[test]
fn tone_of_40_ms_is_accepted() {
    for rate in [8000, 16000] {
        for key in KEYS {
            // Every alignment against a block (80 samples at 8 kHz), in steps of 6 samples.
            for step in 0..17 {
                let lead = 160 + step * rate as usize / 8000 * 6;
                assert_eq!(
                    detect_tone(rate, key, 40.0, lead),
                    key.to_string(),
                    "{rate} {key} {lead}"
                );
            }
        }
    }
}

#[test]
fn tone_of_20_ms_is_rejected() {
    for rate in [8000, 16000] {
        for key in KEYS {
            for step in 0..17 {
                let lead = 160 + step * rate as usize / 8000 * 6;
                assert_eq!(
                    detect_tone(rate, key, 20.0, lead),
                    "",
                    "{rate} {key} {lead}"
                );
            }
        }
    }
}
