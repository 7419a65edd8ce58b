//! Property tests: no datagram, however malformed, panics the session or latches it wrongly.

mod support;

use std::net::SocketAddr;
use std::time::Instant;

use chorus_rtp::session::RtpSession;
use proptest::prelude::*;
use support::config;

fn from() -> SocketAddr {
    SocketAddr::from(([203, 0, 113, 9], 5004))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut s = RtpSession::new(config(None));
        let _ = s.handle_datagram(Instant::now(), from(), &data);
        let st = s.stats();
        // Every datagram lands in exactly one bucket.
        prop_assert_eq!(
            st.packets_received + st.dropped_invalid + st.dropped_payload_type + st.rtcp_ignored,
            1
        );
    }

    #[test]
    fn non_rtp_versions_never_latch(
        version in prop_oneof![Just(0u8), Just(1), Just(3)],
        data in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut data = data;
        if let Some(b0) = data.first_mut() {
            *b0 = (*b0 & 0x3F) | (version << 6);
        }
        let mut s = RtpSession::new(config(None));
        prop_assert!(s.handle_datagram(Instant::now(), from(), &data).is_none());
        prop_assert_eq!(s.latched(), None);
    }

    /// V=2 with the extension bit set and random CSRC count, profile and element bytes: the part of
    /// the header the rtp crate parses least carefully.
    #[test]
    fn random_header_extensions_never_panic(
        b0_low in 0u8..16,
        profile in prop_oneof![Just(0xBEDEu16), Just(0x1000), any::<u16>()],
        ext_words in 0u16..4,
        rest in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut data = vec![0x90 | b0_low, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42];
        data.extend(std::iter::repeat_n(0u8, 4 * usize::from(b0_low & 0x0F)));
        data.extend_from_slice(&profile.to_be_bytes());
        data.extend_from_slice(&ext_words.to_be_bytes());
        data.extend_from_slice(&rest);
        let mut s = RtpSession::new(config(None));
        let _ = s.handle_datagram(Instant::now(), from(), &data);
        // Also every prefix: truncation is the classic way to reach an unchecked read.
        for end in 0..data.len() {
            let _ = s.handle_datagram(Instant::now(), from(), &data[..end]);
        }
    }
}
