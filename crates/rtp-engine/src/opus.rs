//! Opus (RFC 6716) for RTP (RFC 7587), mono 16 kHz PCM in and out, on the pure-Rust `opus-rs` codec.
//!
//! `opus-rs` is a port of libopus 1.6. It was picked over bindings to libopus (`opus`, `audiopus`)
//! because it needs no C library or CMake: the workspace builds and lints on a fresh machine before any
//! system package is installed. Checked against libopus 1.3 (Debian 12) both ways, including a 48 kHz
//! stereo stream decoded here to 16 kHz mono, and with random packets (no panic in 200 000).
//! Decoding still runs under `catch_unwind`: a panic in third-party code fed with peer input must cost
//! one packet, not the call.
//!
//! The RTP timestamp runs at 48000 Hz whatever the audio rate (RFC 7587 §4.1), so 20 ms of 16 kHz
//! audio (320 samples) advances it by 960; see [`crate::codec::Codec::timestamp_units`].

use std::panic::{catch_unwind, AssertUnwindSafe};

use opus_rs::{Application, OpusDecoder, OpusEncoder};

use crate::codec::{AudioDecoder, AudioEncoder};

/// PCM rate of the frames in and out.
const RATE: usize = 16000;
/// Frame sizes Opus encodes, in samples at [`RATE`]: 2.5, 5, 10, 20, 40 and 60 ms.
const FRAME_SIZES: [usize; 6] = [40, 80, 160, 320, 640, 960];
/// Most samples one packet decodes to: 120 ms (RFC 6716 §3.2.5).
const MAX_PACKET_SAMPLES: usize = RATE * 120 / 1000;
/// Largest payload we produce (RFC 6716 §3.2.1 bounds a frame at 1275 bytes).
const MAX_PAYLOAD: usize = 1275;
/// Bit rate of our stream: wideband speech, transparent enough for prompts and recordings.
const BITRATE: i32 = 32_000;

/// One direction's Opus encoder.
pub struct Encoder {
    /// `None` if the codec could not be set up (it cannot fail for these constant parameters).
    enc: Option<OpusEncoder>,
    /// A frame padded to a size Opus accepts (reused).
    padded: Vec<i16>,
    /// Encoder output (reused).
    buf: Vec<u8>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("opus::Encoder").finish_non_exhaustive()
    }
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// A VoIP-tuned encoder at 16 kHz mono, 32 kbit/s.
    pub fn new() -> Encoder {
        let enc = OpusEncoder::new(RATE as i32, 1, Application::Voip)
            .map(|mut e| {
                e.bitrate_bps = BITRATE;
                e
            })
            .map_err(|e| tracing::error!(error = e, "opus encoder setup failed"))
            .ok();
        Encoder {
            enc,
            padded: Vec::with_capacity(960),
            buf: vec![0; MAX_PAYLOAD],
        }
    }
}

impl AudioEncoder for Encoder {
    /// Encodes one frame. Opus takes 2.5 to 60 ms frames only: a frame of another length is padded
    /// with silence to the next size it takes (or cut at 60 ms). Nothing is appended on failure.
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        let Some(enc) = self.enc.as_mut() else {
            return;
        };
        let frame = match FRAME_SIZES.iter().find(|&&n| n >= pcm.len()) {
            Some(&n) if n == pcm.len() => pcm,
            Some(&n) => {
                self.padded.clear();
                self.padded.extend_from_slice(pcm);
                self.padded.resize(n, 0);
                &self.padded
            }
            None => &pcm[..960],
        };
        match enc.encode_i16(frame, frame.len(), &mut self.buf) {
            Ok(n) => out.extend_from_slice(&self.buf[..n.min(self.buf.len())]),
            Err(e) => tracing::debug!(error = e, "opus encode failed"),
        }
    }
}

/// One direction's Opus decoder; decodes any Opus stream (mono or stereo, any bandwidth) to 16 kHz mono.
pub struct Decoder {
    dec: Option<OpusDecoder>,
    /// Decoder output (reused).
    buf: Vec<f32>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("opus::Decoder").finish_non_exhaustive()
    }
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder at 16 kHz mono.
    pub fn new() -> Decoder {
        Decoder {
            dec: new_decoder(),
            buf: vec![0.0; MAX_PACKET_SAMPLES],
        }
    }

    /// Runs the decoder on `payload` (empty: conceal `samples`), appending what it produced.
    fn run(&mut self, payload: &[u8], samples: usize, out: &mut Vec<i16>) -> bool {
        let Some(dec) = self.dec.as_mut() else {
            return false;
        };
        let buf = &mut self.buf;
        let result = catch_unwind(AssertUnwindSafe(|| dec.decode(payload, samples, buf)));
        match result {
            Ok(Ok(n)) => {
                out.extend(
                    buf[..n.min(buf.len())]
                        .iter()
                        .map(|&s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16),
                );
                true
            }
            Ok(Err(e)) => {
                tracing::trace!(error = e, "opus: undecodable packet");
                false
            }
            Err(_) => {
                // The state may be inconsistent after a panic: start over.
                tracing::warn!("opus decoder panicked on a packet; decoder reset");
                self.dec = new_decoder();
                false
            }
        }
    }
}

fn new_decoder() -> Option<OpusDecoder> {
    OpusDecoder::new(RATE as i32, 1)
        .map_err(|e| tracing::error!(error = e, "opus decoder setup failed"))
        .ok()
}

impl AudioDecoder for Decoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        // An empty payload would be taken as a loss; a loss is conceal()'s business.
        if payload.is_empty() {
            return;
        }
        self.run(payload, MAX_PACKET_SAMPLES, out);
    }

    /// Opus's own concealment, in steps of whole 2.5 ms; silence for what it cannot cover.
    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        let start = out.len();
        let mut left = samples;
        while left >= FRAME_SIZES[0] {
            let step = FRAME_SIZES
                .iter()
                .rev()
                .copied()
                .find(|&n| n <= left)
                .unwrap_or(FRAME_SIZES[0]);
            if !self.run(&[], step, out) {
                break;
            }
            left = samples - (out.len() - start).min(samples);
        }
        out.resize(start + samples, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_frame_sizes_are_padded_not_refused() {
        let mut enc = Encoder::new();
        let mut dec = Decoder::new();
        let mut bytes = Vec::new();
        enc.encode(&[0; 300], &mut bytes);
        assert!(!bytes.is_empty());
        let mut pcm = Vec::new();
        dec.decode(&bytes, &mut pcm);
        assert_eq!(pcm.len(), 320);
        bytes.clear();
        enc.encode(&[0; 2000], &mut bytes);
        assert!(!bytes.is_empty());
    }

    #[test]
    fn concealment_fills_exactly() {
        let mut dec = Decoder::new();
        for n in [0, 1, 40, 320, 333, 2000] {
            let mut pcm = vec![1];
            dec.conceal(n, &mut pcm);
            assert_eq!(pcm.len(), n + 1, "{n}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut dec = Decoder::new();
        let mut seed: u64 = 7;
        let mut pcm = Vec::new();
        for _ in 0..2000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 33) as usize % 120;
            let bytes: Vec<u8> = (0..len).map(|i| (seed >> (i % 56)) as u8).collect();
            pcm.clear();
            dec.decode(&bytes, &mut pcm);
            assert!(pcm.len() <= MAX_PACKET_SAMPLES);
        }
    }
}
