//! A member whose frames stop contributes silence; the room does not wait for it.

mod conference_common;

use chorus_rtp::conference::{MemberId, Mixer, MixerConfig};
use conference_common::{level_db, Tone};

#[test]
fn stalled_member_is_silence_not_a_stall() {
    let mut mixer = Mixer::new(MixerConfig::default());
    let (a, b, c) = (MemberId(1), MemberId(2), MemberId(3));
    for id in [a, b, c] {
        mixer.add_member(id, 8000).unwrap();
    }
    let mut ta = Tone::new(8000, 700.0, 6000.0);
    let mut tc = Tone::new(8000, 1900.0, 6000.0);
    let mut heard_b = Vec::new();
    for tick in 0..100 {
        mixer.push(a, &ta.frame()).unwrap();
        // c's packets stop after tick 30 (and b never sends at all).
        let fc = tc.frame();
        if tick < 30 {
            mixer.push(c, &fc).unwrap();
        }
        mixer.tick();
        heard_b.push(mixer.output(b).unwrap().to_vec());
    }
    let late = heard_b[40..].concat();
    assert!(level_db(&late, 8000, 700.0) > -20.0, "a still heard");
    assert!(level_db(&late, 8000, 1900.0) < -60.0, "c is silence");
    // a keeps hearing c until c stopped, and no frame of a's output is missing.
    let early = heard_b[5..30].concat();
    assert!(level_db(&early, 8000, 1900.0) > -20.0);
    assert!(heard_b.iter().all(|f| f.len() == 160));
}
