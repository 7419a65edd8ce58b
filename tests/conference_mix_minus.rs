//! Mix-minus in a real room: three PJSUA2 callers in `conf-7`, each sending its own tone (540, 1420,
//! 1790 Hz), each recording what Chorus sends it. While all three are in the room, each must hear the other
//! two tones, loud and without gaps, and its own tone at least 20 dB below the weaker of them (the mixer
//! takes each member's own contribution out; the user agents have no echo canceller and a null sound
//! device, so nothing of a member's own tone can come back except through the bridge). A second test does
//! the same with a PCMU, a PCMA and a G.722 (16 kHz) member in one room.

mod common;
mod conference;

use std::time::Duration;

use conference::{
    call_all, mean_db, secs, serial, timeline, windows, work_dir, Heard, Member, PRESENT_DB, TONES,
};

/// Own tone at least this far below the weaker of the other two (dB).
const OWN_BELOW_DB: f64 = 20.0;
/// Both other tones heard for at least this long (seconds) in every recording.
const TOGETHER_S: f64 = 2.0;

fn check_member(i: usize, h: &Heard) -> (f64, f64, f64) {
    let levels = windows(&h.audio, &TONES);
    let others: Vec<usize> = (0..3).filter(|k| *k != i).collect();
    let together: Vec<usize> = (0..levels.len())
        .filter(|w| others.iter().all(|k| levels[*w][*k] >= PRESENT_DB))
        .collect();
    let table = timeline(&levels, &TONES);
    assert!(
        secs(together.len()) >= TOGETHER_S,
        "member {} ({} Hz) heard both other members for only {:.1} s of {:.1} s; levels (dB):\n{table}\n{}",
        h.name,
        TONES[i],
        secs(together.len()),
        h.audio.seconds(),
        h.result
    );
    // Once both others are heard, they stay heard until the first member leaves: no dropouts.
    let (first, last) = (together[0], *together.last().unwrap());
    let span = last - first + 1;
    assert!(
        together.len() * 10 >= span * 9,
        "member {}: both others heard in only {} of the {span} windows from {:.1} s to {:.1} s; levels (dB):\n{table}",
        h.name,
        together.len(),
        secs(first),
        secs(last + 1)
    );
    let own = mean_db(&levels, &together, i);
    let weaker = others
        .iter()
        .map(|k| mean_db(&levels, &together, *k))
        .fold(f64::INFINITY, f64::min);
    let worst_window = together
        .iter()
        .map(|w| {
            others
                .iter()
                .map(|k| levels[*w][*k])
                .fold(f64::INFINITY, f64::min)
                - levels[*w][i]
        })
        .fold(f64::INFINITY, f64::min);
    let each: Vec<String> = others
        .iter()
        .map(|k| format!("{} Hz {:.1} dB", TONES[*k], mean_db(&levels, &together, *k)))
        .collect();
    eprintln!(
        "member {} ({} Hz, {}): hears {}; others {:.1} dB (weaker), own {:.1} dB: own {:.1} dB below (worst 200 ms window {:.1} dB), \
         both others heard {:.1} s",
        h.name,
        TONES[i],
        h.result["codec"],
        each.join(", "),
        weaker,
        own,
        weaker - own,
        worst_window,
        secs(together.len())
    );
    assert!(
        weaker - own >= OWN_BELOW_DB,
        "member {} hears itself: own {} Hz at {own:.1} dB, only {:.1} dB below the others ({weaker:.1} dB); levels (dB):\n{table}",
        h.name,
        TONES[i],
        weaker - own
    );
    (weaker, own, worst_window)
}

fn three_in_a_room(room: &str, codecs: [&'static str; 3]) {
    let _serial = serial();
    let chorus = common::Chorus::start("tests/dialplans/conference.yaml");
    let dir = work_dir("conf-mix-minus");
    let user = format!("conf-{room}");
    let names = ["A", "B", "C"];
    let members: Vec<Member> = (0..3)
        .map(|i| Member::new(names[i], &user, Some(TONES[i]), 0.3 * i as f64, 6.0).codec(codecs[i]))
        .collect();
    let heard = call_all(chorus.sip_addr(), &dir, &members);
    for (i, h) in heard.iter().enumerate() {
        assert!(
            h.result["error"].is_null(),
            "member {}: {}",
            h.name,
            h.result
        );
        assert_eq!(
            h.result["remote_bye"], false,
            "member {}: Chorus hung up: {}",
            h.name, h.result
        );
        assert_eq!(
            h.result["codec"], codecs[i],
            "member {}: {}",
            h.name, h.result
        );
    }
    for (i, h) in heard.iter().enumerate() {
        check_member(i, h);
    }

    let log = chorus.wait_call_log(3, Duration::from_secs(5));
    for line in &log {
        assert_eq!(line["route"], "conf", "{line}");
        assert_eq!(line["end_reason"], "caller_bye", "{line}");
        assert_eq!(line["vars"]["room"], room, "{line}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn three_members_hear_each_other_and_not_themselves() {
    three_in_a_room("7", ["PCMU", "PCMU", "PCMU"]);
}

#[test]
fn g711_and_g722_members_hear_each_other_and_not_themselves() {
    three_in_a_room("8", ["PCMU", "PCMA", "G722"]);
}
