//! Report interval (RFC 3550 §6.2): the first after half the interval, then the interval, each
//! randomized to 0.5..1.5 of it, deterministic for a seed.

use std::time::{Duration, Instant, SystemTime};

use chorus_rtp::rtcp::{RtcpConfig, RtcpSession};

fn intervals(seed: u64, n: usize) -> Vec<Duration> {
    let t0 = Instant::now();
    let mut s = RtcpSession::new(
        RtcpConfig::new(1, "x", 8000, seed),
        t0,
        SystemTime::UNIX_EPOCH,
    );
    let mut prev = t0;
    let mut out = Vec::new();
    for _ in 0..n {
        let at = s.poll_timeout().unwrap();
        assert_eq!(
            s.handle_timeout(at - Duration::from_millis(1)),
            None,
            "not due yet"
        );
        assert!(s.handle_timeout(at).is_some());
        out.push(at - prev);
        prev = at;
    }
    out
}

#[test]
fn intervals_are_randomized_within_bounds() {
    let all: Vec<Duration> = (0..20).flat_map(|seed| intervals(seed, 50)).collect();
    for (i, d) in all.iter().enumerate() {
        let (lo, hi) = if i % 50 == 0 {
            (1250, 3750)
        } else {
            (2500, 7500)
        };
        assert!(
            *d >= Duration::from_millis(lo) && *d < Duration::from_millis(hi),
            "{d:?}"
        );
    }
    // Spread over the range, not stuck at one value.
    let later: Vec<f64> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 50 != 0)
        .map(|(_, d)| d.as_secs_f64())
        .collect();
    let mean = later.iter().sum::<f64>() / later.len() as f64;
    assert!((mean - 5.0).abs() < 0.2, "mean {mean}");
    assert!(later.iter().any(|&d| d < 3.0) && later.iter().any(|&d| d > 7.0));
}

#[test]
fn same_seed_same_schedule() {
    assert_eq!(intervals(42, 10), intervals(42, 10));
    assert_ne!(intervals(42, 10), intervals(43, 10));
}
