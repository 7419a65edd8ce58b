//! Audio checks by content: tone power (Goertzel), level (RMS), where sound starts and how much of it
//! there is. Samples are 16-bit mono; rates are whatever the WAV says.

use std::path::Path;

/// A mono recording.
#[derive(Clone, Debug)]
pub struct Audio {
    /// Samples per second.
    pub rate: u32,
    /// The samples (the first channel when the file has more).
    pub samples: Vec<i16>,
}

impl Audio {
    /// Reads a 16-bit PCM WAV; fails the test when it cannot.
    pub fn read(path: &Path) -> Audio {
        let mut reader = hound::WavReader::open(path)
            .unwrap_or_else(|e| panic!("cannot read WAV {}: {e}", path.display()));
        let spec = reader.spec();
        assert_eq!(
            (spec.bits_per_sample, spec.sample_format),
            (16, hound::SampleFormat::Int),
            "{} is not 16-bit PCM",
            path.display()
        );
        let channels = spec.channels.max(1) as usize;
        let all: Vec<i16> = reader
            .samples::<i16>()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("bad samples in {}: {e}", path.display()));
        Audio {
            rate: spec.sample_rate,
            samples: all.into_iter().step_by(channels).collect(),
        }
    }

    /// Reads one channel (0: left) of a 16-bit PCM WAV, and how many channels it has.
    pub fn read_channel(path: &Path, channel: usize) -> (Audio, u16) {
        let mut reader = hound::WavReader::open(path)
            .unwrap_or_else(|e| panic!("cannot read WAV {}: {e}", path.display()));
        let spec = reader.spec();
        let channels = spec.channels.max(1) as usize;
        assert!(
            channel < channels,
            "{} has {channels} channels",
            path.display()
        );
        let all: Vec<i16> = reader
            .samples::<i16>()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("bad samples in {}: {e}", path.display()));
        let audio = Audio {
            rate: spec.sample_rate,
            samples: all.into_iter().skip(channel).step_by(channels).collect(),
        };
        (audio, spec.channels)
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / self.rate as f64
    }

    /// The samples from `start` to `end` seconds (clamped).
    pub fn slice(&self, start: f64, end: f64) -> &[i16] {
        let a = ((start * self.rate as f64) as usize).min(self.samples.len());
        let b = ((end * self.rate as f64) as usize).clamp(a, self.samples.len());
        &self.samples[a..b]
    }

    /// RMS of each 20 ms frame.
    pub fn frame_rms(&self) -> Vec<f64> {
        let n = (self.rate / 50).max(1) as usize;
        self.samples.chunks(n).map(rms).collect()
    }

    /// Seconds of 20 ms frames whose RMS is above `threshold`.
    pub fn loud_seconds(&self, threshold: f64) -> f64 {
        self.frame_rms().iter().filter(|r| **r > threshold).count() as f64 * 0.02
    }

    /// When the first 20 ms frame with RMS above `threshold` starts, in seconds.
    pub fn first_loud(&self, threshold: f64) -> Option<f64> {
        self.frame_rms()
            .iter()
            .position(|r| *r > threshold)
            .map(|i| i as f64 * 0.02)
    }

    /// When the first 20 ms frame starts in which `freq` is the dominant tone (its Goertzel power at least
    /// 10 times that at `freq * 0.6` and `freq * 1.4`) and RMS is above `threshold`.
    pub fn first_tone(&self, freq: f64, threshold: f64) -> Option<f64> {
        let n = (self.rate / 50).max(1) as usize;
        self.samples
            .chunks(n)
            .position(|f| rms(f) > threshold && tone_dominance(f, self.rate, freq) > 10.0)
            .map(|i| i as f64 * 0.02)
    }
}

/// Root mean square of samples.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|s| (*s as f64) * (*s as f64)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// Goertzel power of `freq` in `samples`, normalised by length (comparable between window sizes).
pub fn goertzel(samples: &[i16], rate: u32, freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * freq / rate as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = x as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power / (samples.len() as f64 * samples.len() as f64)
}

/// How much stronger `freq` is than the frequencies 40 % below and above it (the smaller ratio).
pub fn tone_dominance(samples: &[i16], rate: u32, freq: f64) -> f64 {
    let p = goertzel(samples, rate, freq);
    let lo = goertzel(samples, rate, freq * 0.6);
    let hi = goertzel(samples, rate, freq * 1.4);
    p / lo.max(hi).max(1e-9)
}

/// Writes a sine tone WAV: mono 16-bit at `rate`, `amplitude` out of 32767.
pub fn write_tone(path: &Path, rate: u32, freq: f64, seconds: f64, amplitude: f64) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    let n = (seconds * rate as f64) as usize;
    for i in 0..n {
        let t = i as f64 / rate as f64;
        let s = amplitude * (2.0 * std::f64::consts::PI * freq * t).sin();
        w.write_sample(s.round() as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// How alike the loudness envelopes (20 ms frame RMS) of two recordings are: the best Pearson correlation
/// over lags of `b` against `a` up to `max_lag` seconds either way. 1.0 is the same shape.
pub fn envelope_similarity(a: &Audio, b: &Audio, max_lag: f64) -> f64 {
    let ea = a.frame_rms();
    let eb = b.frame_rms();
    let max_lag = (max_lag * 50.0) as isize;
    let mut best = f64::MIN;
    for lag in -max_lag..=max_lag {
        let pairs: Vec<(f64, f64)> = (0..ea.len() as isize)
            .filter_map(|i| {
                let j = i + lag;
                (j >= 0 && (j as usize) < eb.len()).then(|| (ea[i as usize], eb[j as usize]))
            })
            .collect();
        if pairs.len() < 25 {
            continue;
        }
        let n = pairs.len() as f64;
        let (ma, mb) = (
            pairs.iter().map(|p| p.0).sum::<f64>() / n,
            pairs.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let cov: f64 = pairs.iter().map(|p| (p.0 - ma) * (p.1 - mb)).sum();
        let va: f64 = pairs.iter().map(|p| (p.0 - ma).powi(2)).sum();
        let vb: f64 = pairs.iter().map(|p| (p.1 - mb).powi(2)).sum();
        if va > 0.0 && vb > 0.0 {
            best = best.max(cov / (va * vb).sqrt());
        }
    }
    best
}

/// The share of the signal's power that is at `freq` (Goertzel power against mean square): 1.0 for a
/// pure tone whole periods long, near 0 when `freq` is absent. Unlike [`tone_dominance`] it compares
/// against every other frequency, aliases and codec noise included.
pub fn tone_share(samples: &[i16], rate: u32, freq: f64) -> f64 {
    let ms = rms(samples).powi(2);
    if ms == 0.0 {
        return 0.0;
    }
    2.0 * goertzel(samples, rate, freq) / ms
}
