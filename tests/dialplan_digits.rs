//! The demo's `digits` route with a real user agent (PJSUA2): Chorus asks for digits (prompts/enter-digits),
//! the caller types `4711#` by RFC 2833 one second into that prompt (typed ahead: the first key stops the
//! prompt), and Chorus reads them back ("you entered", then one prompt per digit) and hangs up. Then:
//! - the call log has every key in `dtmf` (`4711#`) and the collected value in `vars.digits` (`4711`,
//!   the terminator not included), and Chorus hung up;
//! - the caller heard the prompt cut short at the first key, a pause while typing, then the read-back:
//!   loudness shaped like you-entered + digit-4 + digit-7 + digit-1 + digit-1, about as long.

mod common;

use std::time::Duration;

use common::audio::{envelope_similarity, Audio};
use common::{pjsua_call_args, repo_root, Chorus, PjCall};

const KEYS: &str = "4711#";
const KEYS_AT: f64 = 1.0;
/// Frame RMS above this is speech.
const SPEECH: f64 = 200.0;

fn prompt(name: &str) -> Audio {
    Audio::read(&repo_root().join("prompts").join(format!("{name}.wav")))
}

/// Speech segments of `audio`: (start, end) in seconds, gaps shorter than `bridge` joined.
fn segments(audio: &Audio, bridge: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (i, r) in audio.frame_rms().iter().enumerate() {
        if *r <= SPEECH {
            continue;
        }
        let t = i as f64 * 0.02;
        match out.last_mut() {
            Some(last) if t - last.1 <= bridge => last.1 = t + 0.02,
            _ => out.push((t, t + 0.02)),
        }
    }
    out
}

#[test]
fn digits_route_collects_and_reads_back() {
    let chorus = Chorus::start("dialplans/demo.yaml");
    let dir = common::scratch_dir("dialplan-digits");
    let heard_path = dir.join("heard.wav");
    let result = pjsua_call_args(
        chorus.sip_addr(),
        &PjCall {
            user: "digits",
            play: None,
            record: &heard_path,
            seconds: 12.0,
            wait_bye: true,
            codec: Some("PCMU"),
        },
        &["--dtmf", KEYS, "--dtmf-at", &KEYS_AT.to_string()],
    );
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(result["dtmf_sent"], KEYS, "{result}");
    assert_eq!(
        result["remote_bye"], true,
        "Chorus should hang up after the read-back: {result}"
    );

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let call = &log[0];
    assert_eq!(call["route"], "digits", "{call}");
    assert_eq!(call["end_reason"], "server_bye", "{call}");
    assert_eq!(call["dtmf"], KEYS, "{call}");
    assert_eq!(
        call["vars"]["digits"], "4711",
        "the collected value (without the '#') goes into `digits`: {call}"
    );

    let heard = Audio::read(&heard_path);
    let segs = segments(&heard, 0.3);
    let readback: Vec<Audio> = ["you-entered", "digit-4", "digit-7", "digit-1", "digit-1"]
        .iter()
        .map(|p| prompt(p))
        .collect();
    let expected = Audio {
        rate: 8000,
        samples: readback.iter().flat_map(|a| a.samples.clone()).collect(),
    };
    let enter = prompt("enter-digits");
    eprintln!(
        "heard {:.2} s, speech segments {segs:.2?}; BYE after {}; keys sent {}; read-back prompts {:.2} s",
        heard.seconds(),
        result["duration"],
        result["dtmf_times"],
        expected.seconds()
    );

    // The prompt, stopped by the first key (well before its 2.8 s end).
    let first = segs.first().copied().expect("the caller heard nothing");
    assert!(
        first.0 < 0.5,
        "the enter-digits prompt should start at once, speech first at {:.2} s",
        first.0
    );
    assert!(
        first.1 < KEYS_AT + 0.5 && first.1 < enter.seconds() - 1.0,
        "the enter-digits prompt should stop at the first key ({KEYS_AT} s), it went on to {:.2} s",
        first.1
    );
    // Then the read-back, after a pause while the keys went in, up to the end of the call.
    let rest: Vec<_> = segs.iter().filter(|s| s.0 > first.1 + 0.2).collect();
    let start = rest
        .first()
        .map(|s| s.0)
        .unwrap_or_else(|| panic!("no read-back heard after the keys: {segs:.2?}"));
    let end = rest.last().unwrap().1;
    let span = end - start;
    assert!(
        (span - expected.seconds()).abs() <= 0.6,
        "read-back lasted {span:.2} s ({start:.2}..{end:.2}), the prompts take {:.2} s",
        expected.seconds()
    );
    let tail = Audio {
        rate: heard.rate,
        samples: heard.slice(start - 0.2, end + 0.2).to_vec(),
    };
    let similarity = envelope_similarity(&expected, &tail, 0.5);
    eprintln!("read-back envelope correlation {similarity:.2}");
    assert!(
        similarity > 0.7,
        "the read-back does not follow you-entered + 4 7 1 1 (envelope correlation {similarity:.2})"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
