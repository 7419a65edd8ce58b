//! The demo's `ivr` route with a real user agent (PJSUA2), one test per branch of its menu. Keys go by
//! RFC 2833 at set times after media is up (`--dtmf-at T:KEYS`); the welcome prompt has barge-in and keys
//! typed ahead count for the menu, so a key during the welcome chooses at once.
//! - `1`: the goodbye prompt, then Chorus hangs up (end_reason server_bye), long before the menu prompt
//!   could have played;
//! - `2`: the record flow: beep, record until `#`, hang up; the recording holds the caller's tone;
//! - `9`: the invalid-choice prompt, the menu again, then `1` ends the call as above;
//! - no key: no-input after each of 3 tries, then goodbye and hang up. The demo's 6.9 s menu prompt and
//!   5 s timeout make that 43 s, so the fast test runs the same menu from tests/dialplans/ivr-short.yaml
//!   (0.4 s beep as the menu prompt, 1 s timeout); the demo's own 43 s run is tested too, in parallel.

mod common;

use std::time::Duration;

use common::audio::{envelope_similarity, rms, tone_share, write_tone, Audio};
use common::recording::Recording;
use common::{pjsua_call_args, repo_root, Chorus, PjCall};

/// Frame RMS above this is speech.
const SPEECH: f64 = 200.0;

fn prompt(name: &str) -> Audio {
    Audio::read(&repo_root().join("prompts").join(format!("{name}.wav")))
}

/// Calls `ivr` and waits for Chorus to hang up; returns call.py's result, what the caller heard, and the
/// call log line.
fn call_ivr(
    chorus: &Chorus,
    what: &str,
    keys: &[&str],
    play: Option<&std::path::Path>,
    limit: f64,
) -> (serde_json::Value, Audio, serde_json::Value) {
    let dir = common::scratch_dir(what);
    let heard = dir.join("heard.wav");
    let mut extra = vec![];
    for k in keys {
        extra.push("--dtmf-at");
        extra.push(k);
    }
    let result = pjsua_call_args(
        chorus.sip_addr(),
        &PjCall {
            user: "ivr",
            play,
            record: &heard,
            seconds: limit,
            wait_bye: true,
            codec: Some("PCMU"),
        },
        &extra,
    );
    assert_eq!(result["connected"], true, "{what}: {result}");
    assert!(result["error"].is_null(), "{what}: {result}");
    assert_eq!(
        result["remote_bye"], true,
        "{what}: Chorus should hang up: {result}"
    );
    let audio = Audio::read(&heard);
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let call = log[0].clone();
    assert_eq!(call["route"], "ivr", "{call}");
    assert_eq!(call["end_reason"], "server_bye", "{what}: {call}");
    eprintln!(
        "{what}: BYE after {} s, keys {}, heard {:.2} s of speech",
        result["duration"],
        result["dtmf_times"],
        audio.loud_seconds(SPEECH)
    );
    std::fs::remove_dir_all(dir).unwrap();
    (result, audio, call)
}

/// The last `seconds` of speech before the end of `audio` (trailing silence dropped).
fn last_speech(audio: &Audio, seconds: f64) -> Audio {
    let rms = audio.frame_rms();
    let end = rms
        .iter()
        .rposition(|r| *r > SPEECH)
        .map(|i| (i + 1) as f64 * 0.02)
        .unwrap_or(audio.seconds());
    Audio {
        rate: audio.rate,
        samples: audio.slice(end - seconds, end).to_vec(),
    }
}

#[test]
fn key_1_says_goodbye_and_hangs_up() {
    let chorus = Chorus::start("dialplans/demo.yaml");
    let (result, heard, call) = call_ivr(&chorus, "ivr-1", &["0.5:1"], None, 12.0);
    assert_eq!(call["dtmf"], "1", "{call}");
    let goodbye = prompt("goodbye");
    let duration = result["duration"].as_f64().unwrap();
    // Welcome cut at the key (barge-in), the menu prompt skipped (key typed ahead), then goodbye.
    assert!(
        duration < 0.5 + 0.5 + goodbye.seconds() + 1.0,
        "BYE after {duration:.2} s: the key should cut the welcome and choose at once"
    );
    let tail = last_speech(&heard, goodbye.seconds() + 0.2);
    let similarity = envelope_similarity(&goodbye, &tail, 0.3);
    assert!(
        similarity > 0.7,
        "the last thing heard is not the goodbye prompt (envelope correlation {similarity:.2})"
    );
}

#[test]
fn key_2_runs_the_record_flow() {
    let chorus = Chorus::start("dialplans/demo.yaml");
    let dir = common::scratch_dir("ivr-2-tone");
    let tone = dir.join("tone.wav");
    write_tone(&tone, 8000, 700.0, 6.0, 8000.0);
    let (_result, heard, call) = call_ivr(&chorus, "ivr-2", &["0.5:2", "3.5:#"], Some(&tone), 12.0);
    assert_eq!(call["dtmf"], "2#", "{call}");
    let rec = Recording::only_of(&chorus.recordings_dir(), &call);
    let name = rec.path.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with("ivr-"),
        "the ivr record flow names its recordings ivr-{{timestamp}}: {name}"
    );
    assert!(
        call["vars"]["recording"]
            .as_str()
            .is_some_and(|v| v.ends_with(&name)),
        "vars.recording should name {name}: {call}"
    );
    // '2' at 0.5 s cuts the welcome (~0.7 s), the beep takes 0.4 s, '#' at 3.5 s: about 2.4 s recorded.
    let secs = rec.audio.seconds();
    assert!(
        (1.6..=3.2).contains(&secs),
        "recording is {secs:.2} s, expected about 2.4 s"
    );
    let body = rec.audio.slice(0.2, secs - 0.4);
    let share = tone_share(body, 8000, 700.0);
    assert!(
        rms(body) > 2000.0 && share > 0.8,
        "the recording does not hold the caller's tone: rms {:.0}, share {share:.2}",
        rms(body)
    );
    rec.check_sidecar(&call);
    // The beep was heard before the recording.
    let beep = heard.first_tone(1000.0, 1000.0);
    assert!(
        beep.is_some_and(|t| t < 1.5),
        "no beep heard after choosing 2 (first 1 kHz frame at {beep:?})"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn key_9_is_invalid_then_the_menu_again() {
    let chorus = Chorus::start("dialplans/demo.yaml");
    let (result, heard, call) = call_ivr(&chorus, "ivr-9", &["0.5:9", "5.0:1"], None, 15.0);
    assert_eq!(call["dtmf"], "91", "{call}");
    let invalid = prompt("invalid");
    let goodbye = prompt("goodbye");
    let duration = result["duration"].as_f64().unwrap();
    // 9 at 0.5 s: invalid prompt (2.2 s, no barge-in) until ~3 s, the menu prompt again, cut by 1 at 5 s,
    // goodbye: BYE near 6 s. Without the second key the menu would run to ~10 s and time out at ~15 s.
    assert!(
        (5.0 + goodbye.seconds()..5.0 + goodbye.seconds() + 1.5).contains(&duration),
        "BYE after {duration:.2} s, expected soon after the second key at 5 s plus the goodbye"
    );
    // The invalid-choice prompt right after the 9 (it starts where the welcome was cut).
    let window = Audio {
        rate: heard.rate,
        samples: heard.slice(0.4, 0.6 + invalid.seconds() + 0.8).to_vec(),
    };
    let similarity = envelope_similarity(&invalid, &window, 0.6);
    eprintln!("invalid prompt envelope correlation {similarity:.2}");
    assert!(
        similarity > 0.7,
        "the invalid-choice prompt was not heard after 9 (envelope correlation {similarity:.2})"
    );
    // The menu prompt again between the invalid prompt and the second key.
    let menu = heard.slice(0.9 + invalid.seconds() + 0.3, 5.0);
    let menu_speech = Audio {
        rate: heard.rate,
        samples: menu.to_vec(),
    }
    .loud_seconds(SPEECH);
    assert!(
        menu_speech >= 0.8,
        "the menu prompt should play again after the invalid prompt ({menu_speech:.2} s of speech)"
    );
    let tail = last_speech(&heard, goodbye.seconds() + 0.2);
    let similarity = envelope_similarity(&goodbye, &tail, 0.3);
    assert!(
        similarity > 0.7,
        "the last thing heard is not the goodbye prompt (envelope correlation {similarity:.2})"
    );
}

/// No key at all: a no-input prompt after each try, goodbye after the third, BYE.
fn no_key(dialplan: &str, menu_prompt: &str, timeout: f64) {
    let chorus = Chorus::start(dialplan);
    let welcome = prompt("welcome");
    let menu = prompt(menu_prompt);
    let no_input = prompt("no-input");
    let goodbye = prompt("goodbye");
    let expected = welcome.seconds()
        + 3.0 * (menu.seconds() + timeout + no_input.seconds())
        + goodbye.seconds();
    let (result, heard, call) = call_ivr(&chorus, "ivr-none", &[], None, expected + 8.0);
    assert_eq!(call["dtmf"], "", "{call}");
    let duration = result["duration"].as_f64().unwrap();
    assert!(
        (duration - expected).abs() <= 1.5,
        "BYE after {duration:.2} s; welcome, 3 × (menu, {timeout} s timeout, no-input) and goodbye take {expected:.2} s"
    );
    // Speech for about all the prompts, silence for the three timeouts.
    let speech = heard.loud_seconds(SPEECH);
    let prompts_speech = welcome.loud_seconds(SPEECH)
        + 3.0 * (menu.loud_seconds(SPEECH) + no_input.loud_seconds(SPEECH))
        + goodbye.loud_seconds(SPEECH);
    assert!(
        (speech - prompts_speech).abs() <= 0.15 * prompts_speech,
        "heard {speech:.2} s of sound, the prompts have {prompts_speech:.2} s"
    );
    let tail = last_speech(&heard, goodbye.seconds() + 0.2);
    let similarity = envelope_similarity(&goodbye, &tail, 0.3);
    assert!(
        similarity > 0.7,
        "the last thing heard is not the goodbye prompt (envelope correlation {similarity:.2})"
    );
    if menu_prompt == "beep" {
        // Count the tries: three beeps (1 kHz frames in three separate runs).
        let n = heard.rate as usize / 50;
        let beeps: Vec<bool> = heard
            .samples
            .chunks(n)
            .map(|f| rms(f) > 1000.0 && common::audio::tone_dominance(f, heard.rate, 1000.0) > 10.0)
            .collect();
        // A beep is 20 frames of 1 kHz; speech can have a stray frame or two.
        let mut runs = Vec::new();
        let mut len = 0;
        for b in beeps.iter().chain([&false]) {
            if *b {
                len += 1;
            } else if len > 0 {
                runs.push(len);
                len = 0;
            }
        }
        let long = runs.iter().filter(|n| **n >= 10).count();
        eprintln!("1 kHz runs (frames): {runs:?}");
        assert_eq!(
            long, 3,
            "expected the menu (a beep) three times: 1 kHz runs {runs:?}"
        );
    }
}

#[test]
fn no_key_three_tries_then_goodbye() {
    no_key("tests/dialplans/ivr-short.yaml", "beep", 1.0);
}

#[test]
fn no_key_three_tries_then_goodbye_demo() {
    no_key("dialplans/demo.yaml", "menu", 5.0);
}
