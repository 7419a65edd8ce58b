//! Loud members: the 32-bit sum is clamped once, never wrapped around.

mod conference_common;

use chorus_rtp::conference::{MemberId, Mixer, MixerConfig};
use conference_common::Tone;

#[test]
fn loud_members_clamp_not_wrap() {
    for rate in [8000u32, 16000] {
        let mut mixer = Mixer::new(MixerConfig::default());
        let n = rate as usize / 50;
        for i in 0..6 {
            mixer.add_member(MemberId(i), rate).unwrap();
        }
        for _ in 0..10 {
            for i in 0..6 {
                mixer.push(MemberId(i), &vec![30000; n]).unwrap();
            }
            mixer.tick();
        }
        for i in 0..6 {
            let out = mixer.output(MemberId(i)).unwrap();
            assert!(
                out.iter().all(|&v| v == i16::MAX),
                "rate {rate}: {:?}",
                &out[..8]
            );
        }
        assert!(mixer.mix().iter().all(|&v| v == i16::MAX));
        // And the negative rail.
        for _ in 0..10 {
            for i in 0..6 {
                mixer.push(MemberId(i), &vec![-30000; n]).unwrap();
            }
            mixer.tick();
        }
        for i in 0..6 {
            let out = mixer.output(MemberId(i)).unwrap();
            assert!(
                out.iter().all(|&v| v == i16::MIN),
                "rate {rate}: {:?}",
                &out[..8]
            );
        }
    }
}

#[test]
fn loud_tones_keep_their_sign() {
    // Three in-phase full-scale sines: the sum of two others is 2x full scale. Where the true sum is
    // positive the output must not be negative, and vice versa.
    let mut mixer = Mixer::new(MixerConfig::default());
    let mut tones: Vec<Tone> = (0..3).map(|_| Tone::new(16000, 500.0, 32767.0)).collect();
    for i in 0..3 {
        mixer.add_member(MemberId(i), 16000).unwrap();
    }
    for _ in 0..20 {
        let mut reference = Vec::new();
        for (i, t) in tones.iter_mut().enumerate() {
            let f = t.frame();
            reference = f.clone();
            mixer.push(MemberId(i as u64), &f).unwrap();
        }
        mixer.tick();
        let out = mixer.output(MemberId(0)).unwrap();
        for (o, r) in out.iter().zip(&reference) {
            let want = (2 * i32::from(*r)).clamp(-32768, 32767);
            assert_eq!(i32::from(*o), want);
        }
    }
}
