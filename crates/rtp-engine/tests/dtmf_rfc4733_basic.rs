//! A well-formed press (start with marker, continuations, three end packets) is reported once, at the
//! first end packet, with the duration the end packets carry.

use std::time::{Duration, Instant};

use chorus_rtp::dtmf::rfc4733::{EventBlock, Receiver};
use chorus_rtp::dtmf::DtmfSource;

fn block(code: u8, end: bool, duration: u16) -> [u8; 4] {
    EventBlock {
        code,
        end,
        volume: 10,
        duration,
    }
    .to_bytes()
}

#[test]
fn one_press_reported_once_at_first_end() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut rx = Receiver::new(8000);
    rx.handle_packet(ms(0), 1000, true, &block(5, false, 0));
    for (i, d) in [400u16, 800].iter().enumerate() {
        rx.handle_packet(ms(50 * (i as u64 + 1)), 1000, false, &block(5, false, *d));
        assert_eq!(rx.poll_event(), None, "nothing before the end");
    }
    assert!(rx.poll_timeout().is_some(), "an open press has a deadline");
    rx.handle_packet(ms(150), 1000, false, &block(5, true, 1200));
    let ev = rx.poll_event().expect("reported at the first end packet");
    assert_eq!(ev.digit, '5');
    assert_eq!(ev.duration, Duration::from_millis(150));
    assert_eq!(ev.source, DtmfSource::Rfc4733);
    assert_eq!(ev.start, t0);
    assert_eq!(rx.poll_timeout(), None);
    // The two retransmissions and a straggling continuation change nothing.
    rx.handle_packet(ms(170), 1000, false, &block(5, true, 1200));
    rx.handle_packet(ms(175), 1000, false, &block(5, false, 800));
    rx.handle_packet(ms(190), 1000, false, &block(5, true, 1200));
    rx.handle_timeout(ms(10_000));
    assert_eq!(rx.poll_event(), None);
}

#[test]
fn volume_and_extra_blocks_ignored() {
    let t0 = Instant::now();
    let mut rx = Receiver::new(8000);
    let mut p = block(11, true, 800).to_vec();
    p[1] |= 0x3F; // loudest volume, and the reserved bit
    p[1] |= 0x40;
    p.extend_from_slice(&[1, 2, 3]); // a trailing partial block
    rx.handle_packet(t0, 7, false, &p);
    let ev = rx.poll_event().expect("digit");
    assert_eq!((ev.digit, ev.duration), ('#', Duration::from_millis(100)));
}

#[test]
fn short_payloads_and_non_digit_events_ignored() {
    let t0 = Instant::now();
    let mut rx = Receiver::new(8000);
    rx.handle_packet(t0, 1, true, &[]);
    rx.handle_packet(t0, 1, true, &[5, 0x80, 0]);
    rx.handle_packet(t0, 2, true, &block(16, true, 800)); // flash
    rx.handle_packet(t0, 3, true, &block(255, true, 800));
    rx.handle_timeout(t0 + Duration::from_secs(5));
    assert_eq!(rx.poll_event(), None);
    assert_eq!(rx.poll_timeout(), None);
}
