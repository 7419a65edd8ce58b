//! Helpers shared by the integration tests: configs and RTP packets built with the rtp crate.

#![allow(dead_code)]

use std::net::SocketAddr;

use bytes::Bytes;
use chorus_rtp::codec::Codec;
use chorus_rtp::session::SessionConfig;
use rtp::header::Header;
use rtp::packet::Packet;
use webrtc_util::Marshal;

/// Telephone-event payload type used throughout the tests.
pub const TE_PT: u8 = 101;

/// A PCMU session config with telephone-event, sending to `remote`.
pub fn config(remote: Option<SocketAddr>) -> SessionConfig {
    SessionConfig {
        ssrc: 0x1111_2222,
        initial_seq: 65_534,
        initial_timestamp: u32::MAX - 100,
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event_pt: Some(TE_PT),
        remote,
        ptime_ms: 20,
    }
}

/// An RTP packet with the given fields, serialized by the rtp crate.
pub fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let p = Packet {
        header: Header {
            version: 2,
            marker,
            payload_type: pt,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            ..Default::default()
        },
        payload: Bytes::copy_from_slice(payload),
    };
    p.marshal().expect("test packet serializes").to_vec()
}

/// A PCMU packet of 160 µ-law silence bytes.
pub fn pcmu(seq: u16, ssrc: u32) -> Vec<u8> {
    packet(0, seq, u32::from(seq) * 160, ssrc, false, &[0xFF; 160])
}

/// `n` samples of a sine at `freq` Hz, 8 kHz, starting at sample `start`.
pub fn tone(freq: f64, amplitude: f64, start: usize, n: usize) -> Vec<i16> {
    tone_at(8000, freq, amplitude, start, n)
}

/// `n` samples of a sine at `freq` Hz sampled at `rate` Hz, starting at sample `start`.
pub fn tone_at(rate: u32, freq: f64, amplitude: f64, start: usize, n: usize) -> Vec<i16> {
    (start..start + n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            (amplitude * (2.0 * std::f64::consts::PI * freq * t).sin()).round() as i16
        })
        .collect()
}

/// Power of `freq` in `pcm` at 8 kHz (Goertzel).
pub fn goertzel(pcm: &[i16], freq: f64) -> f64 {
    goertzel_at(8000, pcm, freq)
}

/// Power of `freq` in `pcm` sampled at `rate` Hz (Goertzel).
pub fn goertzel_at(rate: u32, pcm: &[i16], freq: f64) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in pcm {
        let s0 = f64::from(x) + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - k * s1 * s2
}
