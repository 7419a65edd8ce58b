//! Dropped packets: duplicates (buffered or already played) and packets later than the window.

mod jitter_harness;

use chorus_rtp::jitter::PushResult;
use jitter_harness::*;

#[test]
fn duplicates_are_dropped() {
    let mut jb = default_jb();
    let mut arrivals = stream(10, 0, 5, &[0; 50]);
    // Packet 20 twice while buffered, packet 30 again long after it played.
    arrivals.push(Arrival {
        at_ms: 20 * 20 + 1,
        ..arrivals[20]
    });
    arrivals.push(Arrival {
        at_ms: 20 * 40,
        ..arrivals[30]
    });
    let (outs, pushes) = simulate(&mut jb, &arrivals, 60);
    assert_eq!(
        pushes
            .iter()
            .filter(|p| **p == PushResult::Duplicate)
            .count(),
        2
    );
    let seqs: Vec<u16> = frames(&outs).iter().map(|x| x.0).collect();
    assert_eq!(
        seqs,
        (10..60).collect::<Vec<u16>>(),
        "each frame once, in order"
    );
    let st = jb.stats();
    assert_eq!((st.duplicates, st.late, st.lost), (2, 0, 0));
}

#[test]
fn packet_later_than_window_is_dropped() {
    let mut jb = default_jb();
    let mut delays = [0u64; 40];
    delays[15] = 100; // 100 ms late: 40 ms after its 60 ms playout delay ran out
    let arrivals = stream(0, 0, 5, &delays);
    let (outs, pushes) = simulate(&mut jb, &arrivals, 50);
    assert_eq!(pushes.iter().filter(|p| **p == PushResult::Late).count(), 1);
    let st = jb.stats();
    assert_eq!((st.late, st.lost, st.resyncs), (1, 1, 0));
    // It was concealed in its place, and the stream went on.
    assert!(outs.contains(&Out::Lost(15 * F)));
    let seqs: Vec<u16> = frames(&outs).iter().map(|x| x.0).collect();
    let want: Vec<u16> = (0..40).filter(|&s| s != 15).collect();
    assert_eq!(seqs, want);
}
