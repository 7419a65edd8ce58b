//! The same digit pressed twice in quick succession is two presses (new RTP timestamp), even when
//! the first press lost its end packets and the marker bit is missing.

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

fn digits(rx: &mut Receiver) -> String {
    std::iter::from_fn(|| rx.poll_event())
        .map(|e| e.digit)
        .collect()
}

#[test]
fn five_five_quickly() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut rx = Receiver::new(8000);
    // 80 ms press, 50 ms gap, 80 ms press.
    rx.handle_packet(ms(0), 1000, true, &block(5, false, 0));
    rx.handle_packet(ms(50), 1000, false, &block(5, false, 400));
    for i in 0..3 {
        rx.handle_packet(ms(80 + 10 * i), 1000, false, &block(5, true, 640));
    }
    rx.handle_packet(ms(130), 2040, true, &block(5, false, 0));
    rx.handle_packet(ms(180), 2040, false, &block(5, false, 400));
    for i in 0..3 {
        rx.handle_packet(ms(210 + 10 * i), 2040, false, &block(5, true, 640));
    }
    rx.handle_timeout(ms(5000));
    assert_eq!(digits(&mut rx), "55");
}

#[test]
fn five_five_first_end_lost_no_marker() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut rx = Receiver::new(8000);
    rx.handle_packet(ms(0), 1000, false, &block(5, false, 0));
    rx.handle_packet(ms(50), 1000, false, &block(5, false, 400));
    rx.handle_packet(ms(130), 2040, false, &block(5, false, 0));
    rx.handle_packet(ms(180), 2040, false, &block(5, true, 640));
    let got: Vec<_> = std::iter::from_fn(|| rx.poll_event()).collect();
    assert_eq!(
        got.len(),
        2,
        "the second press ends the wait for the first: {got:?}"
    );
    assert_eq!(got[0].duration, Duration::from_millis(50));
    assert_eq!(got[1].duration, Duration::from_millis(80));
    rx.handle_timeout(ms(5000));
    assert_eq!(digits(&mut rx), "");
}
