//! Chorus's G.722 against another implementation: FFmpeg's (libavcodec, the spandsp lineage that Asterisk
//! and FreeSWITCH carry), through fixtures made by `tests/fixtures/g722/make.sh` (FFmpeg 5.1, Debian 12).
//! One second of hard input (a chirp to 7.9 kHz, noise, a full-scale square wave, silence): Chorus encodes
//! it to the very bytes FFmpeg does, and decodes FFmpeg's stream to the very samples FFmpeg does. So a
//! G.722 call through Chorus sounds at the level those servers give it. (PJSUA's pjmedia differs by a
//! fixed 1-bit PCM shift around its codec, hence the 6 dB seen in the PJSUA2 tests.)

use chorus_rtp::codec::{AudioDecoder, AudioEncoder};
use chorus_rtp::g722::{Decoder, Encoder};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/g722")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

#[test]
fn encodes_to_ffmpegs_bytes() {
    let input = samples(&fixture("input.s16"));
    let want = fixture("ffmpeg.g722");
    let mut enc = Encoder::new();
    let mut got = Vec::new();
    for frame in input.chunks(320) {
        enc.encode(frame, &mut got);
    }
    assert_eq!(got.len(), want.len());
    let first = got.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(first, None, "first differing byte (of {})", want.len());
}

#[test]
fn decodes_ffmpegs_stream_to_ffmpegs_samples() {
    let stream = fixture("ffmpeg.g722");
    let want = samples(&fixture("ffmpeg.dec.s16"));
    let mut dec = Decoder::new();
    let mut got = Vec::new();
    for packet in stream.chunks(160) {
        dec.decode(packet, &mut got);
    }
    assert_eq!(got.len(), want.len());
    let first = got.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(first, None, "first differing sample (of {})", want.len());
}
