//! Digits we send as RFC 4733 events, on a virtual 20 ms media clock through a real `RtpSession`: the
//! marker on the first packet only, an update every frame with the event's start timestamp, three end
//! packets with the E bit and the final duration; audio withheld from the first packet to the last end
//! packet while the timestamp clock runs on; one SSRC and one unbroken sequence for audio and events;
//! the next digit at start + duration + gap; and the receiver gets back exactly the digits sent.

mod support;

use std::time::{Duration, Instant};

use chorus_rtp::dtmf::rfc4733::{EventBlock, Receiver, SendError};
use chorus_rtp::dtmf::send::{DigitPlayer, FrameAction, MAX_QUEUE};
use chorus_rtp::session::RtpSession;
use support::{config, TE_PT};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// One packet on the wire, parsed back.
#[derive(Debug, Clone)]
struct Wire {
    frame: u32,
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

impl Wire {
    fn parse(frame: u32, b: &[u8]) -> Wire {
        Wire {
            frame,
            pt: b[1] & 0x7F,
            marker: b[1] & 0x80 != 0,
            seq: u16::from_be_bytes([b[2], b[3]]),
            ts: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            payload: b[12..].to_vec(),
        }
    }

    fn block(&self) -> EventBlock {
        EventBlock::parse(&self.payload).expect("an event block")
    }

    fn is_event(&self) -> bool {
        self.pt == TE_PT
    }
}

/// Runs `frames` frames of silence through a player and a session as `MediaStream::send_frame` does,
/// returning every packet sent and the frame after which the player went idle.
fn send(digits: &[(char, u64, u64)], frames: u32) -> (Vec<Wire>, Option<u32>) {
    let cfg = config(None);
    let mut session = RtpSession::new(cfg);
    let mut player = DigitPlayer::events(8000, TE_PT, MS(20));
    for &(d, dur, gap) in digits {
        player.queue(d, MS(dur), MS(gap)).unwrap();
    }
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut idle_after = None;
    for n in 0..frames {
        let mut frame = [0i16; 160];
        let ts = session.next_timestamp();
        let action = player.on_frame(t0 + MS(20) * n, ts, &mut frame);
        while let Some(ev) = player.poll_packet() {
            session.packetize_event(&ev, &mut buf);
            out.push(Wire::parse(n, &buf));
        }
        match action {
            FrameAction::Withhold => session.advance(frame.len()),
            FrameAction::Send => {
                session.packetize(&frame, &mut buf);
                out.push(Wire::parse(n, &buf));
            }
        }
        if idle_after.is_none() && !player.is_busy() {
            idle_after = Some(n);
        }
    }
    (out, idle_after)
}

#[test]
fn one_digit_on_the_wire() {
    let cfg = config(None);
    let (pkts, idle) = send(&[('1', 100, 100)], 12);
    // Frames 0-4 carry the event's start and updates, 5-7 its end packets, 8-9 the gap's audio, and
    // the digit is over after frame 9 (100 + 100 ms).
    assert_eq!(idle, Some(9));
    let events: Vec<&Wire> = pkts.iter().filter(|p| p.is_event()).collect();
    let audio: Vec<&Wire> = pkts.iter().filter(|p| !p.is_event()).collect();
    assert_eq!(
        events.iter().map(|p| p.frame).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5, 6, 7]
    );
    assert_eq!(
        audio.iter().map(|p| p.frame).collect::<Vec<_>>(),
        [8, 9, 10, 11],
        "no audio from the event's first packet to its last end packet"
    );
    let start_ts = cfg.initial_timestamp;
    for p in &events {
        assert_eq!(
            p.ts, start_ts,
            "every packet of the event has its start timestamp"
        );
        assert_eq!(p.block().code, 1);
        assert_eq!(p.block().volume, 7);
    }
    assert_eq!(
        events.iter().map(|p| p.marker).collect::<Vec<_>>(),
        [true, false, false, false, false, false, false, false]
    );
    assert_eq!(
        events.iter().map(|p| p.block().end).collect::<Vec<_>>(),
        [false, false, false, false, false, true, true, true]
    );
    assert_eq!(
        events
            .iter()
            .map(|p| p.block().duration)
            .collect::<Vec<_>>(),
        [0, 160, 320, 480, 640, 800, 800, 800]
    );
    // The timestamp clock ran through the event: audio resumes where it would have been, unmarked.
    assert_eq!(audio[0].ts, start_ts.wrapping_add(8 * 160));
    assert_eq!(audio[1].ts, start_ts.wrapping_add(9 * 160));
    assert!(audio.iter().all(|p| !p.marker));
    // One SSRC and one sequence for everything, across the 16-bit wrap (the config starts at 65534).
    let mut seq = cfg.initial_seq;
    for p in &pkts {
        assert_eq!(p.ssrc, cfg.ssrc);
        assert_eq!(p.seq, seq, "frame {}", p.frame);
        seq = seq.wrapping_add(1);
    }
}

#[test]
fn digits_follow_every_duration_plus_gap_and_come_back_once() {
    let keys = "1234#";
    let digits: Vec<(char, u64, u64)> = keys.chars().map(|c| (c, 100, 100)).collect();
    let (pkts, idle) = send(&digits, 60);
    assert_eq!(idle, Some(49), "5 digits of 200 ms");
    let starts: Vec<u32> = pkts
        .iter()
        .filter(|p| p.is_event() && p.marker)
        .map(|p| p.frame)
        .collect();
    assert_eq!(starts, [0, 10, 20, 30, 40]);
    // Per event: one start, four updates, three ends, and two frames of audio before the next.
    for (i, s) in starts.iter().enumerate() {
        let of: Vec<&Wire> = pkts
            .iter()
            .filter(|p| p.frame >= *s && p.frame < s + 10)
            .collect();
        assert_eq!(of.iter().filter(|p| p.is_event()).count(), 8, "digit {i}");
        assert_eq!(
            of.iter().filter(|p| p.is_event() && p.block().end).count(),
            3
        );
        assert_eq!(of.iter().filter(|p| !p.is_event()).count(), 2);
    }
    let t0 = Instant::now();
    let mut rx = Receiver::new(8000);
    let mut got = Vec::new();
    for p in pkts.iter().filter(|p| p.is_event()) {
        let now = t0 + MS(20) * p.frame;
        rx.handle_packet(now, p.ts, p.marker, &p.payload);
        got.extend(std::iter::from_fn(|| rx.poll_event()));
    }
    rx.handle_timeout(t0 + MS(5000));
    got.extend(std::iter::from_fn(|| rx.poll_event()));
    assert_eq!(got.iter().map(|e| e.digit).collect::<String>(), keys);
    assert!(got.iter().all(|e| e.duration == MS(100)), "{got:?}");
}

#[test]
fn durations_off_the_frame_clock_keep_exact_units_and_a_short_gap_waits_for_the_ends() {
    // 50 ms ends between frames: the end packets go out on the next frames (60, 80, 100 ms) carrying
    // exactly 400 units; a 40 ms gap puts the next digit at 90 ms, on frame 5 (100 ms), where the
    // first digit's last end packet goes out just before it.
    let (pkts, _) = send(&[('7', 50, 40), ('8', 50, 40)], 12);
    let ev: Vec<(u32, bool, bool, u8, u16)> = pkts
        .iter()
        .filter(|p| p.is_event())
        .map(|p| {
            let b = p.block();
            (p.frame, p.marker, b.end, b.code, b.duration)
        })
        .collect();
    assert_eq!(
        ev,
        [
            (0, true, false, 7, 0),
            (1, false, false, 7, 160),
            (2, false, false, 7, 320),
            (3, false, true, 7, 400),
            (4, false, true, 7, 400),
            (5, false, true, 7, 400),
            (5, true, false, 8, 0),
            (6, false, false, 8, 160),
            (7, false, false, 8, 320),
            (8, false, true, 8, 400),
            (9, false, true, 8, 400),
            (10, false, true, 8, 400),
        ]
    );
}

#[test]
fn a_digit_queued_later_starts_on_the_next_frame() {
    let mut session = RtpSession::new(config(None));
    let mut player = DigitPlayer::events(8000, TE_PT, MS(20));
    let t0 = Instant::now();
    let mut frame = [0i16; 160];
    for n in 0..3u32 {
        assert_eq!(
            player.on_frame(t0 + MS(20) * n, session.next_timestamp(), &mut frame),
            FrameAction::Send
        );
        assert!(player.poll_packet().is_none());
        session.advance(160);
    }
    assert!(!player.is_busy());
    player.queue('9', MS(40), MS(60)).unwrap();
    assert!(player.is_busy());
    let ts = session.next_timestamp();
    assert_eq!(
        player.on_frame(t0 + MS(60), ts, &mut frame),
        FrameAction::Withhold
    );
    let p = player.poll_packet().expect("the start");
    assert!(p.marker && p.timestamp == ts);
    assert_eq!(frame, [0i16; 160], "events leave the audio frame alone");
}

#[test]
fn refuses_what_it_cannot_play() {
    let mut player = DigitPlayer::events(8000, TE_PT, MS(20));
    assert_eq!(
        player.queue('x', MS(100), MS(100)),
        Err(SendError::NotADigit('x'))
    );
    assert_eq!(
        player.queue('1', MS(1001), MS(100)),
        Err(SendError::TooLong(MS(1001)))
    );
    assert_eq!(
        player.queue('1', Duration::ZERO, MS(100)),
        Err(SendError::TooLong(Duration::ZERO))
    );
    assert_eq!(
        player.queue('1', MS(100), Duration::from_secs(61)),
        Err(SendError::GapTooLong(Duration::from_secs(61)))
    );
    assert!(!player.is_busy());
    for _ in 0..MAX_QUEUE {
        player.queue('a', MS(40), MS(40)).unwrap();
    }
    assert_eq!(player.queue('1', MS(40), MS(40)), Err(SendError::QueueFull));
    assert_eq!(player.queued(), MAX_QUEUE);
    player.clear();
    assert!(!player.is_busy());
}
