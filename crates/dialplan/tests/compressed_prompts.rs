//! Compressed prompts (FLAC, Ogg Vorbis, MP3) decode with symphonia to mono at the call's rate, are cached
//! and shared, and bad files are errors, never panics. The fixtures are 1 s of a 1 kHz sine made with sox:
//!
//! ```text
//! sox -n -r 22050 -c 2 tone-flac.flac synth 1.0 sine 1000        # FLAC, stereo, 22.05 kHz, 24-bit
//! sox -n -r 16000 -c 1 tone-ogg.ogg synth 1.0 sine 1000          # Ogg Vorbis, mono, 16 kHz
//! sox -n -r 8000 -c 1 -C -4.2 tone-mp3.mp3 synth 1.0 sine 1000   # MP3, mono, 8 kHz, VBR (a LAME tag: gapless)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chorus_dialplan::{Dialplan, PromptCache, PromptError};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prompts")
}

/// A fresh scratch directory for one test.
fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chorus-cprompt-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Power of `freq` in `pcm` at `rate` (Goertzel).
fn goertzel(pcm: &[i16], freq: f64, rate: u32) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in pcm {
        let s0 = f64::from(x) + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - k * s1 * s2
}

#[test]
fn each_format_decodes_to_a_one_second_1khz_tone_at_the_call_rate() {
    let cache = PromptCache::new(fixtures());
    for name in ["tone-flac", "tone-ogg", "tone-mp3"] {
        for rate in [8000u32, 16000] {
            let p = cache
                .get(name, rate)
                .unwrap_or_else(|e| panic!("{name} at {rate}: {e}"));
            assert_eq!(p.rate, rate, "{name}");
            let secs = p.samples.len() as f64 / f64::from(rate);
            assert!(
                (secs - 1.0).abs() <= 0.030,
                "{name} at {rate} Hz is {secs:.3} s long"
            );
            // The middle 80 %, away from the edges.
            let n = p.samples.len();
            let body = &p.samples[n / 10..n * 9 / 10];
            let at_1k = goertzel(body, 1000.0, rate);
            assert!(at_1k > 0.0, "{name} at {rate}: silent");
            for other in [300.0, 500.0, 700.0, 1500.0, 2000.0, 3000.0] {
                assert!(
                    at_1k > 100.0 * goertzel(body, other, rate),
                    "{name} at {rate}: 1 kHz must dominate {other} Hz"
                );
            }
            let again = cache.get(name, rate).unwrap();
            assert!(Arc::ptr_eq(&p, &again), "{name} at {rate}: cached");
            assert!(Arc::ptr_eq(&p.samples, &again.samples));
        }
    }
}

#[test]
fn lookup_order_is_wav_flac_ogg_mp3() {
    let dir = scratch("order");
    let f = fixtures();
    std::fs::copy(f.join("tone-ogg.ogg"), dir.join("p.ogg")).unwrap();
    std::fs::copy(f.join("tone-mp3.mp3"), dir.join("p.mp3")).unwrap();
    let found = chorus_dialplan::prompt::find_prompt(&dir, "p").unwrap();
    assert_eq!(found.extension().unwrap(), "ogg");
    std::fs::copy(f.join("tone-flac.flac"), dir.join("p.flac")).unwrap();
    let found = chorus_dialplan::prompt::find_prompt(&dir, "p").unwrap();
    assert_eq!(found.extension().unwrap(), "flac");
    std::fs::write(dir.join("p.wav"), b"").unwrap();
    let found = chorus_dialplan::prompt::find_prompt(&dir, "p").unwrap();
    assert_eq!(found.extension().unwrap(), "wav");
    assert!(chorus_dialplan::prompt::find_prompt(&dir, "q").is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_truncated_and_garbage_files_are_errors() {
    let dir = scratch("bad");
    let f = fixtures();
    let flac = std::fs::read(f.join("tone-flac.flac")).unwrap();
    let ogg = std::fs::read(f.join("tone-ogg.ogg")).unwrap();
    let mp3 = std::fs::read(f.join("tone-mp3.mp3")).unwrap();
    std::fs::write(dir.join("garbage.flac"), b"this is not a flac file at all").unwrap();
    std::fs::write(dir.join("garbage.ogg"), [0u8; 512]).unwrap();
    std::fs::write(dir.join("garbage.mp3"), b"ID3 nope").unwrap();
    std::fs::write(dir.join("empty.flac"), b"").unwrap();
    std::fs::write(dir.join("header-only.flac"), &flac[..40]).unwrap();
    std::fs::write(dir.join("half.flac"), &flac[..flac.len() / 2]).unwrap();
    std::fs::write(dir.join("half.ogg"), &ogg[..ogg.len() / 2]).unwrap();
    // A FLAC whose audio frames are overwritten: the frame CRCs fail.
    let mut smashed = flac.clone();
    let from = smashed.len() / 3;
    for (i, b) in smashed[from..from + 2000].iter_mut().enumerate() {
        *b = (i * 131 % 251) as u8;
    }
    std::fs::write(dir.join("smashed.flac"), &smashed).unwrap();
    let cache = PromptCache::new(&dir);
    for name in ["garbage", "empty", "header-only", "half", "smashed"] {
        match cache.get(name, 8000) {
            Err(e @ PromptError::Decode { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.starts_with(&format!("prompt '{name}' cannot be decoded: ")),
                    "{msg}"
                );
            }
            other => panic!("{name}: expected a decode error, got {other:?}"),
        }
    }
    // The other formats' garbage and truncations (half an MP3 decodes, but short of its LAME tag's length).
    for (file, bytes) in [
        ("g.ogg", &[0u8; 512][..]),
        ("g.mp3", &b"ID3 nope"[..]),
        ("h.ogg", &ogg[..ogg.len() / 2]),
        ("h.mp3", &mp3[..mp3.len() / 2]),
        ("s.mp3", &mp3[..100]),
    ] {
        let sub = dir.join("sub");
        let _ = std::fs::remove_dir_all(&sub);
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(file), bytes).unwrap();
        let stem = file.split('.').next().unwrap();
        match PromptCache::new(&sub).get(stem, 8000) {
            Err(PromptError::Decode { .. }) => {}
            other => panic!("{file}: expected a decode error, got {other:?}"),
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_odd_sample_rate_is_a_clear_error() {
    let cache = PromptCache::new(fixtures());
    match cache.get("tone-ogg", 1000) {
        Err(e @ PromptError::UnsupportedRate { .. }) => {
            assert_eq!(
                e.to_string(),
                "prompt 'tone-ogg' is at 16000 Hz and cannot be resampled to 1000 Hz"
            );
        }
        other => panic!("expected UnsupportedRate, got {other:?}"),
    }
}

#[test]
fn check_accepts_a_prompt_that_exists_only_as_flac() {
    let dir = scratch("check");
    std::fs::copy(fixtures().join("tone-flac.flac"), dir.join("tone.flac")).unwrap();
    let plan = "routes:\n  - name: t\n    match: t\n    steps: [answer, {play: tone}, {play: missing}, hangup]\n";
    let diags = Dialplan::parse("x.yaml", plan, Some(&dir)).unwrap_err();
    let msgs: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].contains("prompt 'missing' not found"), "{msgs:?}");
    let ok = "routes:\n  - name: t\n    match: t\n    steps: [answer, {play: tone}, hangup]\n";
    Dialplan::parse("x.yaml", ok, Some(&dir)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
