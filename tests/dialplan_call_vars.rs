//! The call's own variables (`caller`, `caller_name`, `called`, `call_id`), with a real user agent:
//! PJSUA2 calls `whoami` (tests/dialplans/test.yaml) as `"Alice Smith" <sip:4711@127.0.0.1>`. Chorus
//! reads the caller's number back digit by digit, plays hello because the display name is Alice Smith,
//! and hangs up; the call log's `vars.who` holds `{caller_name}|{called}|{call_id}`, and `vars.account` the
//! INVITE's `X-Account` header (`{sip_h_X-Account}`). Called as someone else, without the header, the same
//! route reads that number, skips hello, and `account` is empty.

mod common;

use std::time::Duration;

use common::audio::{envelope_similarity, Audio};
use common::{pjsua_call_args, repo_root, Chorus, PjCall};

/// Frame RMS above this is speech.
const SPEECH: f64 = 200.0;

fn prompts(names: &[&str]) -> Audio {
    let samples = names
        .iter()
        .flat_map(|n| Audio::read(&repo_root().join("prompts").join(format!("{n}.wav"))).samples)
        .collect();
    Audio {
        rate: 8000,
        samples,
    }
}

fn call_as(chorus: &Chorus, from: &str, id: &str, extra: &[&str]) -> (serde_json::Value, Audio) {
    let dir = common::scratch_dir(id);
    let heard = dir.join("heard.wav");
    let result = pjsua_call_args(
        chorus.sip_addr(),
        &PjCall {
            user: "whoami",
            play: None,
            record: &heard,
            seconds: 12.0,
            wait_bye: true,
            codec: Some("PCMU"),
        },
        &[&["--from-uri", from], extra].concat(),
    );
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(result["remote_bye"], true, "Chorus hangs up: {result}");
    let audio = Audio::read(&heard);
    std::fs::remove_dir_all(dir).unwrap();
    (result, audio)
}

#[test]
fn caller_name_and_number_drive_the_dialplan() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let (_, alice) = call_as(
        &chorus,
        "\"Alice Smith\" <sip:4711@127.0.0.1>",
        "vars-alice",
        &["--header", "X-Account: acme-42"],
    );
    let (_, bob) = call_as(&chorus, "<sip:906@127.0.0.1>", "vars-bob", &[]);

    let log = chorus.wait_call_log(2, Duration::from_secs(5));
    let line = |caller: &str| {
        log.iter()
            .find(|l| l["from"].as_str().unwrap_or_default().contains(caller))
            .unwrap_or_else(|| panic!("no call from {caller}: {log:#?}"))
    };
    let a = line("4711");
    let a_id = a["call_id"].as_str().unwrap_or_default();
    assert_eq!(
        a["vars"]["who"],
        format!("Alice Smith|whoami|{a_id}"),
        "{a}"
    );
    let b = line("906");
    let b_id = b["call_id"].as_str().unwrap_or_default();
    assert_eq!(b["vars"]["who"], format!("|whoami|{b_id}"), "{b}");
    assert_eq!(a["vars"]["account"], "acme-42", "{a}");
    assert_eq!(b["vars"]["account"], "", "no X-Account header: {b}");
    assert!(
        a["vars"].get("caller").is_none(),
        "built-in variables stay out of the call log's vars: {a}"
    );

    let alice_expected = prompts(&["digit-4", "digit-7", "digit-1", "digit-1", "hello"]);
    let bob_expected = prompts(&["digit-9", "digit-0", "digit-6"]);
    for (who, heard, expected) in [
        ("Alice", &alice, &alice_expected),
        ("Bob", &bob, &bob_expected),
    ] {
        let speech = heard.loud_seconds(SPEECH);
        let want = expected.loud_seconds(SPEECH);
        let similarity = envelope_similarity(expected, heard, 1.0);
        eprintln!("{who}: {speech:.2} s of speech (the prompts have {want:.2} s), envelope correlation {similarity:.2}");
        assert!(
            (speech - want).abs() < 0.5,
            "{who} heard {speech:.2} s of speech, the prompts have {want:.2} s"
        );
        assert!(similarity > 0.8, "{who}: correlation {similarity:.2}");
    }
}
