//! Every one of the 16 keys is reported exactly once, with its start and duration, at a typical level
//! (-10 dBm0 per tone), at a low level (-25 dBm0) and under white noise 20 dB below the tones.

#[path = "dtmf_inband_common.rs"]
mod common;

use common::*;

const RATE: u32 = 8000;

/// 50 ms silence, 100 ms of `key`, 100 ms silence; checks one event with plausible timing.
fn one_press(key: char, dbm0: f64, noise_snr: Option<f64>) {
    let mut audio = Vec::new();
    push_silence(&mut audio, RATE, 50.0);
    push_key(&mut audio, RATE, key, dbm0, 100.0);
    push_silence(&mut audio, RATE, 100.0);
    if let Some(snr) = noise_snr {
        add_noise(&mut audio, snr, u64::from(key as u32));
    }
    let t0 = t0();
    let events = detect(RATE, &audio, t0);
    assert_eq!(
        digits(&events),
        key.to_string(),
        "key {key} at {dbm0} dBm0, snr {noise_snr:?}"
    );
    let ev = events[0];
    let start = ms_since(t0, ev.start);
    let dur = ev.duration.as_secs_f64() * 1000.0;
    // Both are measured in 10 ms blocks: an edge block counts when the tone covers at least ~70 %
    // of it, so each edge may be off by -30 % .. +100 % of a block.
    assert!(
        (50.0 - 3.0..=50.0 + 10.0).contains(&start),
        "key {key}: start {start} ms"
    );
    assert!(
        (100.0 - 20.0..=100.0 + 6.0).contains(&dur),
        "key {key}: duration {dur} ms"
    );
}

#[test]
fn all_keys_at_minus_10_dbm0() {
    for key in KEYS {
        one_press(key, -10.0, None);
    }
}

#[test]
fn all_keys_at_minus_25_dbm0() {
    for key in KEYS {
        one_press(key, -25.0, None);
    }
}

#[test]
fn all_keys_with_20_db_snr_white_noise() {
    for key in KEYS {
        one_press(key, -10.0, Some(20.0));
        one_press(key, -25.0, Some(20.0));
    }
}

#[test]
fn all_keys_dialled_in_a_row() {
    // A dialled string: 70 ms tones, 60 ms pauses, typical of autodialers.
    let mut audio = Vec::new();
    for key in KEYS {
        push_key(&mut audio, RATE, key, -10.0, 70.0);
        push_silence(&mut audio, RATE, 60.0);
    }
    add_noise(&mut audio, 20.0, 99);
    let events = detect(RATE, &audio, t0());
    assert_eq!(digits(&events), "123A456B789C*0#D");
}
