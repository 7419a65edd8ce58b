//! The detector takes frames of any length with the same result, survives hostile audio without
//! panicking, and refuses sample rates it cannot serve.

#[path = "dtmf_inband_common.rs"]
mod common;

use std::time::{Duration, Instant};

use chorus_rtp::dtmf::inband::{Detector, InbandError};
use common::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

const RATE: u32 = 8000;

#[test]
fn any_frame_length_gives_the_same_events() {
    let mut audio = Vec::new();
    for key in ['1', '1', '9', '#'] {
        push_silence(&mut audio, RATE, 50.0);
        push_key(&mut audio, RATE, key, -12.0, 90.0);
    }
    let t0 = t0();
    let reference = detect_framed(RATE, &audio, 160, t0);
    assert_eq!(digits(&reference), "119#");
    for frame_len in [1, 7, 79, 80, 81, 240, 333, 4096, audio.len()] {
        let events = detect_framed(RATE, &audio, frame_len, t0);
        assert_eq!(events, reference, "frame length {frame_len}");
    }
}

#[test]
fn hostile_audio_does_not_panic() {
    let mut det = Detector::new(RATE).expect("8 kHz");
    let now = Instant::now();
    let mut rng = StdRng::seed_from_u64(1);
    let mut t = now;
    for i in 0..2000 {
        let len = rng.gen_range(0..700);
        let frame: Vec<i16> = match i % 4 {
            0 => vec![i16::MIN; len],
            1 => (0..len)
                .map(|j| if j % 2 == 0 { i16::MIN } else { i16::MAX })
                .collect(),
            2 => (0..len).map(|_| rng.gen()).collect(),
            _ => (0..len)
                .map(|j| if (j / 3) % 2 == 0 { i16::MAX } else { i16::MIN })
                .collect(),
        };
        // Arrival times may even repeat or go backwards (a confused shell): never a panic.
        if i % 7 != 0 {
            t += Duration::from_millis(20);
        }
        det.process(t, &frame);
        while det.poll_event().is_some() {}
    }
    det.process(t, &[]);
    det.flush();
    det.reset();
    assert!(det.poll_event().is_none());
}

#[test]
fn unsupported_rates_are_refused() {
    for rate in [0, 4000, 7999, 48001, u32::MAX] {
        assert_eq!(
            Detector::new(rate).err(),
            Some(InbandError::UnsupportedRate(rate))
        );
    }
    for rate in [8000, 11025, 16000, 22050, 32000, 44100, 48000] {
        let det = Detector::new(rate).expect("a supported rate");
        // 10 ms blocks at every rate.
        let block_ms = det.block_len() as f64 * 1000.0 / f64::from(rate);
        assert!(
            (block_ms - 10.0).abs() < 0.1,
            "{rate}: {block_ms} ms blocks"
        );
    }
}

#[test]
fn unpolled_events_are_bounded() {
    // 40 presses without polling: the oldest are dropped, the newest 16 kept, nothing grows.
    let mut audio = Vec::new();
    for i in 0..40 {
        push_key(&mut audio, RATE, KEYS[i % 16], -10.0, 60.0);
        push_silence(&mut audio, RATE, 60.0);
    }
    let mut det = Detector::new(RATE).expect("8 kHz");
    det.process(Instant::now(), &audio);
    let mut got = String::new();
    while let Some(ev) = det.poll_event() {
        got.push(ev.digit);
    }
    let all: String = (0..40).map(|i| KEYS[i % 16]).collect();
    assert_eq!(got, all[all.len() - 16..]);
}
