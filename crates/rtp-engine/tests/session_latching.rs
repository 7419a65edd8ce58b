//! Symmetric RTP: the first valid source latches, nothing else can take the stream over.

mod support;

use std::net::SocketAddr;
use std::time::Instant;

use chorus_rtp::session::{Payload, RtpSession};
use support::{config, packet, pcmu, TE_PT};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

#[test]
fn sdp_address_is_the_initial_send_target() {
    let s = RtpSession::new(config(Some(addr("192.0.2.10:4000"))));
    assert_eq!(s.send_target(), Some(addr("192.0.2.10:4000")));
    assert_eq!(s.latched(), None);
    let s = RtpSession::new(config(None));
    assert_eq!(s.send_target(), None);
}

#[test]
fn first_valid_source_latches_and_becomes_the_send_target() {
    let mut s = RtpSession::new(config(Some(addr("192.0.2.10:4000"))));
    let nat = addr("198.51.100.7:31000");
    let data = pcmu(1, 42);
    let r = s.handle_datagram(Instant::now(), nat, &data);
    let r = r.expect("valid rtp accepted");
    assert_eq!(r.seq, 1);
    assert_eq!(r.ssrc, 42);
    assert!(
        matches!(r.payload, Payload::Audio(pcm) if pcm.len() == 160 && pcm.iter().all(|&x| x == 0))
    );
    assert_eq!(s.latched(), Some(nat));
    assert_eq!(s.send_target(), Some(nat));
    assert_eq!(s.remote_ssrc(), Some(42));
    assert_eq!(s.stats().packets_received, 1);
}

#[test]
fn foreign_source_after_latching_is_dropped_and_counted() {
    let mut s = RtpSession::new(config(None));
    let peer = addr("198.51.100.7:31000");
    let intruder = addr("203.0.113.9:5004");
    let now = Instant::now();
    assert!(s.handle_datagram(now, peer, &pcmu(1, 42)).is_some());
    for seq in 2..12 {
        assert!(s.handle_datagram(now, intruder, &pcmu(seq, 666)).is_none());
    }
    // Same IP, other port: still foreign.
    assert!(s
        .handle_datagram(now, addr("198.51.100.7:31002"), &pcmu(3, 42))
        .is_none());
    assert_eq!(s.stats().dropped_foreign, 11);
    assert_eq!(s.send_target(), Some(peer));
    assert_eq!(s.remote_ssrc(), Some(42));
    assert!(s.handle_datagram(now, peer, &pcmu(2, 42)).is_some());
    assert_eq!(s.stats().packets_received, 2);
}

#[test]
fn ssrc_change_from_the_latched_address_is_accepted() {
    let mut s = RtpSession::new(config(None));
    let peer = addr("198.51.100.7:31000");
    let now = Instant::now();
    assert!(s.handle_datagram(now, peer, &pcmu(1, 42)).is_some());
    assert!(s.handle_datagram(now, peer, &pcmu(900, 43)).is_some());
    assert_eq!(s.remote_ssrc(), Some(43));
    assert_eq!(s.stats().ssrc_changes, 1);
}

#[test]
fn garbage_does_not_latch() {
    let mut s = RtpSession::new(config(Some(addr("192.0.2.10:4000"))));
    let from = addr("203.0.113.9:5004");
    let now = Instant::now();
    let mut v1 = pcmu(1, 42);
    v1[0] = 0x40; // version 1
    let mut bad_padding = pcmu(1, 42);
    bad_padding[0] |= 0x20;
    *bad_padding.last_mut().expect("non-empty") = 200; // more padding than payload
    let mut zero_padding = pcmu(1, 42);
    zero_padding[0] |= 0x20;
    *zero_padding.last_mut().expect("non-empty") = 0;
    let mut many_csrcs = pcmu(1, 42)[..20].to_vec();
    many_csrcs[0] |= 0x0F; // 15 CSRCs announced, 2 present
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x80],
        vec![0x80; 11],
        b"INVITE sip:echo@chorus SIP/2.0\r\n".to_vec(),
        v1,
        bad_padding,
        zero_padding,
        many_csrcs,
        packet(0, 1, 0, 42, false, &[]),           // no audio at all
        packet(TE_PT, 1, 0, 42, true, &[1, 0x80]), // event block shorter than 4 bytes
    ];
    for data in &cases {
        assert!(s.handle_datagram(now, from, data).is_none(), "{data:02x?}");
    }
    assert_eq!(s.latched(), None);
    assert_eq!(s.send_target(), Some(addr("192.0.2.10:4000")));
    assert_eq!(s.stats().dropped_invalid, cases.len() as u64);
}

#[test]
fn wrong_payload_type_is_ignored_and_does_not_latch() {
    let mut s = RtpSession::new(config(None));
    let from = addr("203.0.113.9:5004");
    // PCMA (8) was not negotiated on this PCMU session; neither was 96.
    for pt in [8, 96, 13] {
        assert!(s
            .handle_datagram(
                Instant::now(),
                from,
                &packet(pt, 1, 0, 42, false, &[0xD5; 160])
            )
            .is_none());
    }
    assert_eq!(s.latched(), None);
    assert_eq!(s.stats().dropped_payload_type, 3);
}

#[test]
fn rtcp_on_the_rtp_port_is_ignored() {
    let mut s = RtpSession::new(config(None));
    // A minimal receiver report: V=2, RC=0, PT=201, length 1, SSRC.
    let rr = [0x80, 201, 0x00, 0x01, 0, 0, 0, 42];
    let sr = [
        0x80u8, 200, 0, 6, 0, 0, 0, 42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];
    assert!(s
        .handle_datagram(Instant::now(), addr("198.51.100.7:31000"), &rr)
        .is_none());
    assert!(s
        .handle_datagram(Instant::now(), addr("198.51.100.7:31000"), &sr)
        .is_none());
    assert_eq!(s.latched(), None);
    assert_eq!(s.stats().rtcp_ignored, 1);
    assert_eq!(s.stats().dropped_invalid, 1); // the 8-byte RR is shorter than any RTP header
}

#[test]
fn telephone_event_is_surfaced_raw() {
    let mut s = RtpSession::new(config(None));
    let from = addr("198.51.100.7:31000");
    // Digit 5, end bit, volume 10, duration 800.
    let event = [5, 0x80 | 10, 0x03, 0x20];
    let data = packet(TE_PT, 77, 16000, 42, true, &event);
    let r = s
        .handle_datagram(Instant::now(), from, &data)
        .expect("telephone-event accepted");
    assert_eq!(r.payload, Payload::TelephoneEvent(&event));
    assert_eq!((r.seq, r.timestamp, r.marker), (77, 16000, true));
    // Events latch like audio does.
    assert_eq!(s.latched(), Some(from));
}

#[test]
fn telephone_event_without_negotiation_is_a_wrong_payload_type() {
    let mut cfg = config(None);
    cfg.telephone_event_pt = None;
    let mut s = RtpSession::new(cfg);
    let data = packet(TE_PT, 1, 0, 42, true, &[1, 0, 0, 160]);
    let r = s.handle_datagram(Instant::now(), addr("198.51.100.7:31000"), &data);
    assert!(r.is_none());
    assert_eq!(s.stats().dropped_payload_type, 1);
}

#[test]
fn padding_is_removed_before_decoding() {
    let mut s = RtpSession::new(config(None));
    let mut data = packet(0, 1, 0, 42, false, &[0xFF; 160]);
    data[0] |= 0x20;
    data.extend_from_slice(&[0, 0, 0, 4]);
    let r = s
        .handle_datagram(Instant::now(), addr("198.51.100.7:31000"), &data)
        .expect("padded packet accepted");
    assert!(matches!(r.payload, Payload::Audio(pcm) if pcm.len() == 160));
}

#[test]
fn header_extension_is_skipped() {
    let mut s = RtpSession::new(config(None));
    // One-byte extension (RFC 8285): id 1, 2 bytes, then padding to the 4-byte word.
    let mut data = vec![0x90, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42];
    data.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 0x11, 0xAA, 0xBB, 0x00]);
    data.extend_from_slice(&[0xFF; 160]);
    let r = s
        .handle_datagram(Instant::now(), addr("198.51.100.7:31000"), &data)
        .expect("packet with extension accepted");
    assert!(matches!(r.payload, Payload::Audio(pcm) if pcm.len() == 160));
}

/// The rtp crate panics on a one-byte extension element running past the datagram's end; the session
/// must reject it before the crate sees it.
#[test]
fn truncated_one_byte_extension_element_does_not_panic() {
    let mut s = RtpSession::new(config(None));
    // Extension of one word, whose first element claims 16 bytes; nothing follows.
    let data = [
        0x90, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0xBE, 0xDE, 0x00, 0x01, 0x1F, 0, 0, 0,
    ];
    assert!(s
        .handle_datagram(Instant::now(), addr("198.51.100.7:31000"), &data)
        .is_none());
    assert_eq!(s.latched(), None);
}

#[test]
fn truncated_two_byte_extension_element_does_not_panic() {
    let mut s = RtpSession::new(config(None));
    // Two-byte profile: element id 1 whose length byte is the datagram's last byte, claiming 200.
    let data = [
        0x90, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0x10, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 200,
    ];
    assert!(s
        .handle_datagram(Instant::now(), addr("198.51.100.7:31000"), &data)
        .is_none());
    let data = [
        0x90, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0x10, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    ];
    assert!(s
        .handle_datagram(Instant::now(), addr("198.51.100.7:31000"), &data)
        .is_none());
}

/// Liveness for the RTP timeout: comfort noise (PT 13) from the peer is not audio we play, but it shows
/// the caller is there; a foreign source after latching does not.
#[test]
fn comfort_noise_from_the_peer_counts_as_heard_not_as_received() {
    let mut s = RtpSession::new(config(None));
    let peer = addr("198.51.100.7:31000");
    let t0 = Instant::now();
    assert!(s.handle_datagram(t0, peer, &pcmu(1, 42)).is_some());
    assert_eq!(s.last_heard(), Some(t0));
    let t1 = t0 + std::time::Duration::from_secs(5);
    assert!(s
        .handle_datagram(t1, peer, &packet(13, 2, 160, 42, false, &[40]))
        .is_none());
    assert_eq!(s.stats().dropped_payload_type, 1);
    assert_eq!(s.last_received(), Some(t0), "CN is not audio");
    assert_eq!(s.last_heard(), Some(t1), "but the peer is alive");
    let t2 = t1 + std::time::Duration::from_secs(5);
    assert!(s
        .handle_datagram(t2, addr("203.0.113.9:5004"), &pcmu(3, 666))
        .is_none());
    assert_eq!(
        s.last_heard(),
        Some(t1),
        "a stranger says nothing of the peer"
    );
}
