//! No datagram panics the RTCP parser: random bytes, and well-framed packets of every RTCP type
//! with random bodies (so the sub-packet parsers see hostile input). Also rtcp-mux demultiplexing.

use std::time::{Instant, SystemTime};

use chorus_rtp::rtcp::{is_rtcp, RtcpConfig, RtcpError, RtcpSession};
use proptest::prelude::*;

fn session() -> RtcpSession {
    RtcpSession::new(
        RtcpConfig::new(7, "me", 8000, 3),
        Instant::now(),
        SystemTime::UNIX_EPOCH,
    )
}

/// A framed RTCP packet: a valid header whose length matches a random body.
fn framed() -> impl Strategy<Value = Vec<u8>> {
    (
        0u8..32,
        192u8..=223,
        proptest::collection::vec(any::<u8>(), 0..25),
        any::<bool>(),
    )
        .prop_map(|(count, pt, words, padded)| {
            let mut body: Vec<u8> = words
                .iter()
                .flat_map(|w| [*w, w.wrapping_mul(3), 0, *w])
                .collect();
            if padded && !body.is_empty() {
                let n = body.len();
                body[n - 1] = (1 + words[0] % 4).min(n as u8);
            }
            let len = (body.len() / 4) as u16;
            let mut p = vec![0x80 | (u8::from(padded) << 5) | count, pt];
            p.extend_from_slice(&len.to_be_bytes());
            p.extend(body);
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut s = session();
        let _ = s.handle_packet(Instant::now(), &data);
        let _ = is_rtcp(&data);
    }

    #[test]
    fn framed_packets_never_panic(packets in proptest::collection::vec(framed(), 1..4)) {
        let mut s = session();
        let data: Vec<u8> = packets.concat();
        let _ = s.handle_packet(Instant::now(), &data);
        // Reports can still be built after whatever the peer sent.
        let at = s.poll_timeout().unwrap();
        prop_assert!(s.handle_timeout(at).is_some());
        let _ = s.call_stats();
    }
}

#[test]
fn framing_errors_are_reported() {
    let mut s = session();
    let now = Instant::now();
    assert_eq!(s.handle_packet(now, &[]), Err(RtcpError::Truncated));
    assert_eq!(
        s.handle_packet(now, &[0x80, 201, 0, 5, 0, 0, 0, 7]),
        Err(RtcpError::Truncated)
    );
    assert_eq!(
        s.handle_packet(now, &[0x40, 201, 0, 1, 0, 0, 0, 7]),
        Err(RtcpError::BadVersion)
    );
    // Padding count 9 in a packet of 8 bytes.
    assert_eq!(
        s.handle_packet(now, &[0xA0, 201, 0, 1, 0, 0, 0, 9]),
        Err(RtcpError::BadPadding)
    );
    assert_eq!(s.stats().invalid, 4);
    // An empty RR is fine; an APP packet is skipped.
    assert_eq!(
        s.handle_packet(
            now,
            &[0x80, 201, 0, 1, 0, 0, 0, 9, 0x80, 204, 0, 2, 0, 0, 0, 9, b'n', b'a', b'm', b'e']
        ),
        Ok(())
    );
    assert_eq!(s.stats().ignored, 1);
}

#[test]
fn rtcp_mux_demultiplexing() {
    // RFC 5761 §4: RTCP packet types 192..=223 (SR 200, RR 201, ...).
    for pt in [192u8, 200, 201, 202, 203, 204, 205, 206, 207, 223] {
        assert!(is_rtcp(&[0x80, pt, 0, 1, 0, 0, 0, 0]), "pt {pt}");
    }
    // RTP: PCMU (0), PCMA (8) with and without marker, dynamic 96..127 with marker (224..255).
    for b1 in [0u8, 8, 0x80, 0x88, 101, 0x80 | 101, 0x80 | 127] {
        assert!(
            !is_rtcp(&[0x80, b1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
            "byte {b1}"
        );
    }
    assert!(!is_rtcp(&[0x80, 200]), "too short");
    assert!(!is_rtcp(&[0x00, 200, 0, 1]), "not version 2");
}
