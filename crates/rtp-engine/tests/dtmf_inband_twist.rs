//! Twist (level difference between the two tones): the row up to 8 dB stronger than the column and the
//! column up to 4 dB stronger than the row are accepted (the Q.24 values); the detector's limits are
//! 9 dB and 5 dB, so 10 dB and 6 dB are rejected.

#[path = "dtmf_inband_common.rs"]
mod common;

use common::*;

const RATE: u32 = 8000;

/// Digits for `key` with row level `row_db` and column level `col_db` (dBm0), with some noise.
fn detect_levels(key: char, row_db: f64, col_db: f64) -> String {
    let (r, c) = freqs(key);
    let mut audio = Vec::new();
    push_silence(&mut audio, RATE, 30.0);
    push_pair(&mut audio, RATE, (r, row_db), (c, col_db), 200.0);
    push_silence(&mut audio, RATE, 30.0);
    add_noise(&mut audio, 30.0, 5);
    digits(&detect(RATE, &audio, t0()))
}

#[test]
fn row_8_db_stronger_is_accepted() {
    for key in KEYS {
        assert_eq!(detect_levels(key, -8.0, -16.0), key.to_string(), "{key}");
        assert_eq!(detect_levels(key, -14.0, -22.0), key.to_string(), "{key}");
    }
}

#[test]
fn column_4_db_stronger_is_accepted() {
    for key in KEYS {
        assert_eq!(detect_levels(key, -14.0, -10.0), key.to_string(), "{key}");
        assert_eq!(detect_levels(key, -24.0, -20.0), key.to_string(), "{key}");
    }
}

#[test]
fn row_10_db_stronger_is_rejected() {
    for key in KEYS {
        assert_eq!(detect_levels(key, -8.0, -18.0), "", "{key}");
    }
}

#[test]
fn column_6_db_stronger_is_rejected() {
    for key in KEYS {
        assert_eq!(detect_levels(key, -16.0, -10.0), "", "{key}");
    }
}
