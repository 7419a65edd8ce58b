//! A press whose first packets are lost is still reported once: from a continuation on, or from the
//! end packets alone. Its start is placed back by the duration the first packet seen carries.

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
fn first_packet_seen_is_a_continuation() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut rx = Receiver::new(8000);
    rx.handle_packet(ms(100), 5000, false, &block(7, false, 800));
    rx.handle_packet(ms(150), 5000, false, &block(7, true, 1200));
    rx.handle_packet(ms(170), 5000, false, &block(7, true, 1200));
    let ev = rx.poll_event().expect("digit");
    assert_eq!((ev.digit, ev.duration), ('7', Duration::from_millis(150)));
    assert_eq!(ev.start, t0, "start estimated from the first duration seen");
    assert_eq!(rx.poll_event(), None);
}

#[test]
fn only_end_packets_arrive() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut rx = Receiver::new(8000);
    for i in 0..3 {
        rx.handle_packet(ms(200 + 20 * i), 800, false, &block(0, true, 1600));
    }
    let ev = rx.poll_event().expect("digit");
    assert_eq!((ev.digit, ev.duration), ('0', Duration::from_millis(200)));
    assert_eq!(ev.start, t0);
    rx.handle_timeout(ms(10_000));
    assert_eq!(rx.poll_event(), None);
}

#[test]
fn only_the_last_end_packet_arrives() {
    let t0 = Instant::now();
    let mut rx = Receiver::new(8000);
    rx.handle_packet(t0, 800, false, &block(10, true, 640));
    let ev = rx.poll_event().expect("digit");
    assert_eq!((ev.digit, ev.duration), ('*', Duration::from_millis(80)));
}
