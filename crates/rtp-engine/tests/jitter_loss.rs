//! Loss: a missing frame with later ones buffered is reported once as lost and playout goes on;
//! nothing buffered is an underrun, not a loss; concealment repeats and fades, then goes silent.

mod jitter_harness;

use chorus_rtp::jitter::{conceal, CONCEAL_FRAMES};
use jitter_harness::*;

#[test]
fn one_lost_packet_is_one_lost_frame() {
    let mut jb = default_jb();
    let mut arrivals = stream(500, 8_000, 9, &[3; 30]);
    arrivals.remove(12);
    let (outs, _) = simulate(&mut jb, &arrivals, 40);
    let lost: Vec<&Out> = outs.iter().filter(|o| matches!(o, Out::Lost(_))).collect();
    assert_eq!(lost, [&Out::Lost(8_000 + 12 * F)]);
    let f = frames(&outs);
    assert_eq!(f.len(), 29);
    // The frame after the loss plays at its own tick: the delay did not change.
    let i13 = f.iter().find(|x| x.0 == 513).unwrap();
    let i11 = f.iter().find(|x| x.0 == 511).unwrap();
    assert_eq!(i13.2, i11.2 + 2);
    assert_eq!(jb.stats().lost, 1);
}

#[test]
fn silence_from_the_peer_is_an_underrun() {
    let mut jb = default_jb();
    let arrivals = stream(0, 0, 9, &[0; 10]);
    let (outs, _) = simulate(&mut jb, &arrivals, 30);
    assert!(outs.ends_with(&[Out::Empty; 10]));
    assert_eq!(jb.stats().lost, 0);
    assert!(jb.stats().underruns >= 10);
}

#[test]
fn talkspurt_after_silence_is_played_with_the_same_delay() {
    let mut jb = default_jb();
    let mut arrivals = stream(0, 0, 9, &[0; 10]);
    // 400 ms of silence (timestamps advance, sequence numbers do not), then a marked talkspurt.
    let mut spurt = stream(10, 30 * F, 9, &[0; 10]);
    for a in &mut spurt {
        a.at_ms += 30 * 20;
    }
    arrivals.extend(spurt);
    let (outs, _) = simulate(&mut jb, &arrivals, 50);
    let f = frames(&outs);
    assert_eq!(f.len(), 20);
    assert_eq!(
        f[10],
        (10, 30 * F, 30 + 3),
        "first frame of the spurt 60 ms after it arrived"
    );
    assert_eq!(jb.stats().lost, 0);
}

#[test]
fn concealment_repeats_fades_then_silences() {
    let prev: Vec<i16> = (0..160)
        .map(|i| if i % 2 == 0 { 10_000 } else { -10_000 })
        .collect();
    let mut out = vec![0i16; 160];
    let mut peaks = Vec::new();
    for n in 1..=CONCEAL_FRAMES + 2 {
        conceal(&prev, &mut out, n);
        peaks.push(out.iter().map(|s| s.unsigned_abs()).max().unwrap());
        // Same waveform shape, only quieter.
        assert!(out
            .iter()
            .zip(&prev)
            .all(|(o, p)| o.signum() == p.signum() || *o == 0));
    }
    assert_eq!(
        peaks[0], 10_000,
        "the first lost frame starts at full level"
    );
    assert!(peaks
        .windows(2)
        .take(CONCEAL_FRAMES as usize)
        .all(|w| w[1] < w[0]));
    assert_eq!(
        peaks[CONCEAL_FRAMES as usize], 0,
        "silence after {CONCEAL_FRAMES} frames"
    );
    // Nothing to repeat: silence.
    conceal(&[], &mut out, 1);
    assert!(out.iter().all(|&s| s == 0));
}
