//! A press whose end packets are all lost is ended once, by the end timeout after its last packet,
//! with the longest duration seen; end packets arriving after that are ignored.

use std::time::{Duration, Instant};

use chorus_rtp::dtmf::rfc4733::{EventBlock, Receiver, DEFAULT_END_TIMEOUT};

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
fn timeout_ends_press_once() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut rx = Receiver::new(8000);
    rx.handle_packet(ms(0), 4242, true, &block(9, false, 0));
    rx.handle_packet(ms(50), 4242, false, &block(9, false, 400));
    rx.handle_packet(ms(100), 4242, false, &block(9, false, 800));
    let deadline = rx.poll_timeout().expect("deadline");
    assert_eq!(deadline, ms(100) + DEFAULT_END_TIMEOUT);
    rx.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(rx.poll_event(), None, "not before the deadline");
    rx.handle_timeout(deadline);
    let ev = rx.poll_event().expect("ended by timeout");
    assert_eq!((ev.digit, ev.duration), ('9', Duration::from_millis(100)));
    assert_eq!(rx.poll_timeout(), None);
    // The end packets were only late.
    for i in 0..3 {
        rx.handle_packet(
            deadline + Duration::from_millis(10 * i),
            4242,
            false,
            &block(9, true, 1200),
        );
    }
    rx.handle_timeout(ms(5000));
    assert_eq!(rx.poll_event(), None);
}

#[test]
fn next_packet_after_silence_also_ends_it() {
    // A shell that only calls handle_packet still gets the digit: expiry runs on every input.
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut rx = Receiver::new(8000);
    rx.handle_packet(ms(0), 100, true, &block(1, false, 0));
    rx.handle_packet(ms(50), 100, false, &block(1, false, 400));
    rx.handle_packet(ms(2000), 90_000, true, &block(2, false, 0));
    let ev = rx.poll_event().expect("first press ended");
    assert_eq!((ev.digit, ev.duration), ('1', Duration::from_millis(50)));
    assert_eq!(rx.poll_event(), None);
}

#[test]
fn custom_timeout() {
    let t0 = Instant::now();
    let mut rx = Receiver::new(8000).with_end_timeout(Duration::from_millis(500));
    rx.handle_packet(t0, 1, true, &block(3, false, 160));
    assert_eq!(rx.poll_timeout(), Some(t0 + Duration::from_millis(500)));
}
