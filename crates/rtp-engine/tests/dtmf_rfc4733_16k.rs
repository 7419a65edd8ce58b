//! telephone-event at 16 kHz (beside G.722): durations are counted in 16 kHz units.

use std::time::{Duration, Instant};

use chorus_rtp::dtmf::rfc4733::{EventBlock, Receiver, Sender};

#[test]
fn durations_at_16k() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut rx = Receiver::new(16_000);
    assert_eq!(rx.clock_rate(), 16_000);
    let b = |end, duration| {
        EventBlock {
            code: 3,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    };
    rx.handle_packet(ms(0), 90, true, &b(false, 0));
    rx.handle_packet(ms(50), 90, false, &b(false, 800));
    rx.handle_packet(ms(100), 90, false, &b(false, 1600));
    rx.handle_packet(ms(120), 90, false, &b(true, 1920));
    let ev = rx.poll_event().expect("digit");
    assert_eq!((ev.digit, ev.duration), ('3', Duration::from_millis(120)));
}

#[test]
fn sender_and_receiver_at_16k() {
    let t0 = Instant::now();
    let mut tx = Sender::new(16_000, 101);
    let mut rx = Receiver::new(16_000);
    tx.start(t0, '#', Duration::from_millis(250), 10).unwrap();
    let mut now = t0;
    let mut last_end = None;
    while let Some(deadline) = tx.poll_timeout() {
        now = now.max(deadline);
        while let Some(p) = tx.poll_packet(now, 5555) {
            if p.end {
                last_end = Some(u16::from_be_bytes([p.payload[2], p.payload[3]]));
            }
            rx.handle_packet(now, p.timestamp, p.marker, &p.payload);
        }
    }
    assert_eq!(last_end, Some(4000), "250 ms at 16 kHz");
    let ev = rx.poll_event().expect("digit");
    assert_eq!((ev.digit, ev.duration), ('#', Duration::from_millis(250)));
    assert_eq!(rx.poll_event(), None);
}
