//! Bounded memory and robustness: floods of packets far in the future or with random fields never
//! grow the buffer past its slots, and random push/pop sequences never panic.

mod jitter_harness;

use std::time::{Duration, Instant};

use chorus_rtp::jitter::{JitterBuffer, JitterConfig, Playout, PushResult, MAX_PAYLOAD};
use jitter_harness::*;
use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

#[test]
fn slot_count_follows_depth() {
    assert_eq!(default_jb().capacity(), 2 * 3 + 2);
    let huge = JitterBuffer::new(JitterConfig {
        depth: Duration::from_secs(3600),
        ..JitterConfig::default()
    });
    assert_eq!(huge.capacity(), 2 * 50 + 2, "depth clamped to 1 s");
    let zero = JitterBuffer::new(JitterConfig {
        clock_rate: 0,
        frame_samples: 0,
        depth: Duration::ZERO,
    });
    assert!(zero.capacity() >= 4);
}

#[test]
fn flood_far_in_the_future_stays_bounded() {
    let mut jb = default_jb();
    let t0 = Instant::now();
    for i in 0..20u16 {
        let _ = jb.push(t0, i, u32::from(i) * F, 1, false, &[1; 160]);
    }
    for i in 0..10_000u32 {
        let now = t0 + Duration::from_millis(u64::from(i));
        let r = jb.push(
            now,
            1000 + i as u16,
            100_000 * F + i * 7 * F,
            1,
            false,
            &[2; 160],
        );
        assert_ne!(r, PushResult::Invalid);
        assert!(jb.len() <= jb.capacity());
        if i % 20 == 0 {
            let _ = jb.pop(now);
        }
    }
    assert!(jb.stats().max_depth <= jb.capacity());
    assert!(jb.stats().resyncs > 0);
}

#[test]
fn flood_of_random_packets_stays_bounded() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut jb = default_jb();
    let t0 = Instant::now();
    for i in 0..10_000u64 {
        let now = t0 + Duration::from_millis(i);
        let len = rng.gen_range(0..=MAX_PAYLOAD + 10);
        let payload = vec![0xAB; len];
        let _ = jb.push(
            now,
            rng.gen(),
            rng.gen(),
            rng.gen_range(0..3),
            rng.gen(),
            &payload,
        );
        assert!(jb.len() <= jb.capacity());
        if rng.gen_bool(0.3) {
            if let Some(Playout::Frame { payload, .. }) = jb.pop(now) {
                assert!(!payload.is_empty() && payload.len() <= MAX_PAYLOAD);
            }
        }
    }
    let st = jb.stats();
    assert!(st.max_depth <= jb.capacity());
    assert!(st.invalid > 0);
}

#[derive(Clone, Debug)]
enum Op {
    Push {
        dseq: i16,
        dframes: i32,
        jitter: u32,
        ssrc: u32,
        marker: bool,
        len: usize,
    },
    Pop,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            any::<i16>(),
            -100i32..200,
            prop_oneof![Just(0u32), any::<u32>()],
            0u32..3,
            any::<bool>(),
            0usize..400
        )
            .prop_map(|(dseq, dframes, jitter, ssrc, marker, len)| Op::Push {
                dseq,
                dframes,
                jitter,
                ssrc,
                marker,
                len
            }),
        Just(Op::Pop),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_push_pop_never_panics(
        ops in proptest::collection::vec(op(), 0..400),
        seq0 in any::<u16>(),
        ts0 in any::<u32>(),
        depth_ms in 0u64..300,
        frame in prop_oneof![Just(160u32), Just(320), 1u32..2000],
    ) {
        let mut jb = JitterBuffer::new(JitterConfig { clock_rate: 8000, frame_samples: frame, depth: Duration::from_millis(depth_ms) });
        let t0 = Instant::now();
        let payload = [0x55u8; 400];
        let mut last_played: Option<u32> = None;
        for (i, op) in ops.into_iter().enumerate() {
            let now = t0 + Duration::from_millis(i as u64);
            match op {
                Op::Push { dseq, dframes, jitter, ssrc, marker, len } => {
                    let seq = seq0.wrapping_add(dseq as u16);
                    let ts = ts0.wrapping_add((dframes as u32).wrapping_mul(frame)).wrapping_add(jitter);
                    let r = jb.push(now, seq, ts, ssrc, marker, &payload[..len]);
                    if r == PushResult::Resync {
                        last_played = None;
                    }
                }
                Op::Pop => {
                    if let Some(Playout::Frame { timestamp, .. }) = jb.pop(now) {
                        // Within one stream, frames come out in timestamp order.
                        if let Some(prev) = last_played {
                            prop_assert!((timestamp.wrapping_sub(prev) as i32) > 0);
                        }
                        last_played = Some(timestamp);
                    }
                }
            }
            prop_assert!(jb.len() <= jb.capacity());
        }
    }
}
