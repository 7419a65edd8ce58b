//! Resynchronisation: a new SSRC or a timestamp jump flushes the buffer and playout restarts from
//! the new stream with the same delay.

mod jitter_harness;

use chorus_rtp::jitter::PushResult;
use jitter_harness::*;

fn restarted(second: Vec<Arrival>) {
    let mut jb = default_jb();
    let mut arrivals = stream(0, 0, 1, &[0; 20]);
    arrivals.extend(second);
    let (outs, pushes) = simulate(&mut jb, &arrivals, 50);
    assert_eq!(
        pushes.iter().filter(|p| **p == PushResult::Resync).count(),
        1
    );
    assert_eq!(jb.stats().resyncs, 1);
    let f = frames(&outs);
    let new: Vec<u16> = f.iter().map(|x| x.0).filter(|&s| s >= 40_000).collect();
    assert_eq!(
        new,
        (40_000..40_020).collect::<Vec<u16>>(),
        "the new stream plays whole"
    );
    let first_new = f.iter().find(|x| x.0 == 40_000).unwrap();
    assert_eq!(first_new.2, 20 + 3, "60 ms after it arrived");
    // The old stream played in order up to the switch; its last buffered frames were flushed.
    let old: Vec<u16> = f.iter().map(|x| x.0).filter(|&s| s < 40_000).collect();
    assert!(old.len() >= 16 && old.iter().enumerate().all(|(i, &s)| s == i as u16));
}

#[test]
fn ssrc_change_resyncs() {
    let mut second = stream(40_000, 123_456_789, 2, &[0; 20]);
    for a in &mut second {
        a.at_ms += 400;
        a.marker = false;
    }
    restarted(second);
}

#[test]
fn timestamp_jump_resyncs() {
    // Same SSRC, timestamps 10 s ahead (a peer that restarted its clock).
    let mut second = stream(40_000, 20 * F + 80_000, 1, &[0; 20]);
    for a in &mut second {
        a.at_ms += 400;
        a.marker = false;
    }
    restarted(second);
}

#[test]
fn timestamp_jump_backwards_resyncs() {
    let mut second = stream(40_000, 0u32.wrapping_sub(80_000), 1, &[0; 20]);
    for a in &mut second {
        a.at_ms += 400;
        a.marker = false;
    }
    restarted(second);
}
