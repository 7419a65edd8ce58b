//! Playout order and delay: an in-order stream passes with a constant delay, reordering within the
//! depth comes out in order with no loss, and sequence numbers and timestamps wrap.

mod jitter_harness;

use jitter_harness::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

#[test]
fn in_order_stream_has_constant_delay() {
    let mut jb = default_jb();
    let arrivals = stream(1000, 50_000, 7, &[5; 200]);
    let (outs, pushes) = simulate(&mut jb, &arrivals, 210);
    assert!(pushes
        .iter()
        .all(|p| *p == chorus_rtp::jitter::PushResult::Accepted));
    let f = frames(&outs);
    assert_eq!(f.len(), 200);
    for (i, &(seq, ts, tick)) in f.iter().enumerate() {
        assert_eq!(seq, 1000 + i as u16);
        assert_eq!(ts, 50_000 + 160 * i as u32);
        // Sent at tick i, arrived 5 ms later (pushed at tick i + 1), played 60 ms after that.
        assert_eq!(tick, i as u64 + 1 + 3, "constant delay for frame {i}");
    }
    let st = jb.stats();
    assert_eq!((st.lost, st.late, st.duplicates, st.resyncs), (0, 0, 0, 0));
    assert_eq!(st.received, 200);
    // Only the playout delay's worth of frames (plus the one arriving this tick) is ever held.
    assert!(st.max_depth <= 4, "max depth {}", st.max_depth);
}

#[test]
fn reordering_within_depth_comes_out_in_order() {
    for seed in 0..20 {
        let mut rng = StdRng::seed_from_u64(seed);
        // Network delay 0..=55 ms: packets overtake each other by up to 2 frames.
        let delays: Vec<u64> = (0..300).map(|_| rng.gen_range(0..=55)).collect();
        let mut jb = default_jb();
        let arrivals = stream(7, 1_000, 42, &delays);
        let (outs, pushes) = simulate(&mut jb, &arrivals, 320);
        assert!(
            pushes
                .iter()
                .all(|p| *p == chorus_rtp::jitter::PushResult::Accepted),
            "seed {seed}: {pushes:?}"
        );
        let f = frames(&outs);
        let seqs: Vec<u16> = f.iter().map(|x| x.0).collect();
        let want: Vec<u16> = (0..300).map(|i| 7 + i).collect();
        assert_eq!(seqs, want, "seed {seed}");
        // Played one per tick, without a gap.
        assert!(f.windows(2).all(|w| w[1].2 == w[0].2 + 1), "seed {seed}");
        assert_eq!(jb.stats().lost, 0, "seed {seed}");
    }
}

#[test]
fn first_packet_overtaken_still_plays_everything() {
    // Packet 1 arrives before packet 0: the clock is anchored on 1, then moved back for 0.
    let mut jb = default_jb();
    let arrivals = stream(100, 0, 1, &[30, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let (outs, _) = simulate(&mut jb, &arrivals, 20);
    let seqs: Vec<u16> = frames(&outs).iter().map(|x| x.0).collect();
    assert_eq!(seqs, (100..110).collect::<Vec<u16>>());
    assert_eq!(jb.stats().late, 0);
}

#[test]
fn sequence_and_timestamp_wrap() {
    let mut rng = StdRng::seed_from_u64(99);
    let delays: Vec<u64> = (0..100).map(|_| rng.gen_range(0..=40)).collect();
    let mut jb = default_jb();
    let ts0 = u32::MAX - 160 * 20 + 1;
    let arrivals = stream(65_500, ts0, 3, &delays);
    let (outs, _) = simulate(&mut jb, &arrivals, 110);
    let f = frames(&outs);
    assert_eq!(f.len(), 100);
    for (i, &(seq, ts, _)) in f.iter().enumerate() {
        assert_eq!(seq, 65_500u16.wrapping_add(i as u16));
        assert_eq!(ts, ts0.wrapping_add(160 * i as u32));
    }
    let st = jb.stats();
    assert_eq!((st.lost, st.late, st.resyncs), (0, 0, 0));
}
