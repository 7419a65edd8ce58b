//! RFC 3550 A.8 interarrival jitter on synthetic arrivals whose jitter is known.

use std::time::{Duration, Instant};

use chorus_rtp::rtcp::ReceptionStats;

/// 500 packets of 20 ms at 8 kHz; packet `i` arrives `offset(i)` after its nominal time.
fn run(offset: impl Fn(u32) -> Duration) -> ReceptionStats {
    let t0 = Instant::now();
    let mut rs = ReceptionStats::new(8000);
    for i in 0..500u32 {
        let arrival = t0 + Duration::from_millis(20 * u64::from(i)) + offset(i);
        rs.on_rtp(
            arrival,
            3000u16.wrapping_add(i as u16),
            12_345 + 160 * i,
            0xAA,
        );
    }
    rs
}

#[test]
fn constant_delay_has_no_jitter() {
    let rs = run(|_| Duration::from_millis(37));
    assert_eq!(rs.jitter(), 0);
    assert_eq!(rs.jitter_ms(), 0.0);
}

#[test]
fn alternating_delay_converges_to_its_step() {
    // Every packet's transit differs from the previous one by 10 ms = 80 units: J -> 80.
    let rs = run(|i| Duration::from_millis(if i % 2 == 0 { 5 } else { 15 }));
    assert!((79..=80).contains(&rs.jitter()), "jitter {}", rs.jitter());
    assert!(
        (rs.jitter_ms() - 10.0).abs() < 0.2,
        "jitter {} ms",
        rs.jitter_ms()
    );
}

#[test]
fn single_spike_decays_by_a_sixteenth() {
    let t0 = Instant::now();
    let mut rs = ReceptionStats::new(8000);
    // Two packets to end probation, then one 16 ms late: |D| = 128 units, J = 128 / 16 = 8.
    rs.on_rtp(t0, 1, 0, 1);
    rs.on_rtp(t0 + Duration::from_millis(20), 2, 160, 1);
    rs.on_rtp(t0 + Duration::from_millis(40), 3, 320, 1);
    assert_eq!(rs.jitter(), 0);
    rs.on_rtp(t0 + Duration::from_millis(76), 4, 480, 1);
    assert_eq!(rs.jitter(), 8);
    // Back on time: |D| = 128 again, J = 8 + (128 - 8) / 16 = 15.5.
    rs.on_rtp(t0 + Duration::from_millis(80), 5, 640, 1);
    assert_eq!(rs.jitter(), 15);
}
