//! RFC 3550 A.1/A.3 loss counting: gaps, duplicates, reordering, sequence wraparound, and the
//! fraction lost per report interval.

use std::time::{Duration, Instant};

use chorus_rtp::rtcp::ReceptionStats;

fn feed(seqs: &[u16]) -> (ReceptionStats, Instant) {
    let t0 = Instant::now();
    let mut rs = ReceptionStats::new(8000);
    for (i, &s) in seqs.iter().enumerate() {
        rs.on_rtp(
            t0 + Duration::from_millis(20 * i as u64),
            s,
            u32::from(s) * 160,
            0x55,
        );
    }
    (rs, t0 + Duration::from_secs(60))
}

#[test]
fn gaps_are_lost() {
    // 100..=199 minus 5 packets. The first packet is the probation one (A.1), not counted.
    let seqs: Vec<u16> = (100..200)
        .filter(|s| ![120, 121, 150, 170, 199].contains(s))
        .collect();
    let (mut rs, now) = feed(&seqs);
    assert_eq!(
        rs.cumulative_lost(),
        4,
        "199 was never seen, so it is not expected either"
    );
    assert_eq!(rs.extended_max_seq(), Some(198));
    let block = rs.report_block(now).unwrap();
    assert_eq!(block.total_lost, 4);
    assert_eq!(block.extended_highest_seq, 198);
    // 4 of 98 expected: 4 * 256 / 98 = 10.
    assert_eq!(block.fraction_lost, 10);
}

#[test]
fn duplicates_make_loss_negative() {
    let mut seqs: Vec<u16> = (0..50).collect();
    seqs.extend([40, 41, 42]);
    let (rs, _) = feed(&seqs);
    assert_eq!(rs.cumulative_lost(), -3);
}

#[test]
fn reordering_is_not_loss() {
    let seqs = [10, 11, 13, 12, 15, 14, 16, 18, 17, 19];
    let (mut rs, now) = feed(&seqs);
    assert_eq!(rs.cumulative_lost(), 0);
    assert_eq!(rs.extended_max_seq(), Some(19));
    assert_eq!(rs.report_block(now).unwrap().fraction_lost, 0);
}

#[test]
fn wraparound_counts_cycles() {
    let seqs: Vec<u16> = (0..200u32)
        .map(|i| (65_436 + i) as u16)
        .filter(|&s| s != 3)
        .collect();
    let (rs, _) = feed(&seqs);
    assert_eq!(rs.cumulative_lost(), 1);
    assert_eq!(rs.extended_max_seq(), Some(65_536 + 99));
}

#[test]
fn fraction_lost_is_per_interval() {
    let t0 = Instant::now();
    let mut rs = ReceptionStats::new(8000);
    let mut seq = 0u16;
    let mut at = t0;
    let mut send = |rs: &mut ReceptionStats, n: u16, drop_every: u16| {
        for _ in 0..n {
            if drop_every == 0 || seq % drop_every != 1 {
                rs.on_rtp(at, seq, u32::from(seq) * 160, 9);
            }
            seq = seq.wrapping_add(1);
            at += Duration::from_millis(20);
        }
    };
    send(&mut rs, 101, 0);
    assert_eq!(rs.report_block(t0).unwrap().fraction_lost, 0);
    send(&mut rs, 100, 4); // a quarter lost in this interval
    let b = rs.report_block(t0).unwrap();
    assert_eq!(b.fraction_lost, 64);
    assert_eq!(b.total_lost, 25);
    send(&mut rs, 100, 0);
    assert_eq!(
        rs.report_block(t0).unwrap().fraction_lost,
        0,
        "a clean interval after a lossy one"
    );
    assert!(
        rs.report_block(t0).is_none(),
        "nothing heard since the last report"
    );
}

#[test]
fn ssrc_change_keeps_call_totals() {
    let t0 = Instant::now();
    let mut rs = ReceptionStats::new(8000);
    for s in (0..50u16).filter(|s| *s != 10) {
        rs.on_rtp(t0, s, 0, 1);
    }
    for s in (9000..9050u16).filter(|s| *s != 9020 && *s != 9021) {
        rs.on_rtp(t0, s, 0, 2);
    }
    assert_eq!(rs.ssrc(), Some(2));
    assert_eq!(rs.cumulative_lost(), 3);
    assert_eq!(rs.packets(), 97);
}
