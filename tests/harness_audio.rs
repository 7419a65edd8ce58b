//! The harness's audio checks find a tone where there is one and nowhere else, so a media test that
//! passes means the audio was right.

mod common;

use common::audio::{rms, tone_dominance, write_tone, Audio};

#[test]
fn goertzel_finds_the_tone_and_only_it() {
    let dir = common::scratch_dir("audio");
    let path = dir.join("t.wav");
    write_tone(&path, 8000, 1000.0, 1.0, 8000.0);
    let a = Audio::read(&path);
    assert_eq!(a.samples.len(), 8000);
    assert!((rms(&a.samples) - 8000.0 / 2f64.sqrt()).abs() < 50.0);
    assert!(tone_dominance(&a.samples, 8000, 1000.0) > 1000.0);
    assert!(tone_dominance(&a.samples, 8000, 600.0) < 1.0);
    assert_eq!(a.first_tone(1000.0, 500.0), Some(0.0));
    assert!((a.loud_seconds(500.0) - 1.0).abs() < 0.03);
    let silence = vec![0i16; 800];
    assert_eq!(rms(&silence), 0.0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ulaw_round_trips_within_quantisation() {
    use common::rtp::{ulaw_decode, ulaw_encode};
    for s in (-32768i32..=32767).step_by(7) {
        let s = s as i16;
        let back = ulaw_decode(ulaw_encode(s)) as i32;
        let err = (back - s as i32).abs();
        // µ-law steps grow with the level: at most 1/16 of the magnitude plus the smallest step.
        let bound = (s as i32).abs().min(32635) / 16 + 16 + ((s as i32).abs() - 32635).max(0);
        assert!(err <= bound, "{s} -> {back}");
    }
    assert_eq!(ulaw_encode(0), 0xff);
    assert_eq!(ulaw_decode(0xff), 0);
    assert_eq!(ulaw_decode(0x7f), 0);
}
