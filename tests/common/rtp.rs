//! A minimal RTP peer for raw-socket tests: G.711 µ-law coding and RFC 3550 fixed headers, written here
//! rather than taken from `chorus-rtp` so the test peer does not share the server's code.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// G.711 µ-law encoding of one sample.
pub fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    // The segment is the position of the highest set bit among bits 14..7.
    let mut exponent = 7;
    let mut mask = 0x4000;
    while s & mask == 0 && exponent > 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// G.711 µ-law decoding of one byte.
pub fn ulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0f) as i32;
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// An RTP packet with the fixed 12-byte header.
pub fn packet(
    pt: u8,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    marker: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.push(0x80);
    p.push(pt | if marker { 0x80 } else { 0 });
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// A parsed RTP packet: payload type and payload (CSRCs, extension and padding skipped).
pub fn parse(data: &[u8]) -> Option<(u8, &[u8])> {
    if data.len() < 12 || data[0] >> 6 != 2 {
        return None;
    }
    let cc = (data[0] & 0x0f) as usize;
    let mut start = 12 + 4 * cc;
    if data[0] & 0x10 != 0 {
        let ext = data.get(start + 2..start + 4)?;
        start += 4 + 4 * u16::from_be_bytes([ext[0], ext[1]]) as usize;
    }
    let mut end = data.len();
    if data[0] & 0x20 != 0 {
        end = end.checked_sub(*data.last()? as usize)?;
    }
    (start <= end).then(|| (data[1] & 0x7f, &data[start..end]))
}

/// Sends `seconds` of a µ-law `freq` tone from `sock` to `to` in 20 ms packets, paced in real time,
/// and returns the decoded audio received on `sock` meanwhile (and for `linger` after), counting only
/// packets with payload type 0 from `from`.
pub fn exchange_tone(
    sock: &UdpSocket,
    to: SocketAddr,
    freq: f64,
    seconds: f64,
    linger: Duration,
) -> Vec<i16> {
    let ssrc = 0x5eed_1234;
    let frames = (seconds * 50.0) as usize;
    let mut received = Vec::new();
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    let mut sent = 0usize;
    let end_at = start + Duration::from_secs_f64(seconds) + linger;
    sock.set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    while Instant::now() < end_at {
        let due = (start.elapsed().as_millis() / 20) as usize + 1;
        while sent < frames && sent < due {
            let payload: Vec<u8> = (0..160)
                .map(|i| {
                    let n = sent * 160 + i;
                    let s = 8000.0 * (2.0 * std::f64::consts::PI * freq * n as f64 / 8000.0).sin();
                    ulaw_encode(s as i16)
                })
                .collect();
            let p = packet(
                0,
                1000 + sent as u16,
                160 * sent as u32,
                ssrc,
                sent == 0,
                &payload,
            );
            sock.send_to(&p, to).unwrap();
            sent += 1;
        }
        if let Ok((n, src)) = sock.recv_from(&mut buf) {
            if src == to {
                if let Some((0, payload)) = parse(&buf[..n]) {
                    received.extend(payload.iter().map(|b| ulaw_decode(*b)));
                }
            }
        }
    }
    received
}
