//! Outgoing packets: sequence numbers, timestamps and markers (RFC 3550 §5.1), parsed back with the
//! rtp crate.

mod support;

use chorus_rtp::codec::Codec;
use chorus_rtp::session::RtpSession;
use rtp::packet::Packet;
use support::config;
use webrtc_util::Unmarshal;

fn parse(data: &[u8]) -> Packet {
    let mut buf = data;
    Packet::unmarshal(&mut buf).expect("our packets parse")
}

#[test]
fn seq_and_timestamp_advance_and_wrap() {
    let cfg = config(None);
    let mut s = RtpSession::new(cfg);
    let pcm = [0i16; 160];
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..4 {
        s.packetize(&pcm, &mut out);
        let p = parse(&out);
        assert_eq!(p.header.version, 2);
        assert_eq!(p.header.payload_type, 0);
        assert_eq!(p.header.ssrc, cfg.ssrc);
        assert_eq!(p.payload.len(), 160);
        assert!(p.payload.iter().all(|&b| b == 0xFF));
        seen.push((
            p.header.sequence_number,
            p.header.timestamp,
            p.header.marker,
        ));
    }
    let t0 = cfg.initial_timestamp;
    assert_eq!(
        seen,
        [
            (65_534, t0, true),
            (65_535, t0.wrapping_add(160), false),
            (0, t0.wrapping_add(320), false),
            (1, t0.wrapping_add(480), false),
        ]
    );
    assert_eq!(s.next_seq(), 2);
}

#[test]
fn skipped_frames_advance_timestamp_not_seq_and_mark_resumption() {
    let mut s = RtpSession::new(config(None));
    let pcm = [100i16; 160];
    let mut out = Vec::new();
    s.packetize(&pcm, &mut out);
    let first = parse(&out).header;
    s.skip(160);
    s.skip(160);
    s.skip(160);
    s.packetize(&pcm, &mut out);
    let resumed = parse(&out).header;
    assert_eq!(
        resumed.sequence_number,
        first.sequence_number.wrapping_add(1)
    );
    assert_eq!(resumed.timestamp, first.timestamp.wrapping_add(4 * 160));
    assert!(resumed.marker);
    s.packetize(&pcm, &mut out);
    assert!(!parse(&out).header.marker);
    assert_eq!(s.stats().frames_skipped, 3);
}

#[test]
fn pcma_session_sends_payload_type_8_and_a_law() {
    let mut cfg = config(None);
    cfg.codec = Codec::Pcma;
    cfg.payload_type = 8;
    let mut s = RtpSession::new(cfg);
    let mut out = Vec::new();
    s.packetize(&[0i16; 160], &mut out);
    let p = parse(&out);
    assert_eq!(p.header.payload_type, 8);
    assert!(p.payload.iter().all(|&b| b == 0xD5));
}

#[test]
fn dynamic_payload_type_is_sent_as_negotiated() {
    let mut cfg = config(None);
    cfg.payload_type = 112;
    let mut s = RtpSession::new(cfg);
    let mut out = Vec::new();
    s.packetize(&[0i16; 160], &mut out);
    assert_eq!(parse(&out).header.payload_type, 112);
}

#[test]
fn own_packets_round_trip_through_a_peer_session() {
    let mut tx = RtpSession::new(config(None));
    let mut rx = RtpSession::new(config(None));
    let pcm = support::tone(1000.0, 8000.0, 0, 160);
    let mut out = Vec::new();
    tx.packetize(&pcm, &mut out);
    let from = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
    let r = rx
        .handle_datagram(std::time::Instant::now(), from, &out)
        .expect("accepted");
    assert!(r.marker);
    match r.payload {
        chorus_rtp::session::Payload::Audio(got) => {
            for (a, b) in pcm.iter().zip(got) {
                assert!((i32::from(*a) - i32::from(*b)).abs() <= 260, "{a} vs {b}");
            }
        }
        other => panic!("expected audio, got {other:?}"),
    }
}

/// G.722 samples at 16 kHz but its RTP clock is 8000 Hz (RFC 3551 §4.5.2): 320 samples, 160 units.
#[test]
fn g722_timestamp_advances_160_per_320_samples() {
    let mut cfg = config(None);
    cfg.codec = Codec::G722;
    cfg.payload_type = 9;
    let mut s = RtpSession::new(cfg);
    let mut out = Vec::new();
    let pcm = support::tone_at(16000, 1000.0, 8000.0, 0, 320);
    s.packetize(&pcm, &mut out);
    let first = parse(&out);
    assert_eq!(first.header.payload_type, 9);
    assert_eq!(first.payload.len(), 160, "one byte per two samples");
    s.packetize(&pcm, &mut out);
    let second = parse(&out).header;
    assert_eq!(second.timestamp, first.header.timestamp.wrapping_add(160));
    s.skip(320);
    s.packetize(&pcm, &mut out);
    assert_eq!(
        parse(&out).header.timestamp,
        first.header.timestamp.wrapping_add(480)
    );
}

/// Opus's RTP clock is 48000 Hz whatever the audio rate (RFC 7587 §4.1): 20 ms is 960 units.
#[test]
fn opus_timestamp_advances_960_per_20_ms() {
    let mut cfg = config(None);
    cfg.codec = Codec::Opus;
    cfg.payload_type = 111;
    let mut s = RtpSession::new(cfg);
    let mut out = Vec::new();
    let pcm = support::tone_at(16000, 1000.0, 8000.0, 0, 320);
    s.packetize(&pcm, &mut out);
    let first = parse(&out).header;
    s.packetize(&pcm, &mut out);
    let second = parse(&out);
    assert_eq!(second.header.payload_type, 111);
    assert!(!second.payload.is_empty());
    assert_eq!(second.header.timestamp, first.timestamp.wrapping_add(960));
}
