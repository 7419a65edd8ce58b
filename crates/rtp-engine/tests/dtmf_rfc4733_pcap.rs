//! Replays SIPp's bundled RFC 2833 captures (Debian sip-tester, `dtmf_2833_*.pcap`, copied into
//! `tests/fixtures/`): each holds one digit sent as a marked start, continuations and three end
//! packets, and each must come out exactly once with the duration of its end packets.

use std::path::Path;
use std::time::{Duration, Instant};

use chorus_rtp::dtmf::rfc4733::Receiver;

/// One RTP packet from a capture: arrival offset, payload type, marker, timestamp, payload.
struct Rtp {
    at: Duration,
    pt: u8,
    marker: bool,
    timestamp: u32,
    payload: Vec<u8>,
}

fn u16be(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(o..o + 2)?.try_into().ok()?))
}

/// Reads a classic libpcap file (either byte order, µs or ns stamps) with Ethernet, Linux cooked,
/// BSD loopback or raw IPv4 framing, returning the UDP payloads parsed as RTP.
fn read_pcap(path: &Path) -> Vec<Rtp> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(data.len() >= 24, "short pcap header");
    let magic = u32::from_le_bytes(data[0..4].try_into().unwrap());
    let (le, nanos) = match magic {
        0xa1b2_c3d4 => (true, false),
        0xd4c3_b2a1 => (false, false),
        0xa1b2_3c4d => (true, true),
        0x4d3c_b2a1 => (false, true),
        m => panic!("not a classic pcap: magic {m:#x}"),
    };
    let rd32 = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = rd32(&data[20..24]);
    let mut out = Vec::new();
    let mut first: Option<Duration> = None;
    let mut off = 24;
    while off + 16 <= data.len() {
        let sec = rd32(&data[off..off + 4]);
        let frac = rd32(&data[off + 4..off + 8]);
        let incl = rd32(&data[off + 8..off + 12]) as usize;
        off += 16;
        let Some(frame) = data.get(off..off + incl) else {
            break;
        };
        off += incl;
        let at = Duration::from_secs(sec.into())
            + if nanos {
                Duration::from_nanos(frac.into())
            } else {
                Duration::from_micros(frac.into())
            };
        let first = *first.get_or_insert(at);
        let ip = match linktype {
            1 => {
                // Ethernet, possibly one 802.1Q tag.
                let mut o = 12;
                if u16be(frame, o) == Some(0x8100) {
                    o += 4;
                }
                if u16be(frame, o) != Some(0x0800) {
                    continue;
                }
                &frame[o + 2..]
            }
            113 => {
                if u16be(frame, 14) != Some(0x0800) {
                    continue;
                }
                &frame[16..]
            }
            0 => &frame[4..],
            101 | 228 => frame,
            other => panic!("unsupported link type {other}"),
        };
        if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0F) * 4;
        let Some(udp) = ip.get(ihl..) else { continue };
        let Some(rtp) = udp.get(8..) else { continue };
        if rtp.len() < 12 || rtp[0] >> 6 != 2 {
            continue;
        }
        let cc = usize::from(rtp[0] & 0x0F);
        let mut h = 12 + 4 * cc;
        if rtp[0] & 0x10 != 0 {
            let Some(words) = u16be(rtp, h + 2) else {
                continue;
            };
            h += 4 + 4 * usize::from(words);
        }
        let Some(payload) = rtp.get(h..) else {
            continue;
        };
        out.push(Rtp {
            at: at.saturating_sub(first),
            pt: rtp[1] & 0x7F,
            marker: rtp[1] & 0x80 != 0,
            timestamp: u32::from_be_bytes(rtp[4..8].try_into().unwrap()),
            payload: payload.to_vec(),
        });
    }
    out
}

fn replay(name: &str, digit: char) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let packets = read_pcap(&path);
    assert!(!packets.is_empty(), "{name}: no RTP");
    let t0 = Instant::now();
    let mut rx = Receiver::new(8000);
    let mut got = Vec::new();
    let mut last_end = None;
    for p in packets.iter().filter(|p| p.pt == 101) {
        if p.payload.len() >= 4 && p.payload[1] & 0x80 != 0 {
            last_end = Some(u16::from_be_bytes([p.payload[2], p.payload[3]]));
        }
        rx.handle_packet(t0 + p.at, p.timestamp, p.marker, &p.payload);
        got.extend(std::iter::from_fn(|| rx.poll_event()));
    }
    rx.handle_timeout(t0 + Duration::from_secs(60));
    got.extend(std::iter::from_fn(|| rx.poll_event()));
    assert_eq!(got.len(), 1, "{name}: {got:?}");
    assert_eq!(got[0].digit, digit, "{name}");
    let units = u64::from(last_end.expect("capture has end packets"));
    assert_eq!(
        got[0].duration,
        Duration::from_micros(units * 125),
        "{name}"
    );
}

#[test]
fn sipp_dtmf_2833_1() {
    replay("dtmf_2833_1.pcap", '1');
}

#[test]
fn sipp_every_digit_capture() {
    for d in "0123456789".chars() {
        replay(&format!("dtmf_2833_{d}.pcap"), d);
    }
    replay("dtmf_2833_star.pcap", '*');
    replay("dtmf_2833_pound.pcap", '#');
}
