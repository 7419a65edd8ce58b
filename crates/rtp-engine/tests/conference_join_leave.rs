//! Members join and leave between any two ticks; the others carry on without a gap.

mod conference_common;

use chorus_rtp::conference::{MemberId, Mixer, MixerConfig, MixerError};
use conference_common::{level_db, Tone};

#[test]
fn join_and_leave_mid_stream() {
    let mut mixer = Mixer::new(MixerConfig::default());
    let (a, b, c) = (MemberId(1), MemberId(2), MemberId(3));
    let mut ta = Tone::new(8000, 600.0, 6000.0);
    let mut tb = Tone::new(16000, 1500.0, 6000.0);
    let mut tc = Tone::new(8000, 2200.0, 6000.0);
    mixer.add_member(a, 8000).unwrap();
    mixer.add_member(b, 16000).unwrap();
    let mut heard_a: Vec<Vec<i16>> = Vec::new();
    for tick in 0..60 {
        if tick == 20 {
            mixer.add_member(c, 8000).unwrap();
        }
        if tick == 40 {
            assert!(mixer.remove_member(c));
        }
        mixer.push(a, &ta.frame()).unwrap();
        mixer.push(b, &tb.frame()).unwrap();
        if mixer.contains(c) {
            mixer.push(c, &tc.frame()).unwrap();
        } else {
            // Frames of a member that left are refused, not mixed.
            assert_eq!(
                mixer.push(c, &tc.frame()),
                Err(MixerError::UnknownMember(c))
            );
        }
        mixer.tick();
        let out = mixer.output(a).unwrap();
        assert_eq!(out.len(), 160, "a frame every tick");
        heard_a.push(out.to_vec());
    }
    let span = |from: usize, to: usize| heard_a[from..to].concat();
    let before = span(5, 20);
    let during = span(22, 40);
    let after = span(42, 60);
    assert!(level_db(&before, 8000, 2200.0) < -60.0);
    assert!(level_db(&during, 8000, 2200.0) > -20.0);
    assert!(level_db(&after, 8000, 2200.0) < -60.0);
    for part in [&before, &during, &after] {
        assert!(level_db(part, 8000, 1500.0) > -20.0, "b heard throughout");
    }
    assert_eq!(mixer.output(c), None);
    assert!(!mixer.remove_member(c));
    assert_eq!(mixer.len(), 2);
}

#[test]
fn bad_requests_are_errors() {
    let mut mixer = Mixer::new(MixerConfig::default());
    assert_eq!(
        mixer.add_member(MemberId(1), 44100),
        Err(MixerError::UnsupportedRate(44100))
    );
    mixer.add_member(MemberId(1), 8000).unwrap();
    assert_eq!(
        mixer.add_member(MemberId(1), 8000),
        Err(MixerError::Duplicate(MemberId(1)))
    );
    // Odd frame sizes are padded or cut, never a panic.
    mixer.push(MemberId(1), &[1000; 7]).unwrap();
    mixer.tick();
    mixer.push(MemberId(1), &[1000; 4000]).unwrap();
    mixer.tick();
    mixer.push(MemberId(1), &[]).unwrap();
    mixer.tick();
    assert_eq!(mixer.output(MemberId(1)).unwrap().len(), 160);
    mixer.set_gain(MemberId(1), f32::NAN).unwrap();
    mixer.set_gain(MemberId(1), f32::INFINITY).unwrap();
    mixer.tick();
    // An empty room ticks too.
    assert!(mixer.remove_member(MemberId(1)));
    mixer.tick();
    assert!(mixer.is_empty());
}
