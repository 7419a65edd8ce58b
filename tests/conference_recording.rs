//! The room recording: three PJSUA2 callers with distinct tones in room 7 of the demo dialplan (`conf-7`,
//! recording on by default, join and leave tones on). Once they have all left, the room's mix is a 16 kHz
//! WAV in the recordings directory holding all three tones at once, its sidecar names the room, and each
//! member's call-log line lists that one file (relative to the recordings directory).

mod common;
mod conference;

use std::time::Duration;

use common::audio::Audio;
use conference::{
    call_all, mean_db, secs, serial, timeline, windows, work_dir, Member, PRESENT_DB, TONES,
};

#[test]
fn room_recording_holds_every_member() {
    let _serial = serial();
    let chorus = common::Chorus::start("dialplans/demo.yaml");
    let dir = work_dir("conf-recording");
    let names = ["A", "B", "C"];
    let members: Vec<Member> = (0..3)
        .map(|i| Member::new(names[i], "conf-7", Some(TONES[i]), 0.3 * i as f64, 6.0))
        .collect();
    let heard = call_all(chorus.sip_addr(), &dir, &members);
    for h in &heard {
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
    }

    let log = chorus.wait_call_log(3, Duration::from_secs(5));
    let rel = log[0]["recordings"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|r| r.as_str())
        .unwrap_or_else(|| panic!("the member's call log line lists no recording: {}", log[0]))
        .to_string();
    for line in &log {
        assert_eq!(line["route"], "conference", "{line}");
        assert_eq!(line["end_reason"], "caller_bye", "{line}");
        assert_eq!(
            line["recordings"],
            serde_json::json!([rel]),
            "every member's call log lists the room recording, and only it: {line}"
        );
    }
    assert!(
        !rel.starts_with('/') && !rel.contains(".."),
        "recordings are listed relative to the recordings directory, got {rel:?}"
    );
    let recordings = chorus.dir.join("recordings");
    let wav = recordings.join(&rel);
    assert!(
        wav.is_file(),
        "{} (listed as {rel}) does not exist",
        wav.display()
    );
    assert_eq!(
        wav.extension().and_then(|e| e.to_str()),
        Some("wav"),
        "{rel}"
    );
    let side_path = wav.with_extension("json");
    let side_text = std::fs::read_to_string(&side_path)
        .unwrap_or_else(|e| panic!("sidecar {} missing: {e}", side_path.display()));
    let side: serde_json::Value = serde_json::from_str(&side_text)
        .unwrap_or_else(|e| panic!("sidecar is not JSON ({e}): {side_text}"));
    assert_eq!(side["room"], "7", "the sidecar names the room: {side}");

    let audio = Audio::read(&wav);
    assert_eq!(audio.rate, 16000, "the room is recorded at 16 kHz");
    if let Some(rate) = side.get("sample_rate") {
        assert_eq!(rate.as_u64(), Some(16000), "sidecar sample_rate: {side}");
    }
    let levels = windows(&audio, &TONES);
    let table = timeline(&levels, &TONES);
    let all: Vec<usize> = (0..levels.len())
        .filter(|w| levels[*w].iter().all(|l| *l >= PRESENT_DB))
        .collect();
    let means: Vec<String> = (0..3)
        .map(|k| format!("{} Hz {:.1} dB", TONES[k], mean_db(&levels, &all, k)))
        .collect();
    eprintln!(
        "room recording {rel}: {:.2} s at {} Hz; all three tones for {:.1} s ({}); sidecar {side}",
        audio.seconds(),
        audio.rate,
        secs(all.len()),
        means.join(", ")
    );
    assert!(
        secs(all.len()) >= 2.5,
        "the room recording holds all three members for only {:.1} s; levels (dB):\n{table}",
        secs(all.len())
    );
    assert!(
        audio.seconds() >= 4.5,
        "the room recording is {:.2} s; the room lived about 6.6 s",
        audio.seconds()
    );
    std::fs::remove_dir_all(dir).unwrap();
}
