//! The sender's packets: marker on the first only, a continuation every 50 ms, three end packets with
//! the E bit and the same final duration, one timestamp per event, a gap between digits; and what it
//! sends comes out of the receiver as the same digits with the same durations.

use std::time::{Duration, Instant};

use chorus_rtp::dtmf::rfc4733::{
    EventBlock, EventPacket, Receiver, SendError, Sender, CONTINUATION_INTERVAL, INTER_DIGIT_GAP,
};

/// Runs the sender on a 20 ms media clock (timestamps advance 160 per tick at 8 kHz), collecting
/// every packet with its send time.
fn drive(tx: &mut Sender, t0: Instant, ticks: u32) -> Vec<(Instant, EventPacket)> {
    let mut out = Vec::new();
    for n in 0..ticks {
        let now = t0 + Duration::from_millis(20) * n;
        let media_ts = 1000 + 160 * n;
        while let Some(p) = tx.poll_packet(now, media_ts) {
            out.push((now, p));
        }
    }
    out
}

fn block(p: &EventPacket) -> EventBlock {
    EventBlock::parse(&p.payload).unwrap()
}

#[test]
fn packet_shapes() {
    let t0 = Instant::now();
    let mut tx = Sender::new(8000, 101);
    assert!(!tx.is_active());
    tx.start(t0, '4', Duration::from_millis(160), 10).unwrap();
    let pkts = drive(&mut tx, t0, 30);
    // On a 20 ms tick: start at 0, the 50 ms continuation goes out at 60 ms carrying its scheduled
    // 400, the 100 ms one on time; at 160 ms the event is over, so the ends replace the 150 ms one.
    let times: Vec<u64> = pkts
        .iter()
        .map(|(t, _)| (*t - t0).as_millis() as u64)
        .collect();
    assert_eq!(times, vec![0, 60, 100, 160, 180, 200]);
    let markers: Vec<bool> = pkts.iter().map(|(_, p)| p.marker).collect();
    assert_eq!(markers, vec![true, false, false, false, false, false]);
    let ends: Vec<bool> = pkts.iter().map(|(_, p)| p.end).collect();
    assert_eq!(ends, vec![false, false, false, true, true, true]);
    let durs: Vec<u16> = pkts.iter().map(|(_, p)| block(p).duration).collect();
    assert_eq!(durs, vec![0, 400, 800, 1280, 1280, 1280]);
    for (_, p) in &pkts {
        assert_eq!(p.timestamp, 1000, "one timestamp per event");
        assert_eq!(p.payload_type, 101);
        let b = block(p);
        assert_eq!((b.code, b.volume, b.end), (4, 10, p.end));
    }
    assert!(!tx.is_active());
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn exact_schedule_on_deadlines() {
    let t0 = Instant::now();
    let mut tx = Sender::new(8000, 96);
    tx.start(t0, '1', Duration::from_millis(120), 10).unwrap();
    tx.start(t0, '2', Duration::from_millis(100), 10).unwrap();
    let mut now = t0;
    let mut pkts = Vec::new();
    let mut guard = 0;
    while let Some(d) = tx.poll_timeout() {
        guard += 1;
        assert!(guard < 100, "sender must finish");
        now = now.max(d);
        let ts = ((now - t0).as_millis() as u32) * 8;
        while let Some(p) = tx.poll_packet(now, ts) {
            assert!(tx.is_active() || p.end, "active while playing");
            pkts.push(((now - t0).as_millis() as u64, p));
        }
    }
    let first: Vec<_> = pkts
        .iter()
        .filter(|(_, p)| p.timestamp == 0)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(first, vec![0, 50, 100, 120, 140, 160]);
    let second: Vec<_> = pkts.iter().filter(|(_, p)| p.timestamp != 0).collect();
    let start2 = second[0].0;
    assert_eq!(start2, 160 + INTER_DIGIT_GAP.as_millis() as u64);
    assert_eq!(
        second[0].1.timestamp,
        start2 as u32 * 8,
        "timestamp is the media clock at start"
    );
    assert!(second[0].1.marker);
    assert_eq!(
        second[1].0 - start2,
        CONTINUATION_INTERVAL.as_millis() as u64
    );
    assert_eq!(second.iter().filter(|(_, p)| p.end).count(), 3);
    assert_eq!(second.iter().filter(|(_, p)| p.marker).count(), 1);
}

#[test]
fn round_trip_every_digit() {
    let t0 = Instant::now();
    let mut tx = Sender::new(8000, 101);
    let mut rx = Receiver::new(8000);
    let digits = "1234567890*#ABCD";
    let durs: Vec<Duration> = (0..digits.len())
        .map(|i| Duration::from_millis(40 + 37 * i as u64))
        .collect();
    for (c, d) in digits.chars().zip(&durs) {
        tx.start(t0, c, *d, 10).unwrap();
    }
    let mut got = Vec::new();
    for n in 0..2000u32 {
        let now = t0 + Duration::from_millis(10) * n;
        while let Some(p) = tx.poll_packet(now, 80 * n) {
            rx.handle_packet(now, p.timestamp, p.marker, &p.payload);
        }
        rx.handle_timeout(now);
        got.extend(std::iter::from_fn(|| rx.poll_event()));
    }
    let s: String = got.iter().map(|e| e.digit).collect();
    assert_eq!(s, digits);
    for (ev, d) in got.iter().zip(&durs) {
        // 8 kHz units are 125 µs: durations round down to them.
        let want = Duration::from_nanos(d.as_nanos() as u64 / 125_000 * 125_000);
        assert_eq!(ev.duration, want, "digit {}", ev.digit);
    }
}

#[test]
fn refuses_bad_requests() {
    let t0 = Instant::now();
    let mut tx = Sender::new(8000, 101);
    assert_eq!(
        tx.start(t0, 'x', Duration::from_millis(100), 10),
        Err(SendError::NotADigit('x'))
    );
    assert_eq!(
        tx.start(t0, '1', Duration::from_millis(100), 64),
        Err(SendError::Volume(64))
    );
    let long = Duration::from_secs(9);
    assert_eq!(tx.start(t0, '1', long, 10), Err(SendError::TooLong(long)));
    assert_eq!(tx.pending(), 0);
    for _ in 0..64 {
        tx.start(t0, '1', Duration::from_millis(40), 10).unwrap();
    }
    assert_eq!(
        tx.start(t0, '1', Duration::from_millis(40), 10),
        Err(SendError::QueueFull)
    );
}
