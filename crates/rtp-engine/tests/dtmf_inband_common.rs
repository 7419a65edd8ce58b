//! Signal generators and a driver shared by the `dtmf_inband_*` tests (included with `#[path]`; built
//! alone it holds no tests).

#![allow(dead_code)]

use std::f64::consts::PI;
use std::time::{Duration, Instant};

use chorus_rtp::dtmf::inband::Detector;
use chorus_rtp::dtmf::{DtmfEvent, DtmfSource};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// Row (low group) frequencies, Hz.
pub const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high group) frequencies, Hz.
pub const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// All 16 keys, row by row.
pub const KEYS: [char; 16] = [
    '1', '2', '3', 'A', '4', '5', '6', 'B', '7', '8', '9', 'C', '*', '0', '#', 'D',
];

/// (row, column) frequencies of a key.
pub fn freqs(key: char) -> (f64, f64) {
    let i = KEYS.iter().position(|&k| k == key).expect("a DTMF key");
    (ROWS[i / 4], COLS[i % 4])
}

/// Peak amplitude (16-bit scale) of a sine at `dbm0`: a full-scale sine is +3.17 dBm0 (G.711 µ-law).
pub fn amp(dbm0: f64) -> f64 {
    32768.0 * 10f64.powf((dbm0 - 3.17) / 20.0)
}

/// Samples of `ms` milliseconds at `rate`.
pub fn samples(rate: u32, ms: f64) -> usize {
    (f64::from(rate) * ms / 1000.0).round() as usize
}

/// Two sines at `f1` and `f2` Hz with levels `l1`, `l2` dBm0 for `ms` ms, appended to `out`.
pub fn push_pair(
    out: &mut Vec<i16>,
    rate: u32,
    (f1, l1): (f64, f64),
    (f2, l2): (f64, f64),
    ms: f64,
) {
    let (a1, a2) = (amp(l1), amp(l2));
    for n in 0..samples(rate, ms) {
        let t = n as f64 / f64::from(rate);
        let v = a1 * (2.0 * PI * f1 * t + 0.3).sin() + a2 * (2.0 * PI * f2 * t + 1.1).sin();
        out.push(v.round().clamp(-32768.0, 32767.0) as i16);
    }
}

/// A key at `dbm0` per tone for `ms` ms, appended to `out`.
pub fn push_key(out: &mut Vec<i16>, rate: u32, key: char, dbm0: f64, ms: f64) {
    let (r, c) = freqs(key);
    push_pair(out, rate, (r, dbm0), (c, dbm0), ms);
}

/// `ms` ms of silence appended to `out`.
pub fn push_silence(out: &mut Vec<i16>, rate: u32, ms: f64) {
    out.extend(std::iter::repeat_n(0, samples(rate, ms)));
}

/// Adds seeded white noise `snr_db` below the RMS of the non-silent part of `audio`.
pub fn add_noise(audio: &mut [i16], snr_db: f64, seed: u64) {
    let active: Vec<f64> = audio
        .iter()
        .filter(|&&s| s != 0)
        .map(|&s| f64::from(s))
        .collect();
    let rms = (active.iter().map(|s| s * s).sum::<f64>() / active.len().max(1) as f64).sqrt();
    // Uniform noise on [-w, w] has RMS w / sqrt(3).
    let w = rms * 10f64.powf(-snr_db / 20.0) * 3f64.sqrt();
    let mut rng = StdRng::seed_from_u64(seed);
    for s in audio.iter_mut() {
        let v = f64::from(*s) + rng.gen_range(-w..=w);
        *s = v.round().clamp(-32768.0, 32767.0) as i16;
    }
}

/// The start of every test stream.
pub fn t0() -> Instant {
    // Any instant works; a fixed offset from now keeps `start - t0` arithmetic simple.
    Instant::now()
}

/// Runs `audio` (then 200 ms of silence) through a detector in frames of `frame_len` samples, frame
/// `i` arriving at `t0 + i * frame_len / rate`, and returns every event (after a final flush).
pub fn detect_framed(rate: u32, audio: &[i16], frame_len: usize, t0: Instant) -> Vec<DtmfEvent> {
    let mut det = Detector::new(rate).expect("a supported rate");
    let mut all = audio.to_vec();
    push_silence(&mut all, rate, 200.0);
    let mut events = Vec::new();
    for (i, frame) in all.chunks(frame_len).enumerate() {
        let offset = (i * frame_len) as u64 * 1_000_000_000 / u64::from(rate);
        det.process(t0 + Duration::from_nanos(offset), frame);
        while let Some(ev) = det.poll_event() {
            assert_eq!(ev.source, DtmfSource::InBand);
            events.push(ev);
        }
    }
    det.flush();
    while let Some(ev) = det.poll_event() {
        events.push(ev);
    }
    events
}

/// [`detect_framed`] in 20 ms frames.
pub fn detect(rate: u32, audio: &[i16], t0: Instant) -> Vec<DtmfEvent> {
    detect_framed(rate, audio, rate as usize / 50, t0)
}

/// The digits of `events` as a string.
pub fn digits(events: &[DtmfEvent]) -> String {
    events.iter().map(|e| e.digit).collect()
}

/// Milliseconds from `t0` to `t`.
pub fn ms_since(t0: Instant, t: Instant) -> f64 {
    t.duration_since(t0).as_secs_f64() * 1000.0
}
