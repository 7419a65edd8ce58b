//! Ten digits sent through a path that delays each packet by random jitter (so packets of one press
//! and of neighbouring presses arrive out of order) and duplicates some: each digit comes out exactly
//! once, in the order pressed, with its exact duration.

use std::time::{Duration, Instant};

use chorus_rtp::dtmf::rfc4733::{EventBlock, Receiver};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Pkt {
    at: Duration,
    ts: u32,
    marker: bool,
    payload: [u8; 4],
}

/// Packets as a sender emits them: digit i lasts `dur_ms[i]`, 100 ms gap between presses.
fn send(digits: &[u8], dur_ms: &[u64]) -> Vec<Pkt> {
    let mut out = Vec::new();
    let mut t = 0u64;
    let mut ts = 0xFFFF_F000u32; // wraps during the call
    for (&code, &dur) in digits.iter().zip(dur_ms) {
        let mut k = 0;
        while k * 50 < dur {
            let payload = EventBlock {
                code,
                end: false,
                volume: 10,
                duration: (k * 400) as u16,
            }
            .to_bytes();
            out.push(Pkt {
                at: Duration::from_millis(t + k * 50),
                ts,
                marker: k == 0,
                payload,
            });
            k += 1;
        }
        for e in 0..3 {
            let payload = EventBlock {
                code,
                end: true,
                volume: 10,
                duration: (dur * 8) as u16,
            }
            .to_bytes();
            out.push(Pkt {
                at: Duration::from_millis(t + dur + 20 * e),
                ts,
                marker: false,
                payload,
            });
        }
        let span = dur + 40 + 100;
        t += span;
        ts = ts.wrapping_add(span as u32 * 8);
    }
    out
}

fn run(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let digits: Vec<u8> = (0..10).collect();
    let dur_ms: Vec<u64> = (0..10).map(|_| rng.gen_range(40..300)).collect();
    let mut arrivals: Vec<(Duration, usize)> = Vec::new();
    let sent = send(&digits, &dur_ms);
    for (i, p) in sent.iter().enumerate() {
        let copies = if rng.gen_bool(0.3) { 2 } else { 1 };
        for _ in 0..copies {
            arrivals.push((p.at + Duration::from_millis(rng.gen_range(0..80)), i));
        }
    }
    arrivals.sort_by_key(|a| a.0);
    let t0 = Instant::now();
    let mut rx = Receiver::new(8000);
    let mut got = Vec::new();
    for (at, i) in arrivals {
        let p = &sent[i];
        let now = t0 + at;
        if let Some(deadline) = rx.poll_timeout() {
            if deadline <= now {
                rx.handle_timeout(deadline);
            }
        }
        rx.handle_packet(now, p.ts, p.marker, &p.payload);
        got.extend(std::iter::from_fn(|| rx.poll_event()));
    }
    rx.handle_timeout(t0 + Duration::from_secs(60));
    got.extend(std::iter::from_fn(|| rx.poll_event()));
    let digits_got: String = got.iter().map(|e| e.digit).collect();
    assert_eq!(digits_got, "0123456789", "seed {seed}");
    for (ev, d) in got.iter().zip(&dur_ms) {
        assert_eq!(
            ev.duration,
            Duration::from_millis(*d),
            "seed {seed} digit {}",
            ev.digit
        );
    }
}

#[test]
fn each_digit_once_in_order() {
    for seed in 0..200 {
        run(seed);
    }
}
