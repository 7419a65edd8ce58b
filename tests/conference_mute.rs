//! Mute by `*6`: three PJSUA2 callers in a room; A (540 Hz) presses `*6` 2.5 s after its media is up and
//! `*6` again at 5 s. In B's and C's recordings A's tone is heard, then gone (at least 30 dB below the
//! member still talking) for about the time A was muted, then heard again; A keeps hearing B and C while
//! muted.

mod common;
mod conference;

use std::time::Duration;

use conference::{call_all, secs, serial, timeline, windows, work_dir, Member, PRESENT_DB, TONES};

/// While muted, A's tone is at least this far below the other member's (dB).
const GONE_BELOW_DB: f64 = 30.0;
const MUTE_AT: f64 = 2.5;
const UNMUTE_AT: f64 = 5.0;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Heard,
    Gone,
    Between,
}

#[test]
fn star_6_mutes_and_unmutes_a_member() {
    let _serial = serial();
    let chorus = common::Chorus::start("tests/dialplans/conference.yaml");
    let dir = work_dir("conf-mute");
    let mute = format!("{MUTE_AT}:*6");
    let unmute = format!("{UNMUTE_AT}:*6");
    let members = vec![
        Member::new("A", "conf-9", Some(TONES[0]), 0.6, 7.5).args(&[
            "--dtmf-at",
            &mute,
            "--dtmf-at",
            &unmute,
        ]),
        Member::new("B", "conf-9", Some(TONES[1]), 0.0, 8.5),
        Member::new("C", "conf-9", Some(TONES[2]), 0.2, 8.5),
    ];
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
    assert_eq!(heard[0].result["dtmf_sent"], "*6*6", "{}", heard[0].result);

    // B and C: A heard, then gone while muted, then heard again.
    for (who, other) in [(1usize, 2usize), (2, 1)] {
        let h = &heard[who];
        let levels = windows(&h.audio, &TONES);
        let table = timeline(&levels, &TONES);
        // Only windows where the third member is heard: the room is flowing to this member there.
        let states: Vec<State> = levels
            .iter()
            .filter(|l| l[other] >= PRESENT_DB)
            .map(|l| {
                if l[0] >= PRESENT_DB {
                    State::Heard
                } else if l[0] <= l[other] - GONE_BELOW_DB {
                    State::Gone
                } else {
                    State::Between
                }
            })
            .collect();
        // The longest run of Gone, and the Heard windows before and after it.
        let mut best = (0usize, 0usize); // (start, len)
        let mut i = 0;
        while i < states.len() {
            if states[i] == State::Gone {
                let start = i;
                while i < states.len() && states[i] == State::Gone {
                    i += 1;
                }
                if i - start > best.1 {
                    best = (start, i - start);
                }
            } else {
                i += 1;
            }
        }
        let before = states[..best.0]
            .iter()
            .filter(|s| **s == State::Heard)
            .count();
        let after = states[best.0 + best.1..]
            .iter()
            .filter(|s| **s == State::Heard)
            .count();
        let gone: Vec<&Vec<f64>> = levels
            .iter()
            .filter(|l| l[other] >= PRESENT_DB)
            .skip(best.0)
            .take(best.1)
            .collect();
        let worst = gone
            .iter()
            .map(|l| l[other] - l[0])
            .fold(f64::INFINITY, f64::min);
        eprintln!(
            "member {} hears A: {:.1} s before, muted (A's tone ≥ {:.0} dB below {}) for {:.1} s (worst window {:.1} dB below), {:.1} s after",
            h.name,
            secs(before),
            GONE_BELOW_DB,
            heard[other].name,
            secs(best.1),
            worst,
            secs(after)
        );
        assert!(
            secs(before) >= 0.6,
            "member {} did not hear A before A pressed *6 ({:.1} s); levels (dB):\n{table}",
            h.name,
            secs(before)
        );
        assert!(
            secs(best.1) >= 1.6,
            "member {} kept hearing A after A pressed *6: A's tone was gone for only {:.1} s of the {:.1} s muted; levels (dB):\n{table}",
            h.name,
            secs(best.1),
            UNMUTE_AT - MUTE_AT
        );
        assert!(
            secs(best.1) <= UNMUTE_AT - MUTE_AT + 1.0,
            "member {}: A stayed silent for {:.1} s, though A pressed *6 again after {:.1} s; levels (dB):\n{table}",
            h.name,
            secs(best.1),
            UNMUTE_AT - MUTE_AT
        );
        assert!(
            secs(after) >= 1.0,
            "member {} did not hear A again after A's second *6 ({:.1} s); levels (dB):\n{table}",
            h.name,
            secs(after)
        );
    }

    // A, while muted, still hears B and C: from a second after the first *6 to the second *6.
    let a = &heard[0];
    let times = a.result["dtmf_times"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let at = |k: usize, default: f64| times.get(k).and_then(|t| t[0].as_f64()).unwrap_or(default);
    let (muted, unmuted) = (at(0, MUTE_AT), at(1, UNMUTE_AT));
    let levels = windows(&a.audio, &TONES);
    let table = timeline(&levels, &TONES);
    let span: Vec<&Vec<f64>> = levels
        .iter()
        .enumerate()
        .filter(|(w, _)| secs(*w) >= muted + 1.0 && secs(w + 1) <= unmuted)
        .map(|(_, l)| l)
        .collect();
    let both = span
        .iter()
        .filter(|l| l[1] >= PRESENT_DB && l[2] >= PRESENT_DB)
        .count();
    eprintln!(
        "member A, muted: hears B and C in {both} of {} windows from {:.1} s to {:.1} s",
        span.len(),
        muted + 1.0,
        unmuted
    );
    assert!(
        span.len() >= 5 && both + 1 >= span.len(),
        "muted member A stopped hearing B and C: both heard in {both} of {} windows from {:.1} s to {:.1} s; levels (dB):\n{table}",
        span.len(),
        muted + 1.0,
        unmuted
    );

    let log = chorus.wait_call_log(3, Duration::from_secs(5));
    let a_line = log
        .iter()
        .find(|l| l["dtmf"] == "*6*6")
        .unwrap_or_else(|| panic!("no call log line with dtmf *6*6: {log:#?}"));
    assert_eq!(a_line["end_reason"], "caller_bye", "{a_line}");
    std::fs::remove_dir_all(dir).unwrap();
}
