//! Digits we send as in-band tones, for peers without telephone-event: each key is its Q.23 row and
//! column pair at -7 dBm0 per tone for exactly its duration, then silence for its gap, written into the
//! outgoing frames at 8 and 16 kHz; our own detector hears exactly the keys sent, with their durations.

use std::time::{Duration, Instant};

use chorus_rtp::dtmf::inband::{tone_pair, Detector};
use chorus_rtp::dtmf::send::{DigitPlayer, FrameAction, TONE_LEVEL_DBM0};

const MS: fn(u64) -> Duration = Duration::from_millis;
const ALL: [f64; 8] = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0];

/// Audio of `frames` 20 ms frames at `rate` with `keys` queued (each `on` ms, then `off` ms).
fn play(rate: u32, keys: &str, on: u64, off: u64, frames: usize) -> (Vec<i16>, Option<usize>) {
    let mut player = DigitPlayer::tones(rate);
    for k in keys.chars() {
        player.queue(k, MS(on), MS(off)).unwrap();
    }
    let n = rate as usize / 50;
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut idle_after = None;
    for i in 0..frames {
        // The caller's audio: a constant the tones must replace, not add to.
        let mut frame = vec![1000i16; n];
        let action = player.on_frame(t0 + MS(20) * i as u32, (i * n) as u32, &mut frame);
        assert_eq!(action, FrameAction::Send);
        assert!(player.poll_packet().is_none());
        out.extend_from_slice(&frame);
        if idle_after.is_none() && !player.is_busy() {
            idle_after = Some(i);
        }
    }
    (out, idle_after)
}

fn goertzel(pcm: &[i16], rate: u32, f: f64) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * f / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in pcm {
        let s0 = f64::from(x) + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - k * s1 * s2) / (pcm.len() as f64).powi(2)
}

/// dBm0 of a sine whose Goertzel power over a window is `p` (amplitude = 2 sqrt(p); 0 dBm0 is a peak
/// 3.17 dB below full scale).
fn dbm0(p: f64) -> f64 {
    20.0 * (2.0 * p.sqrt() / 32768.0).log10() + 3.17
}

fn check(rate: u32) {
    let keys = "1234#";
    let (audio, idle) = play(rate, keys, 100, 100, 60);
    assert_eq!(idle, Some(49), "5 keys of 200 ms");
    let per_ms = rate as usize / 1000;
    for (i, key) in keys.chars().enumerate() {
        let start = i * 200 * per_ms;
        let tone = &audio[start..start + 100 * per_ms];
        let gap = &audio[start + 100 * per_ms..start + 200 * per_ms];
        assert!(
            gap.iter().all(|s| *s == 0),
            "key {key}: silence for the gap"
        );
        assert!(
            tone.iter().all(|s| s.unsigned_abs() < 32000),
            "key {key}: no clipping"
        );
        let (lo, hi) = tone_pair(key).unwrap();
        let (lo, hi) = (f64::from(lo), f64::from(hi));
        let p = |f: f64| goertzel(tone, rate, f);
        for f in [lo, hi] {
            let level = dbm0(p(f));
            assert!(
                (level - f64::from(TONE_LEVEL_DBM0)).abs() < 0.3,
                "key {key} at {rate} Hz: {f} Hz at {level:.2} dBm0"
            );
        }
        let other = ALL
            .iter()
            .filter(|f| **f != lo && **f != hi)
            .map(|f| p(*f))
            .fold(0.0, f64::max);
        assert!(p(lo).min(p(hi)) > 100.0 * other, "key {key}: a clean pair");
        // Exactly the duration: the tone fills its 100 ms to the last sample.
        assert!(tone[tone.len() - per_ms..].iter().any(|s| *s != 0));
    }
    // After the last gap the caller's audio comes back untouched.
    assert!(audio[1000 * per_ms..].iter().all(|s| *s == 1000));

    let mut det = Detector::new(rate).unwrap();
    let t0 = Instant::now();
    let mut got = Vec::new();
    for (i, f) in audio.chunks(rate as usize / 50).enumerate() {
        det.process(t0 + MS(20) * i as u32, f);
        got.extend(std::iter::from_fn(|| det.poll_event()));
    }
    det.flush();
    got.extend(std::iter::from_fn(|| det.poll_event()));
    assert_eq!(got.iter().map(|e| e.digit).collect::<String>(), keys);
    for e in &got {
        let ms = e.duration.as_millis();
        assert!((90..=110).contains(&ms), "{e:?}");
    }
}

#[test]
fn keys_as_tone_pairs_at_8k() {
    check(8000);
}

#[test]
fn keys_as_tone_pairs_at_16k() {
    check(16000);
}

#[test]
fn durations_off_the_frame_clock_are_sample_exact() {
    // 45 ms of tone and 55 ms of gap: the second key starts mid-frame at exactly 100 ms.
    let (audio, idle) = play(8000, "5D", 45, 55, 12);
    assert_eq!(idle, Some(9));
    let loud = |s: &[i16]| s.iter().any(|x| *x != 0);
    assert!(loud(&audio[352..360]) && !loud(&audio[360..800]));
    assert!(loud(&audio[800..808]) && loud(&audio[1152..1160]) && !loud(&audio[1160..1600]));
    assert!(audio[1600..].iter().all(|s| *s == 1000));
}
