//! Senders that never set the marker bit, or set it on every packet, still get each press once:
//! presses are told apart by RTP timestamp, not by the marker.

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

/// Digits 1, 2, 3 of 100 ms each, 100 ms apart, with `marker(i)` deciding each packet's marker.
fn run(marker: impl Fn(usize) -> bool) -> Vec<(char, Duration)> {
    let t0 = Instant::now();
    let mut rx = Receiver::new(8000);
    let mut out = Vec::new();
    let mut n = 0;
    for (k, code) in [1u8, 2, 3].into_iter().enumerate() {
        let ts = 10_000 + k as u32 * 1600;
        let base = 200 * k as u64;
        let packets = [
            (0, false, 0),
            (50, false, 400),
            (100, true, 800),
            (120, true, 800),
            (140, true, 800),
        ];
        for (at, end, d) in packets {
            rx.handle_packet(
                t0 + Duration::from_millis(base + at),
                ts,
                marker(n),
                &block(code, end, d),
            );
            n += 1;
            while let Some(ev) = rx.poll_event() {
                out.push((ev.digit, ev.duration));
            }
        }
    }
    rx.handle_timeout(t0 + Duration::from_secs(10));
    while let Some(ev) = rx.poll_event() {
        out.push((ev.digit, ev.duration));
    }
    out
}

#[test]
fn marker_never_set() {
    let d = Duration::from_millis(100);
    assert_eq!(run(|_| false), vec![('1', d), ('2', d), ('3', d)]);
}

#[test]
fn marker_on_every_packet() {
    let d = Duration::from_millis(100);
    assert_eq!(run(|_| true), vec![('1', d), ('2', d), ('3', d)]);
}

#[test]
fn no_marker_and_no_end() {
    // Neither marker nor end packets: the new timestamp still starts a new press.
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut rx = Receiver::new(8000);
    rx.handle_packet(ms(0), 100, false, &block(4, false, 400));
    rx.handle_packet(ms(50), 100, false, &block(4, false, 800));
    rx.handle_packet(ms(120), 1700, false, &block(6, false, 400));
    rx.handle_packet(ms(170), 1700, false, &block(6, false, 800));
    rx.handle_timeout(ms(1000));
    let got: Vec<char> = std::iter::from_fn(|| rx.poll_event())
        .map(|e| e.digit)
        .collect();
    assert_eq!(got, vec!['4', '6']);
}
