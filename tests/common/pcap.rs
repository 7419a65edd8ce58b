//! Test media as pcap files for SIPp's `play_pcap_audio`: RTP in UDP in IPv4 in Ethernet (link type 1),
//! one packet per 20 ms. SIPp replays each packet at its captured offset from the media port, rewriting
//! addresses and ports, and keeps the RTP header as written here (so sequence numbers and timestamps
//! must continue across the files one call plays).
//!
//! Also what goes in them: DTMF tone pairs (ITU-T Q.23) for in-band tests and RFC 4733 event packets.

use std::path::Path;

use super::rtp::{packet, ulaw_encode};

/// One RTP packet and when it is sent, in microseconds from the start of the file.
#[derive(Clone, Debug)]
pub struct Timed {
    /// Offset from the first packet of the file.
    pub at_us: u64,
    /// The whole RTP packet.
    pub rtp: Vec<u8>,
}

/// Where an RTP stream continues: the next sequence number and timestamp, and the SSRC.
#[derive(Clone, Copy, Debug)]
pub struct Stream {
    /// SSRC of every packet.
    pub ssrc: u32,
    /// Next sequence number.
    pub seq: u16,
    /// RTP timestamp of the next packet (8000 Hz clock).
    pub ts: u32,
}

/// Writes `packets` as a pcap file (microsecond timestamps, Ethernet/IPv4/UDP; the addresses are
/// placeholders SIPp replaces).
pub fn write(path: &Path, packets: &[Timed]) {
    let mut out = Vec::new();
    // Global header: magic, version 2.4, GMT offset, accuracy, snaplen, link type Ethernet.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    const EPOCH: u64 = 1_700_000_000;
    for (i, p) in packets.iter().enumerate() {
        let frame = ethernet_udp(&p.rtp, i as u16);
        let secs = EPOCH + p.at_us / 1_000_000;
        let micros = p.at_us % 1_000_000;
        out.extend_from_slice(&(secs as u32).to_le_bytes());
        out.extend_from_slice(&(micros as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// An Ethernet frame carrying `payload` in UDP 10.0.0.1:49000 → 10.0.0.2:10000.
fn ethernet_udp(payload: &[u8], ip_id: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(42 + payload.len());
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02]); // destination MAC
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]); // source MAC
    f.extend_from_slice(&[0x08, 0x00]); // IPv4
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&ip_id.to_be_bytes());
    ip.extend_from_slice(&[0x40, 0, 64, 17, 0, 0]); // DF, TTL 64, UDP, checksum later
    ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    let sum = ip_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&49000u16.to_be_bytes());
    f.extend_from_slice(&10000u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]); // no UDP checksum (allowed in IPv4)
    f.extend_from_slice(payload);
    f
}

fn ip_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// PCMU (PT 0) packets of 160 samples, 20 ms apart, from 8 kHz `pcm` (the last frame padded with
/// silence); `stream` is advanced past them.
pub fn pcmu_packets(pcm: &[i16], stream: &mut Stream) -> Vec<Timed> {
    pcm.chunks(160)
        .enumerate()
        .map(|(i, chunk)| {
            let mut payload: Vec<u8> = chunk.iter().map(|s| ulaw_encode(*s)).collect();
            payload.resize(160, ulaw_encode(0));
            let p = packet(0, stream.seq, stream.ts, stream.ssrc, i == 0, &payload);
            stream.seq = stream.seq.wrapping_add(1);
            stream.ts = stream.ts.wrapping_add(160);
            Timed {
                at_us: i as u64 * 20_000,
                rtp: p,
            }
        })
        .collect()
}

/// The RFC 4733 event code of a DTMF key (`0`-`9`, `*`, `#`, `A`-`D`).
pub fn event_code(key: char) -> u8 {
    match key {
        '0'..='9' => key as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => 12 + (key as u8 - b'A'),
        _ => panic!("not a DTMF key: {key:?}"),
    }
}

/// One RFC 4733 key press as a sender does it (and as SIPp's `dtmf_2833_*.pcap` captures): `packets`
/// updates 20 ms apart with the marker on the first, then three copies of the end packet, all with the
/// event's start timestamp; payload type `pt`, volume 10. `stream` moves on by the event's duration.
pub fn rfc4733_press(key: char, pt: u8, packets: u16, stream: &mut Stream) -> Vec<Timed> {
    let code = event_code(key);
    let start_ts = stream.ts;
    let mut out = Vec::new();
    for i in 0..packets {
        let end = i + 1 == packets;
        let duration = 160 * (i + 1);
        let payload = [
            code,
            if end { 0x80 | 10 } else { 10 },
            (duration >> 8) as u8,
            duration as u8,
        ];
        let copies = if end { 3 } else { 1 };
        for c in 0..copies {
            out.push(Timed {
                at_us: i as u64 * 20_000 + c * 50,
                rtp: packet(pt, stream.seq, start_ts, stream.ssrc, i == 0, &payload),
            });
        }
        stream.seq = stream.seq.wrapping_add(1);
    }
    stream.ts = stream.ts.wrapping_add(160 * packets as u32);
    out
}

/// The row and column frequencies of a DTMF key.
pub fn dtmf_freqs(key: char) -> (f64, f64) {
    const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    let (r, c) = match key {
        '1' => (0, 0),
        '2' => (0, 1),
        '3' => (0, 2),
        'A' => (0, 3),
        '4' => (1, 0),
        '5' => (1, 1),
        '6' => (1, 2),
        'B' => (1, 3),
        '7' => (2, 0),
        '8' => (2, 1),
        '9' => (2, 2),
        'C' => (2, 3),
        '*' => (3, 0),
        '0' => (3, 1),
        '#' => (3, 2),
        'D' => (3, 3),
        _ => panic!("not a DTMF key: {key:?}"),
    };
    (ROWS[r], COLS[c])
}

/// 8 kHz audio of `keys` dialled in-band: `lead_ms` of silence, then each key's tone pair for `on_ms`
/// followed by `off_ms` of silence. Each of the two tones has peak `amplitude` (10362 is -10 dBFS).
pub fn dtmf_audio(keys: &str, lead_ms: u32, on_ms: u32, off_ms: u32, amplitude: f64) -> Vec<i16> {
    let per_ms = 8usize;
    let mut pcm = vec![0i16; lead_ms as usize * per_ms];
    for key in keys.chars() {
        let (lo, hi) = dtmf_freqs(key);
        let n = on_ms as usize * per_ms;
        for i in 0..n {
            let t = i as f64 / 8000.0;
            let s = amplitude
                * ((2.0 * std::f64::consts::PI * lo * t).sin()
                    + (2.0 * std::f64::consts::PI * hi * t).sin());
            pcm.push(s.round().clamp(-32767.0, 32767.0) as i16);
        }
        pcm.extend(std::iter::repeat_n(0, off_ms as usize * per_ms));
    }
    pcm
}

/// Peak amplitude of a sine at `dbfs` (0 dBFS: a full-scale sine).
pub fn dbfs_amplitude(dbfs: f64) -> f64 {
    32767.0 * 10f64.powf(dbfs / 20.0)
}
