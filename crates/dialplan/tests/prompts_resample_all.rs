//! Regression: every shipped prompt resamples to 16 kHz (a G.722 call) and keeps its duration. Prompts
//! whose length ended on a resampler chunk boundary used to fail ("Insufficient buffer size 0").

use std::path::Path;

use chorus_dialplan::PromptCache;

#[test]
fn every_prompt_plays_at_8_and_16_khz() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prompts");
    let cache = PromptCache::new(&dir);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("prompts dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_suffix(".wav").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(names.len() > 10, "{names:?}");
    for name in &names {
        let narrow = cache
            .get(name, 8000)
            .unwrap_or_else(|e| panic!("{name} at 8 kHz: {e}"));
        let wide = cache
            .get(name, 16000)
            .unwrap_or_else(|e| panic!("{name} at 16 kHz: {e}"));
        let expected = narrow.samples.len() * 2;
        assert!(
            wide.samples.len().abs_diff(expected) <= 2,
            "{name}: {} samples at 16 kHz for {} at 8 kHz",
            wide.samples.len(),
            narrow.samples.len()
        );
    }
}
