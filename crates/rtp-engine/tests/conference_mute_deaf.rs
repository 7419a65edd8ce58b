//! Muted members are heard by nobody; deaf members hear silence; gain scales a member.

mod conference_common;

use chorus_rtp::conference::{MemberId, Mixer, MixerConfig};
use conference_common::{level_db, run, Tone};

fn room() -> (Mixer, Vec<(MemberId, Tone)>) {
    let mut mixer = Mixer::new(MixerConfig::default());
    let freqs = [600.0, 1300.0, 2100.0];
    let members = freqs
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let id = MemberId(i as u64);
            mixer.add_member(id, 8000).unwrap();
            (id, Tone::new(8000, f, 6000.0))
        })
        .collect();
    (mixer, members)
}

#[test]
fn muted_member_is_not_heard() {
    let (mut mixer, mut members) = room();
    mixer.set_muted(MemberId(0), true).unwrap();
    let heard = run(&mut mixer, &mut members, 40);
    for out in &heard[1..] {
        assert!(level_db(&out[800..], 8000, 600.0) < -60.0);
    }
    // The muted member still hears the others.
    assert!(level_db(&heard[0][800..], 8000, 1300.0) > -20.0);
    assert!(level_db(&heard[0][800..], 8000, 2100.0) > -20.0);
    // Unmuted, it is heard again.
    mixer.set_muted(MemberId(0), false).unwrap();
    let heard = run(&mut mixer, &mut members, 20);
    assert!(level_db(&heard[1][320..], 8000, 600.0) > -20.0);
}

#[test]
fn deaf_member_hears_silence_and_is_heard() {
    let (mut mixer, mut members) = room();
    mixer.set_deaf(MemberId(0), true).unwrap();
    let heard = run(&mut mixer, &mut members, 40);
    assert!(heard[0].iter().all(|&v| v == 0));
    assert!(level_db(&heard[1][800..], 8000, 600.0) > -20.0);
    mixer.set_deaf(MemberId(0), false).unwrap();
    let heard = run(&mut mixer, &mut members, 20);
    assert!(level_db(&heard[0][320..], 8000, 1300.0) > -20.0);
}

#[test]
fn gain_scales_a_member() {
    let (mut mixer, mut members) = room();
    let base = run(&mut mixer, &mut members, 30);
    let l0 = level_db(&base[1][800..], 8000, 600.0);
    mixer.set_gain(MemberId(0), 0.5).unwrap();
    let half = run(&mut mixer, &mut members, 30);
    let l1 = level_db(&half[1][800..], 8000, 600.0);
    assert!((l0 - l1 - 6.02).abs() < 0.3, "{l0:.2} -> {l1:.2}");
}
