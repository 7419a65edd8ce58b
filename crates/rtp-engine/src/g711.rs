//! G.711 µ-law and A-law companding (ITU-T G.711, 1988), 16-bit linear PCM in and out.
//!
//! Hand-written rather than taken from a crate: the G.711 crates on crates.io are either unmaintained,
//! allocate per call, or lack the exact reference behaviour (µ-law 0 → `0xFF`, A-law 0 → `0xD5`, the
//! ITU segment boundaries). The algorithms are the reference ones (as in the Sun/CCITT `g711.c` that
//! every telephony stack carries): decode is a 256-entry table built at compile time, encode is the
//! segment search, done with a leading-zero count instead of a loop.

/// µ-law bias added before the segment search (0x84 in 16-bit, 0x21 after the 14-bit shift).
const ULAW_BIAS: i32 = 0x84;
/// Largest 14-bit magnitude µ-law can represent before the bias.
const ULAW_CLIP: i32 = 8159;

/// µ-law code → 16-bit linear sample.
static ULAW_DECODE: [i16; 256] = build_ulaw_table();
/// A-law code → 16-bit linear sample.
static ALAW_DECODE: [i16; 256] = build_alaw_table();

const fn ulaw_decode_ref(code: u8) -> i16 {
    let u = !code;
    let mut t = (((u & 0x0F) as i32) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    if u & 0x80 != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

const fn alaw_decode_ref(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn build_ulaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_decode_ref(i as u8);
        i += 1;
    }
    table
}

const fn build_alaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_decode_ref(i as u8);
        i += 1;
    }
    table
}

/// Number of significant bits in `v` (0 for 0).
#[inline]
fn bit_len(v: i32) -> u32 {
    32 - v.leading_zeros()
}

/// Encodes one 16-bit linear sample as a µ-law code.
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    // µ-law works on 14-bit magnitudes.
    let mut v = i32::from(sample) >> 2;
    let mask = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    v = v.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    // Segment ends are 0x3F, 0x7F, ... 0x1FFF: segment = bit length - 6.
    let seg = bit_len(v).saturating_sub(6);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let code = (seg << 4) as i32 | ((v >> (seg + 1)) & 0x0F);
    (code as u8) ^ mask
}

/// Decodes one µ-law code to a 16-bit linear sample.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[usize::from(code)]
}

/// Encodes one 16-bit linear sample as an A-law code.
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    // A-law works on 13-bit magnitudes; negative values are one's-complement folded.
    let mut v = i32::from(sample) >> 3;
    let mask = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    // Segment ends are 0x1F, 0x3F, ... 0xFFF: segment = bit length - 5.
    let seg = bit_len(v).saturating_sub(5);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mantissa = if seg < 2 {
        (v >> 1) & 0x0F
    } else {
        (v >> seg) & 0x0F
    };
    (((seg << 4) as i32 | mantissa) as u8) ^ mask
}

/// Decodes one A-law code to a 16-bit linear sample.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn ulaw_every_code_survives_decode_encode() {
        for code in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(code));
            if code == 0x7F {
                // Negative zero decodes to 0, which encodes as positive zero.
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, code, "code {code:#04x}");
            }
        }
    }

    #[test]
    fn alaw_every_code_survives_decode_encode() {
        for code in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "code {code:#04x}");
        }
    }

    /// Largest G.711 quantization error for a code: half its segment's step (steps double per
    /// segment), plus what the 14- or 13-bit input shift truncates.
    fn max_error(code: u8, ulaw: bool) -> i32 {
        if ulaw {
            let seg = i32::from((!code & 0x70) >> 4);
            (1 << (seg + 2)) + 4
        } else {
            let seg = i32::from(((code ^ 0x55) & 0x70) >> 4);
            (1 << (seg.max(1) + 2)) + 8
        }
    }

    #[test]
    fn round_trip_error_is_bounded_for_every_sample() {
        for s in i16::MIN..=i16::MAX {
            let (uc, ac) = (ulaw_encode(s), alaw_encode(s));
            let (u, a) = (i32::from(ulaw_decode(uc)), i32::from(alaw_decode(ac)));
            let s32 = i32::from(s);
            // Beyond the µ-law clip level the error is the clipping itself.
            if s32.abs() <= 32124 {
                assert!((u - s32).abs() <= max_error(uc, true), "ulaw {s} -> {u}");
            }
            if s32.abs() <= 32256 {
                assert!((a - s32).abs() <= max_error(ac, false), "alaw {s} -> {a}");
            }
            // Monotonic sign: never flips polarity.
            assert!(u == 0 || (u > 0) == (s32 > 0) || s32.abs() < 8);
            assert!((a > 0) == (s32 >= 0) || s32.abs() < 8);
        }
    }

    #[test]
    fn relative_error_is_small_for_loud_samples() {
        for s in (1024..=30000i16).step_by(7) {
            for v in [s, -s] {
                let u = f64::from(ulaw_decode(ulaw_encode(v)));
                let a = f64::from(alaw_decode(alaw_encode(v)));
                let x = f64::from(v);
                assert!(((u - x) / x).abs() < 0.04, "ulaw {v} -> {u}");
                assert!(((a - x) / x).abs() < 0.04, "alaw {v} -> {a}");
            }
        }
    }
}
