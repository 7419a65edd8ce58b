//! A re-INVITE or UPDATE renegotiates a running session: a new SDP address releases the latch and is
//! followed (the same address keeps it), a new codec or payload type is sent and expected from then on,
//! and the stream goes on (same SSRC, sequence numbers and timestamps).

mod support;

use std::net::SocketAddr;
use std::time::Instant;

use chorus_rtp::codec::Codec;
use chorus_rtp::session::{Payload, RtpSession};
use support::{config, packet, pcmu, TE_PT};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

#[test]
fn the_same_sdp_address_keeps_the_latched_peer() {
    let sdp = addr("192.0.2.10:4000");
    let nat = addr("198.51.100.7:31000");
    let mut s = RtpSession::new(config(Some(sdp)));
    assert!(s
        .handle_datagram(Instant::now(), nat, &pcmu(1, 42))
        .is_some());
    s.set_remote(Some(sdp)); // a session refresh or a resume: same SDP
    assert_eq!(s.latched(), Some(nat));
    assert_eq!(s.send_target(), Some(nat));
}

#[test]
fn a_new_sdp_address_is_followed_and_latched_again() {
    let mut s = RtpSession::new(config(Some(addr("192.0.2.10:4000"))));
    let old = addr("198.51.100.7:31000");
    let moved = addr("192.0.2.20:5000");
    let from_moved = addr("198.51.100.8:42000");
    let now = Instant::now();
    assert!(s.handle_datagram(now, old, &pcmu(1, 42)).is_some());
    s.set_remote(Some(moved));
    assert_eq!(s.latched(), None, "the move releases the latch");
    assert_eq!(
        s.send_target(),
        Some(moved),
        "packets go where the new SDP says"
    );
    // The moved peer's first packet (here from behind a NAT) latches; the old address is foreign then.
    assert!(s.handle_datagram(now, from_moved, &pcmu(2, 77)).is_some());
    assert_eq!(s.send_target(), Some(from_moved));
    assert!(s.handle_datagram(now, old, &pcmu(3, 42)).is_none());
    assert_eq!(s.stats().dropped_foreign, 1);
}

#[test]
fn a_new_codec_is_sent_and_expected_and_the_stream_goes_on() {
    let mut s = RtpSession::new(config(None));
    let peer = addr("198.51.100.7:31000");
    let now = Instant::now();
    let mut out = Vec::new();
    let loud = vec![8000i16; 160];
    s.packetize(&loud, &mut out);
    let (seq, ts, ssrc) = (
        u16::from_be_bytes([out[2], out[3]]),
        u32::from_be_bytes([out[4], out[5], out[6], out[7]]),
        u32::from_be_bytes([out[8], out[9], out[10], out[11]]),
    );
    assert_eq!(out[1] & 0x7f, 0, "PCMU");
    let pcmu_byte = out[12];

    s.set_codec(Codec::Pcma, 8, Some(TE_PT));
    s.packetize(&loud, &mut out);
    assert_eq!(out[1] & 0x7f, 8, "PCMA's payload type from now on");
    assert_eq!(out[1] & 0x80, 0x80, "a new talkspurt marks the switch");
    assert_eq!(u16::from_be_bytes([out[2], out[3]]), seq.wrapping_add(1));
    assert_eq!(
        u32::from_be_bytes([out[4], out[5], out[6], out[7]]),
        ts.wrapping_add(160)
    );
    assert_eq!(u32::from_be_bytes([out[8], out[9], out[10], out[11]]), ssrc);
    assert_ne!(out[12], pcmu_byte, "A-law coding, not µ-law");

    // PCMU from the peer is now a payload type we do not expect; PCMA decodes.
    assert!(s.handle_datagram(now, peer, &pcmu(1, 42)).is_none());
    assert_eq!(s.stats().dropped_payload_type, 1);
    let alaw_silence = packet(8, 2, 320, 42, false, &[0xd5; 160]);
    let r = s
        .handle_datagram(now, peer, &alaw_silence)
        .expect("PCMA accepted");
    assert!(
        matches!(r.payload, Payload::Audio(pcm) if pcm.len() == 160 && pcm.iter().all(|&x| x.abs() < 16))
    );
}
