//! G.722 wideband sub-band ADPCM at 64 kbit/s (ITU-T G.722 (09/2012), mode 1), 16 kHz PCM in and out.
//!
//! Written here from the algorithm as ITU-T G.722 specifies it (blocks 1L–6L, 1H–6H, the 24-tap QMF and
//! its coefficient and quantizer tables, which are the standard's). No G.722 crate on crates.io fitted:
//! the maintained ones come inside larger stacks (a SIP framework, a codec collection whose MSRV is
//! above ours and that pulls G.729 and SIMD crates), and the C code most projects carry (spandsp's) is
//! LGPL, which this MIT/Apache project does not take in. The arithmetic follows the standard's integer
//! operations exactly (16-bit saturation, arithmetic shifts), so the output is the reference codec's.
//!
//! Each 8-bit code carries one low-band (6 bits) and one high-band (2 bits) sample of the two 8 kHz
//! sub-bands, that is two 16 kHz PCM samples: 20 ms is 320 samples and 160 bytes. Encoder and decoder
//! keep adaptive state, so each direction of a call has its own [`Encoder`] / [`Decoder`]. The QMF pair
//! delays the signal by 22 samples (1.4 ms) end to end.

use crate::codec::{AudioDecoder, AudioEncoder};

/// Transmit and receive QMF coefficients (G.722 table 11), one half of the symmetric 24 taps.
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];
/// Low-band quantizer decision levels, scaled (table 6, `Q6`).
const Q6: [i32; 32] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];
/// Low-band 6-bit codes for a negative difference, by decision interval.
const ILN: [i32; 32] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4, 0,
];
/// Low-band 6-bit codes for a positive difference, by decision interval.
const ILP: [i32; 32] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32, 0,
];
/// Low-band log scale factor multipliers (`WL`).
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
/// 4-bit low-band code to `WL` index (`RIL` → `IL4`).
const RL42: [i32; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
/// Inverse log base 2 table for the scale factors (`ILB`).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// Low-band 4-bit inverse quantizer outputs (`QM4`), used for prediction.
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
/// Low-band 6-bit inverse quantizer outputs (`QM6`), used for reconstruction at 64 kbit/s.
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// High-band 2-bit inverse quantizer outputs (`QM2`).
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
/// High-band codes for a negative difference, by decision interval.
const IHN: [i32; 3] = [0, 1, 0];
/// High-band codes for a positive difference, by decision interval.
const IHP: [i32; 3] = [0, 3, 2];
/// High-band log scale factor multipliers (`WH`).
const WH: [i32; 3] = [0, -214, 798];
/// 2-bit high-band code to `WH` index.
const RH2: [i32; 4] = [2, 1, 2, 1];

/// Clamps to the 16-bit range, as the standard's `LIMIT` operations do.
#[inline]
fn sat(v: i32) -> i32 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}

/// The adaptive predictor and scale factor of one sub-band (blocks 3 and 4).
#[derive(Clone, Debug, Default)]
struct Band {
    /// Predicted signal (`S`).
    s: i32,
    /// Pole section output (`SP`).
    sp: i32,
    /// Zero section output (`SZ`).
    sz: i32,
    /// Reconstructed signal history (`R`).
    r: [i32; 3],
    /// Pole coefficients (`A`) and their updates (`AP`).
    a: [i32; 3],
    ap: [i32; 3],
    /// Partially reconstructed signal history (`P`).
    p: [i32; 3],
    /// Quantized difference history (`D`).
    d: [i32; 7],
    /// Zero coefficients (`B`) and their updates (`BP`).
    b: [i32; 7],
    bp: [i32; 7],
    /// Signs (`SG`).
    sg: [i32; 7],
    /// Log scale factor (`NB`).
    nb: i32,
    /// Scale factor (`DET`).
    det: i32,
}

impl Band {
    fn new(det: i32) -> Band {
        Band {
            det,
            ..Band::default()
        }
    }

    /// Block 3: log scale factor adaptation (`LOGSCL`/`LOGSCH`) and scaling (`SCALEL`/`SCALEH`).
    /// `w` is the multiplier for this code, `max` the log factor's limit, `shift` 8 (low) or 10 (high).
    fn scale(&mut self, w: i32, max: i32, shift: i32) {
        self.nb = (((self.nb * 127) >> 7) + w).clamp(0, max);
        let idx = ((self.nb >> 6) & 31) as usize;
        let s = shift - (self.nb >> 11);
        // nb <= max keeps s >= -1, so the left shift stays tiny.
        let v = if s < 0 { ILB[idx] << -s } else { ILB[idx] >> s };
        self.det = v << 2;
    }

    /// Block 4: reconstruction, predictor adaptation and prediction, from the quantized difference `d`.
    fn update(&mut self, d: i32) {
        // RECONS, PARREC
        self.d[0] = d;
        self.r[0] = sat(self.s + d);
        self.p[0] = sat(self.sz + d);
        // UPPOL2
        for i in 0..3 {
            self.sg[i] = self.p[i] >> 15;
        }
        let wd1 = sat(self.a[1] << 2);
        let wd2 = if self.sg[0] == self.sg[1] { -wd1 } else { wd1 }.min(32767);
        let mut wd3 = (wd2 >> 7) + if self.sg[0] == self.sg[2] { 128 } else { -128 };
        wd3 += (self.a[2] * 32512) >> 15;
        self.ap[2] = wd3.clamp(-12288, 12288);
        // UPPOL1
        self.sg[0] = self.p[0] >> 15;
        self.sg[1] = self.p[1] >> 15;
        let wd1 = if self.sg[0] == self.sg[1] { 192 } else { -192 };
        let wd2 = (self.a[1] * 32640) >> 15;
        let lim = sat(15360 - self.ap[2]);
        self.ap[1] = sat(wd1 + wd2).clamp(-lim, lim);
        // UPZERO
        let step = if d == 0 { 0 } else { 128 };
        self.sg[0] = d >> 15;
        for i in 1..7 {
            self.sg[i] = self.d[i] >> 15;
            let wd2 = if self.sg[i] == self.sg[0] {
                step
            } else {
                -step
            };
            let wd3 = (self.b[i] * 32640) >> 15;
            self.bp[i] = sat(wd2 + wd3);
        }
        // DELAYA
        for i in (1..7).rev() {
            self.d[i] = self.d[i - 1];
            self.b[i] = self.bp[i];
        }
        for i in (1..3).rev() {
            self.r[i] = self.r[i - 1];
            self.p[i] = self.p[i - 1];
            self.a[i] = self.ap[i];
        }
        // FILTEP
        let wd1 = (self.a[1] * sat(self.r[1] + self.r[1])) >> 15;
        let wd2 = (self.a[2] * sat(self.r[2] + self.r[2])) >> 15;
        self.sp = sat(wd1 + wd2);
        // FILTEZ
        let mut sz = 0;
        for i in (1..7).rev() {
            sz += (self.b[i] * sat(self.d[i] + self.d[i])) >> 15;
        }
        self.sz = sat(sz);
        // PREDIC
        self.s = sat(self.sp + self.sz);
    }
}

/// Initial low-band and high-band scale factors (`DETL`, `DETH` after reset).
const DET_LOW: i32 = 32;
const DET_HIGH: i32 = 8;

/// One direction's G.722 encoder: 16 kHz PCM in, one byte per two samples out.
#[derive(Clone, Debug)]
pub struct Encoder {
    /// Transmit QMF delay line.
    x: [i32; 24],
    low: Band,
    high: Band,
    /// A sample left over from an odd-length input, encoded with the next call's first one.
    pending: Option<i16>,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder in the standard's reset state.
    pub fn new() -> Encoder {
        Encoder {
            x: [0; 24],
            low: Band::new(DET_LOW),
            high: Band::new(DET_HIGH),
            pending: None,
        }
    }

    /// Encodes two consecutive 16 kHz samples into one code.
    fn encode_pair(&mut self, s0: i16, s1: i16) -> u8 {
        // Transmit QMF: two samples in, one low-band and one high-band sample out.
        self.x.copy_within(2.., 0);
        self.x[22] = i32::from(s0);
        self.x[23] = i32::from(s1);
        let (mut sum_odd, mut sum_even) = (0, 0);
        for i in 0..12 {
            sum_odd += self.x[2 * i] * QMF[i];
            sum_even += self.x[2 * i + 1] * QMF[11 - i];
        }
        let xlow = (sum_even + sum_odd) >> 14;
        let xhigh = (sum_even - sum_odd) >> 14;

        // Low band: SUBTRA, QUANTL, INVQAL, LOGSCL, SCALEL, block 4.
        let el = sat(xlow - self.low.s);
        let wd = if el >= 0 { el } else { -(el + 1) };
        let mut i = 1;
        while i < 30 && wd >= (Q6[i] * self.low.det) >> 12 {
            i += 1;
        }
        let ilow = if el < 0 { ILN[i] } else { ILP[i] };
        let ril = (ilow >> 2) as usize;
        let dlow = (self.low.det * QM4[ril]) >> 15;
        self.low.scale(WL[RL42[ril] as usize], 18432, 8);
        self.low.update(dlow);

        // High band: SUBTRA, QUANTH, INVQAH, LOGSCH, SCALEH, block 4.
        let eh = sat(xhigh - self.high.s);
        let wd = if eh >= 0 { eh } else { -(eh + 1) };
        let mih = if wd >= (564 * self.high.det) >> 12 {
            2
        } else {
            1
        };
        let ihigh = if eh < 0 { IHN[mih] } else { IHP[mih] } as usize;
        let dhigh = (self.high.det * QM2[ihigh]) >> 15;
        self.high.scale(WH[RH2[ihigh] as usize], 22528, 10);
        self.high.update(dhigh);

        ((ihigh as u8) << 6) | (ilow as u8)
    }
}

impl AudioEncoder for Encoder {
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        out.reserve(pcm.len() / 2 + 1);
        let mut rest = pcm;
        if let Some(first) = self.pending.take() {
            match rest.split_first() {
                Some((&second, tail)) => {
                    out.push(self.encode_pair(first, second));
                    rest = tail;
                }
                None => {
                    self.pending = Some(first);
                    return;
                }
            }
        }
        let mut pairs = rest.chunks_exact(2);
        for pair in &mut pairs {
            out.push(self.encode_pair(pair[0], pair[1]));
        }
        self.pending = pairs.remainder().first().copied();
    }
}

/// One direction's G.722 decoder: one byte in, two 16 kHz samples out.
#[derive(Clone, Debug)]
pub struct Decoder {
    /// Receive QMF delay line.
    x: [i32; 24],
    low: Band,
    high: Band,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder in the standard's reset state.
    pub fn new() -> Decoder {
        Decoder {
            x: [0; 24],
            low: Band::new(DET_LOW),
            high: Band::new(DET_HIGH),
        }
    }

    /// Decodes one code into two 16 kHz samples.
    fn decode_code(&mut self, code: u8) -> [i16; 2] {
        let ilow = usize::from(code & 0x3F);
        let ihigh = usize::from(code >> 6);

        // Low band: INVQBL, RECONS, LIMIT; INVQAL, LOGSCL, SCALEL, block 4.
        let rlow = (self.low.s + ((self.low.det * QM6[ilow]) >> 15)).clamp(-16384, 16383);
        let ril = ilow >> 2;
        let dlow = (self.low.det * QM4[ril]) >> 15;
        self.low.scale(WL[RL42[ril] as usize], 18432, 8);
        self.low.update(dlow);

        // High band: INVQAH, RECONS, LIMIT, LOGSCH, SCALEH, block 4.
        let dhigh = (self.high.det * QM2[ihigh]) >> 15;
        let rhigh = (dhigh + self.high.s).clamp(-16384, 16383);
        self.high.scale(WH[RH2[ihigh] as usize], 22528, 10);
        self.high.update(dhigh);

        // Receive QMF: one sample per band in, two 16 kHz samples out.
        self.x.copy_within(2.., 0);
        self.x[22] = rlow + rhigh;
        self.x[23] = rlow - rhigh;
        let (mut out1, mut out2) = (0, 0);
        for i in 0..12 {
            out2 += self.x[2 * i] * QMF[i];
            out1 += self.x[2 * i + 1] * QMF[11 - i];
        }
        [sat(out1 >> 11) as i16, sat(out2 >> 11) as i16]
    }
}

impl AudioDecoder for Decoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        out.reserve(payload.len() * 2);
        for &code in payload {
            out.extend_from_slice(&self.decode_code(code));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f64 / 16000.0;
                (10000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()).round() as i16
            })
            .collect()
    }

    /// SNR in dB of `got` against `want` delayed by the codec, best delay in 0..64.
    fn snr_after_delay(want: &[i16], got: &[i16]) -> (f64, usize) {
        let skip = 800;
        (0..64)
            .map(|delay| {
                let (mut sig, mut noise) = (0.0f64, 0.0f64);
                for i in skip..want.len() - 64 {
                    let w = f64::from(want[i]);
                    let g = f64::from(got[i + delay]);
                    sig += w * w;
                    noise += (w - g) * (w - g);
                }
                (10.0 * (sig / noise.max(1.0)).log10(), delay)
            })
            .fold((f64::MIN, 0), |a, b| if b.0 > a.0 { b } else { a })
    }

    fn round_trip(pcm: &[i16]) -> Vec<i16> {
        let (mut enc, mut dec) = (Encoder::new(), Decoder::new());
        let mut out = Vec::new();
        for frame in pcm.chunks(320) {
            let mut bytes = Vec::new();
            enc.encode(frame, &mut bytes);
            assert_eq!(bytes.len(), frame.len() / 2);
            dec.decode(&bytes, &mut out);
        }
        out
    }

    #[test]
    fn tones_survive_encode_decode() {
        for freq in [1000.0, 5000.0] {
            let pcm = tone(freq, 16000);
            let got = round_trip(&pcm);
            assert_eq!(got.len(), pcm.len());
            let (snr, delay) = snr_after_delay(&pcm, &got);
            assert!(snr >= 20.0, "{freq} Hz: snr {snr:.1} dB at delay {delay}");
        }
    }

    #[test]
    fn a_sweep_comes_back_22_samples_late() {
        // A tone's delay is ambiguous by its period; a sweep's is not.
        let sweep: Vec<i16> = (0..16000)
            .map(|i| {
                let t = i as f64 / 16000.0;
                let phase = 2.0 * std::f64::consts::PI * (200.0 * t + 3000.0 * t * t);
                (8000.0 * phase.sin()).round() as i16
            })
            .collect();
        let got = round_trip(&sweep);
        let (snr, delay) = snr_after_delay(&sweep, &got);
        assert_eq!(delay, 22, "snr {snr:.1} dB");
        assert!(snr >= 15.0, "snr {snr:.1} dB");
    }

    #[test]
    fn silence_stays_quiet() {
        let got = round_trip(&[0; 3200]);
        assert!(got.iter().all(|s| s.abs() < 16), "{:?}", &got[..40]);
    }

    #[test]
    fn odd_lengths_carry_a_sample_over() {
        let pcm = tone(1000.0, 640);
        let mut whole = Vec::new();
        Encoder::new().encode(&pcm, &mut whole);
        let mut split = Vec::new();
        let mut enc = Encoder::new();
        enc.encode(&pcm[..101], &mut split);
        enc.encode(&pcm[101..102], &mut split);
        enc.encode(&pcm[102..], &mut split);
        assert_eq!(whole, split);
    }

    #[test]
    fn every_code_decodes_without_overflow() {
        // Full-scale square waves and every byte value in a row drive the state to its limits.
        let mut dec = Decoder::new();
        let mut out = Vec::new();
        for _ in 0..50 {
            dec.decode(&(0..=255u8).collect::<Vec<_>>(), &mut out);
            dec.decode(&[0x00; 200], &mut out);
            dec.decode(&[0xFF; 200], &mut out);
        }
        let mut enc = Encoder::new();
        let square: Vec<i16> = (0..16000)
            .map(|i| if i / 8 % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        let mut bytes = Vec::new();
        enc.encode(&square, &mut bytes);
        assert_eq!(bytes.len(), 8000);
    }
}
