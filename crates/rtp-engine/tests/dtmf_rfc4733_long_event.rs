//! A press longer than the 16-bit duration field allows is one press: split into segments with new
//! timestamps as RFC 4733 §2.5.1.3 says, or sent by a peer that lets the field wrap around.

use std::time::{Duration, Instant};

use chorus_rtp::dtmf::rfc4733::{EventBlock, Receiver};

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
fn segmented_long_press_is_one_press() {
    let t0 = Instant::now();
    let mut rx = Receiver::new(8000);
    let ts0 = 0xFFFF_0000u32; // the second segment's timestamp wraps
                              // Segment 1: 0xFFFF units (8.19 s) reported every 50 ms, saturating at the maximum.
    let mut t = 0u64;
    let mut d = 0u32;
    loop {
        rx.handle_packet(
            t0 + Duration::from_millis(t),
            ts0,
            t == 0,
            &block(8, false, d as u16),
        );
        assert_eq!(rx.poll_event(), None);
        if d == 0xFFFF {
            break;
        }
        t += 50;
        d = (d + 400).min(0xFFFF);
    }
    // Segment 2: new timestamp one full field later, no marker, 1.5 s more, then the end.
    let ts1 = ts0.wrapping_add(0xFFFF);
    for k in 1..=30u64 {
        rx.handle_packet(
            t0 + Duration::from_millis(t + 50 * k),
            ts1,
            false,
            &block(8, false, (k * 400) as u16),
        );
        // A straggler of segment 1 must not reopen it.
        rx.handle_packet(
            t0 + Duration::from_millis(t + 50 * k),
            ts0,
            false,
            &block(8, false, 0xFFFF),
        );
        assert_eq!(rx.poll_event(), None);
    }
    for e in 0..3 {
        rx.handle_packet(
            t0 + Duration::from_millis(t + 1500 + 20 * e),
            ts1,
            false,
            &block(8, true, 12_000),
        );
    }
    rx.handle_timeout(t0 + Duration::from_secs(60));
    let got: Vec<_> = std::iter::from_fn(|| rx.poll_event()).collect();
    assert_eq!(got.len(), 1, "{got:?}");
    let want = Duration::from_nanos((0xFFFFu64 + 12_000) * 1_000_000_000 / 8000);
    assert_eq!(got[0].digit, '8');
    assert_eq!(got[0].duration, want);
    assert_eq!(got[0].start, t0);
}

#[test]
fn wrapping_duration_field_is_unwrapped() {
    let t0 = Instant::now();
    let mut rx = Receiver::new(8000);
    // 10 s at 8 kHz = 80_000 units: the field wraps once.
    let total: u64 = 80_000;
    let mut units = 0u64;
    let mut t = 0u64;
    while units < total {
        rx.handle_packet(
            t0 + Duration::from_millis(t),
            777,
            units == 0,
            &block(1, false, units as u16),
        );
        units += 400;
        t += 50;
    }
    // Reordering across the wrap: a late pre-wrap packet must not shorten or split the press.
    rx.handle_packet(
        t0 + Duration::from_millis(t),
        777,
        false,
        &block(1, false, 0xFE00),
    );
    for e in 0..3 {
        rx.handle_packet(
            t0 + Duration::from_millis(t + 20 * e),
            777,
            false,
            &block(1, true, total as u16),
        );
    }
    rx.handle_timeout(t0 + Duration::from_secs(60));
    let got: Vec<_> = std::iter::from_fn(|| rx.poll_event()).collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].duration, Duration::from_secs(10));
}
