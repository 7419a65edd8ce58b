//! Each member hears every other member's tone and not its own (own tone at least 30 dB below).

mod conference_common;

use chorus_rtp::conference::{MemberId, Mixer, MixerConfig};
use conference_common::{level_db, run, Tone};

/// `amp` small enough that the others' sum never clips (clipping would be intermodulation, not leakage).
fn check(rate: u32, freqs: &[f64], amp: f64) {
    let mut mixer = Mixer::new(MixerConfig::default());
    let mut members: Vec<(MemberId, Tone)> = freqs
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let id = MemberId(i as u64 + 1);
            mixer.add_member(id, rate).unwrap();
            (id, Tone::new(rate, f, amp))
        })
        .collect();
    let heard = run(&mut mixer, &mut members, 50);
    let per_tick = rate as usize / 50;
    for (i, out) in heard.iter().enumerate() {
        // Skip the first ticks (resampler start-up).
        let steady = &out[5 * per_tick..];
        let own = level_db(steady, rate, freqs[i]);
        for (k, &f) in freqs.iter().enumerate() {
            if k == i {
                continue;
            }
            let other = level_db(steady, rate, f);
            assert!(
                other > -25.0,
                "member {i} hears {f} Hz at only {other:.1} dB"
            );
            assert!(
                own < other - 30.0,
                "member {i}: own {} Hz at {own:.1} dB, {f} Hz at {other:.1} dB",
                freqs[i]
            );
        }
    }
    // The room mix (recording) holds everyone.
    let mix = mixer.mix();
    assert_eq!(mix.len(), 320);
}

#[test]
fn four_wideband_members() {
    check(16000, &[440.0, 1000.0, 1700.0, 2900.0], 6000.0);
}

#[test]
fn three_narrowband_members() {
    check(8000, &[540.0, 1420.0, 1790.0], 6000.0);
}

#[test]
fn ten_members() {
    let f: Vec<f64> = (0..10).map(|i| 300.0 + 290.0 * i as f64).collect();
    check(8000, &f, 3000.0);
}

#[test]
fn recording_tap_holds_everyone() {
    let freqs = [540.0, 1420.0, 1790.0];
    let mut mixer = Mixer::new(MixerConfig::default());
    let mut members: Vec<(MemberId, Tone)> = freqs
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let id = MemberId(i as u64);
            mixer.add_member(id, 8000).unwrap();
            (id, Tone::new(8000, f, 6000.0))
        })
        .collect();
    let mut rec = Vec::new();
    for _ in 0..30 {
        for (id, t) in members.iter_mut() {
            mixer.push(*id, &t.frame()).unwrap();
        }
        mixer.tick();
        rec.extend_from_slice(mixer.mix());
    }
    for f in freqs {
        let l = level_db(&rec[3200..], 16000, f);
        assert!(l > -20.0, "{f} Hz at {l:.1} dB in the room mix");
    }
}
