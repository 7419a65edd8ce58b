//! Talk-off: no digit at all from speech (the demo prompts in `prompts/` and a minute of synthetic
//! speech in several voices), from a chirp sweeping the telephone band, or from random two-tone chords
//! that are not DTMF pairs.

#[path = "dtmf_inband_common.rs"]
mod common;

use std::path::{Path, PathBuf};

use common::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

const RATE: u32 = 8000;

fn read_wav(path: &Path) -> Vec<i16> {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (RATE, 1, 16),
        "{}: 8 kHz mono 16-bit expected",
        path.display()
    );
    reader
        .samples::<i16>()
        .map(|s| s.expect("a sample"))
        .collect()
}

fn scaled(audio: &[i16], gain_db: f64) -> Vec<i16> {
    let g = 10f64.powf(gain_db / 20.0);
    audio
        .iter()
        .map(|&s| (f64::from(s) * g).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Speech at its own level and 10 dB quieter (a quieter talker lets less energy fail the level check).
fn assert_no_digits(name: &str, audio: &[i16]) {
    for gain in [0.0, -10.0] {
        let events = detect(RATE, &scaled(audio, gain), t0());
        assert!(
            events.is_empty(),
            "{name} at {gain} dB: talk-off {:?}",
            digits(&events)
        );
    }
}

#[test]
fn prompts_give_no_digits() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../prompts");
    let mut wavs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the prompts directory")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    wavs.sort();
    assert!(!wavs.is_empty(), "no prompts in {}", dir.display());
    for wav in wavs {
        assert_no_digits(&wav.display().to_string(), &read_wav(&wav));
    }
}

#[test]
fn a_minute_of_speech_gives_no_digits() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/speech_60s_8k.wav");
    let audio = read_wav(&path);
    assert!(
        audio.len() >= 60 * RATE as usize,
        "fixture shorter than a minute"
    );
    assert_no_digits("speech_60s_8k.wav", &audio);
}

#[test]
fn chirp_across_the_band_gives_no_digits() {
    // 300 -> 3400 Hz over 2 s and back, at -5 dBm0: each DTMF frequency is crossed, one at a time.
    for secs in [2.0f64, 8.0] {
        let n = (secs * f64::from(RATE)) as usize;
        let (f0, f1) = (300.0f64, 3400.0f64);
        let k = (f1 - f0) / secs;
        let a = amp(-5.0);
        let up: Vec<i16> = (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(RATE);
                (a * (2.0 * std::f64::consts::PI * (f0 * t + k * t * t / 2.0)).sin()) as i16
            })
            .collect();
        let mut audio = up.clone();
        audio.extend(up.iter().rev());
        let events = detect(RATE, &audio, t0());
        assert!(events.is_empty(), "{secs} s chirp: {:?}", digits(&events));
    }
}

/// Within 3.5 % of one of `nominal`.
fn near(f: f64, nominal: &[f64]) -> bool {
    nominal.iter().any(|n| (f / n - 1.0).abs() <= 0.035)
}

#[test]
fn non_dtmf_two_tone_chords_give_no_digits() {
    let mut rng = StdRng::seed_from_u64(2024);
    let mut audio = Vec::new();
    let mut chords = 0;
    while chords < 400 {
        let f1: f64 = rng.gen_range(300.0..3400.0);
        let f2: f64 = rng.gen_range(300.0..3400.0);
        let (lo, hi) = if f1 < f2 { (f1, f2) } else { (f2, f1) };
        if near(lo, &ROWS) && near(hi, &COLS) {
            continue; // a DTMF pair within Q.24's reject limit: not this test's business
        }
        let l1 = rng.gen_range(-20.0..-5.0);
        let l2 = rng.gen_range(-20.0..-5.0);
        push_pair(&mut audio, RATE, (f1, l1), (f2, l2), 120.0);
        push_silence(&mut audio, RATE, 30.0);
        chords += 1;
    }
    let events = detect(RATE, &audio, t0());
    assert!(events.is_empty(), "chords gave {:?}", digits(&events));
}

#[test]
fn chords_with_one_dtmf_tone_and_one_near_miss_give_no_digits() {
    // The hardest chords: a nominal row with a column 4-10 % off, and the reverse.
    let mut audio = Vec::new();
    for (ri, &r) in ROWS.iter().enumerate() {
        for (ci, &c) in COLS.iter().enumerate() {
            for off in [-0.10, -0.06, -0.04, 0.04, 0.06, 0.10] {
                let (r2, c2) = if (ri + ci) % 2 == 0 {
                    (r, c * (1.0 + off))
                } else {
                    (r * (1.0 + off), c)
                };
                if near(r2, &ROWS) && near(c2, &COLS) {
                    continue;
                }
                push_pair(&mut audio, RATE, (r2, -10.0), (c2, -10.0), 120.0);
                push_silence(&mut audio, RATE, 50.0);
            }
        }
    }
    let events = detect(RATE, &audio, t0());
    assert!(events.is_empty(), "near misses gave {:?}", digits(&events));
}
