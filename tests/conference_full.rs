//! A room with `max_members: 2`: A and B are in it; C calls 2 s later, hears the `full` prompt (room-full,
//! speech shaped like prompts/room-full.wav), is hung up by Chorus, and never hears the room. A and B go
//! on hearing each other.

mod common;
mod conference;

use std::time::Duration;

use common::audio::{envelope_similarity, Audio};
use common::repo_root;
use conference::{call_all, secs, serial, timeline, windows, work_dir, Member, PRESENT_DB, TONES};

/// Frame RMS above this is speech.
const SPEECH: f64 = 200.0;

#[test]
fn third_caller_hears_room_full_and_is_hung_up() {
    let _serial = serial();
    let chorus = common::Chorus::start("tests/dialplans/conference.yaml");
    let dir = work_dir("conf-full");
    let members = vec![
        Member::new("A", "small-4", Some(TONES[0]), 0.0, 7.0),
        Member::new("B", "small-4", Some(TONES[1]), 0.2, 7.0),
        Member::new("C", "small-4", Some(TONES[2]), 2.0, 10.0).wait_bye(),
    ];
    let heard = call_all(chorus.sip_addr(), &dir, &members);
    let c = &heard[2];
    assert_eq!(
        c.result["remote_bye"], true,
        "Chorus should hang up on the third caller: {}",
        c.result
    );
    assert!(c.result["error"].is_null(), "{}", c.result);
    let prompt = Audio::read(&repo_root().join("prompts/room-full.wav"));
    let duration = c.result["duration"].as_f64().unwrap_or(0.0);
    assert!(
        duration >= prompt.seconds() - 0.3 && duration <= prompt.seconds() + 3.0,
        "the third caller was hung up after {duration:.2} s; the room-full prompt is {:.2} s",
        prompt.seconds()
    );
    let speech = c.audio.loud_seconds(SPEECH);
    let similarity = envelope_similarity(&prompt, &c.audio, 1.0);
    let levels = windows(&c.audio, &TONES);
    let table = timeline(&levels, &TONES);
    eprintln!(
        "third caller: hung up after {duration:.2} s; heard {speech:.2} s of speech (prompt has {:.2} s), envelope correlation {similarity:.2}",
        prompt.loud_seconds(SPEECH)
    );
    assert!(
        speech >= 1.0,
        "the third caller heard only {speech:.2} s of sound, not the room-full prompt"
    );
    assert!(
        similarity > 0.7,
        "what the third caller heard does not follow room-full.wav (correlation {similarity:.2})"
    );
    let leaked = levels
        .iter()
        .filter(|l| l[0] >= PRESENT_DB || l[1] >= PRESENT_DB)
        .count();
    assert_eq!(
        leaked, 0,
        "the third caller heard the room it was refused; levels (dB):\n{table}"
    );

    // A and B: each hears the other throughout, and never C.
    for (who, other) in [(0usize, 1usize), (1, 0)] {
        let h = &heard[who];
        assert!(
            h.result["error"].is_null(),
            "member {}: {}",
            h.name,
            h.result
        );
        assert_eq!(
            h.result["remote_bye"], false,
            "member {}: {}",
            h.name, h.result
        );
        let levels = windows(&h.audio, &TONES);
        let table = timeline(&levels, &TONES);
        let n = levels.iter().filter(|l| l[other] >= PRESENT_DB).count();
        let c_heard = levels.iter().filter(|l| l[2] >= PRESENT_DB).count();
        eprintln!(
            "member {} hears {} for {:.1} s, C for {:.1} s",
            h.name,
            heard[other].name,
            secs(n),
            secs(c_heard)
        );
        assert!(
            secs(n) >= 5.0,
            "member {} heard {} for only {:.1} s; levels (dB):\n{table}",
            h.name,
            heard[other].name,
            secs(n)
        );
        assert_eq!(
            c_heard, 0,
            "member {} heard the refused caller; levels (dB):\n{table}",
            h.name
        );
    }

    let log = chorus.wait_call_log(3, Duration::from_secs(5));
    let refused: Vec<_> = log
        .iter()
        .filter(|l| l["end_reason"] == "server_bye")
        .collect();
    assert_eq!(refused.len(), 1, "one call hung up by Chorus: {log:#?}");
    assert_eq!(refused[0]["route"], "small", "{}", refused[0]);
    assert_eq!(
        refused[0]["recordings"],
        serde_json::json!([]),
        "the refused caller never joined, so no room recording is its: {}",
        refused[0]
    );
    std::fs::remove_dir_all(dir).unwrap();
}
