//! The hello route plays its prompt to a real user agent (PJSUA2) and then hangs up: the recording holds
//! speech shaped like prompts/hello.wav, and the BYE comes from Chorus after the prompt.

mod common;

use std::time::Duration;

use common::audio::{envelope_similarity, Audio};
use common::{pjsua_call, repo_root, Chorus, PjCall};

/// Frame RMS above this is speech (hello.wav has about 2.4 s of such frames).
const SPEECH: f64 = 200.0;

#[test]
fn hello_prompt_is_heard_then_chorus_hangs_up() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let dir = common::scratch_dir("media-hello");
    let heard = dir.join("heard.wav");
    let result = pjsua_call(
        chorus.sip_addr(),
        &PjCall {
            user: "hello",
            play: None,
            record: &heard,
            seconds: 15.0,
            wait_bye: true,
            codec: Some("PCMU"),
        },
    );
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(
        result["remote_bye"], true,
        "Chorus should hang up: {result}"
    );

    let prompt = Audio::read(&repo_root().join("prompts/hello.wav"));
    let duration = result["duration"].as_f64().unwrap_or(0.0);
    assert!(
        duration >= prompt.seconds() - 0.3,
        "hung up after {duration:.2} s, before the {:.2} s prompt could finish",
        prompt.seconds()
    );

    let audio = Audio::read(&heard);
    let speech = audio.loud_seconds(SPEECH);
    assert!(
        speech >= 2.0,
        "only {speech:.2} s of speech heard (prompt has {:.2} s)",
        prompt.loud_seconds(SPEECH)
    );
    let similarity = envelope_similarity(&prompt, &audio, 1.0);
    eprintln!("heard {speech:.2} s of speech, envelope correlation {similarity:.2}, BYE after {duration:.2} s");
    assert!(
        similarity > 0.8,
        "what was heard does not follow the prompt's loudness (correlation {similarity:.2})"
    );

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log[0]["route"], "hello", "{}", log[0]);
    assert_eq!(log[0]["end_reason"], "server_bye", "{}", log[0]);
    std::fs::remove_dir_all(dir).unwrap();
}
