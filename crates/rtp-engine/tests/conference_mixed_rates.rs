//! 8 kHz and 16 kHz members in one room: each hears the others at the right frequency.

mod conference_common;

use chorus_rtp::conference::{MemberId, Mixer, MixerConfig};
use conference_common::{level_db, run, Tone};

#[test]
fn narrow_and_wide_hear_each_other() {
    let mut mixer = Mixer::new(MixerConfig::default());
    let (n, w) = (MemberId(1), MemberId(2));
    mixer.add_member(n, 8000).unwrap();
    mixer.add_member(w, 16000).unwrap();
    let mut members = vec![
        (n, Tone::new(8000, 1000.0, 8000.0)),
        (w, Tone::new(16000, 2500.0, 8000.0)),
    ];
    let heard = run(&mut mixer, &mut members, 50);
    let nar = &heard[0][800..];
    let wide = &heard[1][1600..];
    // The 8 kHz member's 1 kHz reaches the 16 kHz member at 1 kHz, at its level (-12.3 dBFS).
    let l = level_db(wide, 16000, 1000.0);
    assert!((l + 12.3).abs() < 0.5, "1 kHz at {l:.1} dB");
    assert!(level_db(wide, 16000, 2500.0) < -60.0, "not its own tone");
    // Images of the upsampling (7 kHz) stay out.
    assert!(level_db(wide, 16000, 7000.0) < -60.0);
    // And the 16 kHz member's 2.5 kHz reaches the 8 kHz member at 2.5 kHz.
    let l = level_db(nar, 8000, 2500.0);
    assert!((l + 12.3).abs() < 0.5, "2.5 kHz at {l:.1} dB");
    assert!(level_db(nar, 8000, 1000.0) < -60.0);
}

#[test]
fn wideband_content_above_4k_does_not_alias_for_narrow_members() {
    let mut mixer = Mixer::new(MixerConfig::default());
    let (n, w) = (MemberId(1), MemberId(2));
    mixer.add_member(n, 8000).unwrap();
    mixer.add_member(w, 16000).unwrap();
    let mut members = vec![
        (n, Tone::new(8000, 0.0, 0.0)),
        (w, Tone::new(16000, 6000.0, 16000.0)),
    ];
    let heard = run(&mut mixer, &mut members, 50);
    // 6 kHz would fold to 2 kHz at 8 kHz.
    let l = level_db(&heard[0][800..], 8000, 2000.0);
    assert!(l < -55.0, "alias at {l:.1} dB");
}

#[test]
fn many_narrow_listeners_share_one_mix_seamlessly() {
    // One wideband talker, five 8 kHz listeners joining at different ticks: all of them hear the same
    // continuous tone (the shared downsampler and each listener's own one agree).
    let mut mixer = Mixer::new(MixerConfig::default());
    let talker = MemberId(100);
    mixer.add_member(talker, 16000).unwrap();
    let mut tone = Tone::new(16000, 1000.0, 8000.0);
    let mut heard: Vec<Vec<i16>> = vec![Vec::new(); 5];
    for tick in 0..60 {
        if tick % 5 == 0 && tick / 5 < 5 {
            mixer.add_member(MemberId(tick / 5), 8000).unwrap();
        }
        mixer.push(talker, &tone.frame()).unwrap();
        // Listener 0 talks now and then (quietly below the VAD level, then loudly), switching between its
        // own mix-minus and the shared mix.
        if tick % 7 == 0 {
            mixer.push(MemberId(0), &[0; 160]).unwrap();
        }
        mixer.tick();
        for (k, h) in heard.iter_mut().enumerate() {
            if let Some(out) = mixer.output(MemberId(k as u64)) {
                h.extend_from_slice(out);
            }
        }
    }
    let last: Vec<&[i16]> = heard.iter().map(|h| &h[h.len() - 1600..]).collect();
    for h in &last[1..] {
        assert_eq!(*h, last[0], "listeners hear the same samples");
    }
    let l = level_db(last[0], 8000, 1000.0);
    assert!((l + 12.3).abs() < 0.5, "{l:.1} dB");
}
