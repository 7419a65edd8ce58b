//! Property test: random telephone-event payloads, timestamps, markers and arrival times never make
//! the receiver panic, and it never reports more presses than distinct (timestamp, code) keys it saw.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chorus_rtp::dtmf::rfc4733::Receiver;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn random_input_never_panics(
        rate in prop_oneof![Just(8000u32), Just(16000), Just(48000), Just(0), any::<u32>()],
        packets in prop::collection::vec(
            (0u64..500, any::<u32>(), 0u32..4, any::<bool>(), prop::collection::vec(any::<u8>(), 0..12)),
            0..200,
        ),
    ) {
        let t0 = Instant::now();
        let mut rx = Receiver::new(rate);
        let mut now = t0;
        let mut keys = HashSet::new();
        let mut reported = 0usize;
        let mut base = 0u32;
        for (dt, ts, pick, marker, payload) in packets {
            now += Duration::from_millis(dt);
            // Mostly a few nearby timestamps, so packets of one "press" meet; sometimes anything.
            let ts = if pick == 3 { ts } else { base.wrapping_add(pick * 0xFFFF / 2) };
            if dt > 400 { base = ts; }
            if payload.len() >= 4 && payload[0] <= 15 {
                keys.insert((ts, payload[0]));
            }
            rx.handle_packet(now, ts, marker, &payload);
            if dt % 7 == 0 {
                rx.handle_timeout(now);
            }
            while let Some(ev) = rx.poll_event() {
                prop_assert!(chorus_rtp::dtmf::digit_to_code(ev.digit).is_some());
                reported += 1;
            }
            let _ = rx.poll_timeout();
        }
        rx.handle_timeout(now + Duration::from_secs(3600));
        reported += std::iter::from_fn(|| rx.poll_event()).count();
        prop_assert!(reported <= keys.len());
        prop_assert_eq!(rx.poll_timeout(), None);
    }
}
