//! Shared by the conference tests: tone sources and a Goertzel level meter.
#![allow(dead_code)]

use chorus_rtp::conference::{MemberId, Mixer};

/// A sine source that keeps its phase across frames.
pub struct Tone {
    pub rate: f64,
    pub freq: f64,
    pub amp: f64,
    pub n: u64,
}

impl Tone {
    pub fn new(rate: u32, freq: f64, amp: f64) -> Tone {
        Tone {
            rate: f64::from(rate),
            freq,
            amp,
            n: 0,
        }
    }

    /// The next 20 ms frame.
    pub fn frame(&mut self) -> Vec<i16> {
        let len = (self.rate / 50.0) as usize;
        (0..len)
            .map(|_| {
                let t = self.n as f64 / self.rate;
                self.n += 1;
                (self.amp * (2.0 * std::f64::consts::PI * self.freq * t).sin()).round() as i16
            })
            .collect()
    }
}

/// Goertzel power of `freq` in `x`, as dB relative to a full-scale sine (0 dB).
pub fn level_db(x: &[i16], rate: u32, freq: f64) -> f64 {
    let n = x.len() as f64;
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for (i, &v) in x.iter().enumerate() {
        // Hann window: keeps leakage from the other tones far below the 30 dB margin.
        let win = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1.0)).cos();
        let s = f64::from(v) * win + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    // A full-scale sine through a Hann window gives amplitude 32767 * n / 4.
    let amp = power.max(1e-9).sqrt() / (n / 4.0);
    20.0 * (amp / 32767.0).log10()
}

/// Runs `ticks` ticks pushing each member's tone, returning each member's output (concatenated) in the
/// order of `members`.
pub fn run(mixer: &mut Mixer, members: &mut [(MemberId, Tone)], ticks: usize) -> Vec<Vec<i16>> {
    let mut heard = vec![Vec::new(); members.len()];
    for _ in 0..ticks {
        for (id, tone) in members.iter_mut() {
            let f = tone.frame();
            mixer.push(*id, &f).unwrap();
        }
        mixer.tick();
        for (k, (id, _)) in members.iter().enumerate() {
            heard[k].extend_from_slice(mixer.output(*id).unwrap());
        }
    }
    heard
}
