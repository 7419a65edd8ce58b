//! Talker detection: events on change, with hangover; silent members are skipped from the sum.

mod conference_common;

use chorus_rtp::conference::{MemberId, Mixer, MixerConfig, RoomEvent};
use conference_common::Tone;

#[test]
fn talking_and_silent_events_with_hangover() {
    let mut mixer = Mixer::new(MixerConfig {
        vad_level: 64,
        vad_hangover: 5,
    });
    let (a, b) = (MemberId(1), MemberId(2));
    mixer.add_member(a, 8000).unwrap();
    mixer.add_member(b, 16000).unwrap();
    let mut ta = Tone::new(8000, 500.0, 3000.0);
    let mut events = Vec::new();
    for tick in 0..40u32 {
        let f = ta.frame();
        // a talks for ticks 5..15, pauses 2 ticks (within hangover), talks 17..20, then is quiet.
        let talk = (5..15).contains(&tick) || (17..20).contains(&tick);
        mixer
            .push(a, if talk { &f } else { &[3i16; 160][..] })
            .unwrap();
        mixer.tick();
        while let Some(ev) = mixer.poll_event() {
            events.push((tick, ev));
        }
    }
    assert_eq!(
        events,
        vec![(5, RoomEvent::Talking(a)), (24, RoomEvent::Silent(a))]
    );
    assert!(!mixer.is_talking(a));
    assert!(!mixer.is_talking(b));
}

#[test]
fn a_talker_leaving_is_reported_silent() {
    let mut mixer = Mixer::new(MixerConfig::default());
    let a = MemberId(7);
    mixer.add_member(a, 16000).unwrap();
    mixer.push(a, &[5000; 320]).unwrap();
    mixer.tick();
    assert_eq!(mixer.poll_event(), Some(RoomEvent::Talking(a)));
    mixer.remove_member(a);
    assert_eq!(mixer.poll_event(), Some(RoomEvent::Silent(a)));
    assert_eq!(mixer.poll_event(), None);
}

#[test]
fn below_vad_level_is_left_out_and_level_zero_keeps_all() {
    // A member hissing at RMS 20 is left out of the mix by default ...
    let mut mixer = Mixer::new(MixerConfig::default());
    let (a, b) = (MemberId(1), MemberId(2));
    mixer.add_member(a, 16000).unwrap();
    mixer.add_member(b, 16000).unwrap();
    mixer.push(a, &[20; 320]).unwrap();
    mixer.tick();
    assert!(mixer.output(b).unwrap().iter().all(|&v| v == 0));
    // ... and kept with the detector off.
    let mut mixer = Mixer::new(MixerConfig {
        vad_level: 0,
        vad_hangover: 1,
    });
    mixer.add_member(a, 16000).unwrap();
    mixer.add_member(b, 16000).unwrap();
    mixer.push(a, &[20; 320]).unwrap();
    mixer.tick();
    assert!(mixer.output(b).unwrap().iter().all(|&v| v == 20));
}
