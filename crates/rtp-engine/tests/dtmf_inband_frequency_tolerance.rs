//! Q.24 frequency limits: a tone 1.5 % off its nominal frequency is accepted, one 3.5 % off is
//! rejected, for each of the 8 frequencies in every key that uses it (the other tone nominal).

#[path = "dtmf_inband_common.rs"]
mod common;

use common::*;

const RATE: u32 = 8000;

/// Digits found for `key` with its row scaled by `row_k` and its column by `col_k`.
fn detect_offset(key: char, row_k: f64, col_k: f64, dbm0: f64) -> String {
    let (r, c) = freqs(key);
    let mut audio = Vec::new();
    push_silence(&mut audio, RATE, 30.0);
    push_pair(
        &mut audio,
        RATE,
        (r * row_k, dbm0),
        (c * col_k, dbm0),
        100.0,
    );
    digits(&detect(RATE, &audio, t0()))
}

#[test]
fn within_1_5_percent_is_accepted() {
    for key in KEYS {
        for k in [0.985, 1.015] {
            for dbm0 in [-10.0, -25.0] {
                assert_eq!(
                    detect_offset(key, k, 1.0, dbm0),
                    key.to_string(),
                    "{key} row x{k} {dbm0}"
                );
                assert_eq!(
                    detect_offset(key, 1.0, k, dbm0),
                    key.to_string(),
                    "{key} col x{k} {dbm0}"
                );
            }
        }
        // Both tones off at once, in the same and in opposite directions.
        for (kr, kc) in [
            (0.985, 0.985),
            (1.015, 1.015),
            (0.985, 1.015),
            (1.015, 0.985),
        ] {
            assert_eq!(
                detect_offset(key, kr, kc, -10.0),
                key.to_string(),
                "{key} x{kr} x{kc}"
            );
        }
    }
}

#[test]
fn beyond_3_5_percent_is_rejected() {
    for key in KEYS {
        // Larger offsets would land near a neighbouring frequency (697 x 1.08 is 770 - 2.2 %).
        for k in [0.965, 1.035, 0.95, 1.05] {
            for dbm0 in [-10.0, -25.0] {
                assert_eq!(
                    detect_offset(key, k, 1.0, dbm0),
                    "",
                    "{key} row x{k} {dbm0}"
                );
                assert_eq!(
                    detect_offset(key, 1.0, k, dbm0),
                    "",
                    "{key} col x{k} {dbm0}"
                );
            }
        }
    }
}
