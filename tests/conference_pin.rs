//! A room behind a PIN, the `conference` step's `pin` and `moderator_pin` (tests/dialplans/conference.yaml,
//! route `pin-N`: members wait for a moderator, one try). A dials `pin-5` and keys the moderator PIN 4321
//! (540 Hz); B keys 1234 and ends up in the room with A, each hearing the other (had A joined as a
//! plain member, B would hear hold beeps, not A); C keys 9999, hears `invalid`, is hung up, and neither
//! hears nor is heard by the room.

mod common;
mod conference;

use std::time::Duration;

use conference::{call_all, secs, serial, timeline, windows, work_dir, Member, PRESENT_DB, TONES};

#[test]
fn right_pin_joins_wrong_pin_is_hung_up() {
    let _serial = serial();
    let chorus = common::Chorus::start("tests/dialplans/conference.yaml");
    let dir = work_dir("conf-pin");
    let members = vec![
        Member::new("A", "pin-5", Some(TONES[0]), 0.0, 9.0).args(&[
            "--dtmf",
            "4321",
            "--dtmf-at",
            "0.8",
        ]),
        Member::new("B", "pin-5", Some(TONES[1]), 0.3, 7.5).args(&[
            "--dtmf",
            "1234",
            "--dtmf-at",
            "1.0",
        ]),
        Member::new("C", "pin-5", Some(TONES[2]), 0.3, 10.0)
            .args(&["--dtmf", "9999", "--dtmf-at", "1.0"])
            .wait_bye(),
    ];
    let heard = call_all(chorus.sip_addr(), &dir, &members);
    let (a, b, c) = (&heard[0], &heard[1], &heard[2]);

    // C: wrong PIN, hung up, never in the room.
    assert_eq!(c.result["dtmf_sent"], "9999", "{}", c.result);
    assert_eq!(
        c.result["remote_bye"], true,
        "a wrong PIN is hung up: {}",
        c.result
    );
    assert!(c.result["error"].is_null(), "{}", c.result);
    let c_levels = windows(&c.audio, &TONES);
    let a_in_c = c_levels.iter().filter(|l| l[0] >= PRESENT_DB).count();
    assert_eq!(
        a_in_c,
        0,
        "the caller with a wrong PIN heard the room; levels (dB):\n{}",
        timeline(&c_levels, &TONES)
    );

    // B: right PIN, hears A once in.
    assert_eq!(b.result["dtmf_sent"], "1234", "{}", b.result);
    assert!(b.result["error"].is_null(), "{}", b.result);
    assert_eq!(b.result["remote_bye"], false, "{}", b.result);
    let b_levels = windows(&b.audio, &TONES);
    let a_in_b = b_levels.iter().filter(|l| l[0] >= PRESENT_DB).count();
    let a_in_b_before = b_levels
        .iter()
        .take(5) // the first second: the PIN prompt, not the room
        .filter(|l| l[0] >= PRESENT_DB)
        .count();

    // A: hears B (in the room), never C.
    assert!(a.result["error"].is_null(), "{}", a.result);
    let a_levels = windows(&a.audio, &TONES);
    let b_in_a = a_levels.iter().filter(|l| l[1] >= PRESENT_DB).count();
    let c_in_a = a_levels.iter().filter(|l| l[2] >= PRESENT_DB).count();
    eprintln!(
        "PIN 1234: B hears A for {:.1} s (in its first second: {:.1} s), A hears B for {:.1} s; PIN 9999: C hung up after {} s, \
         heard A for {:.1} s, A heard C for {:.1} s",
        secs(a_in_b),
        secs(a_in_b_before),
        secs(b_in_a),
        c.result["duration"],
        secs(a_in_c),
        secs(c_in_a)
    );
    assert!(
        secs(a_in_b) >= 4.0,
        "B keyed the right PIN but heard A for only {:.1} s; levels (dB):\n{}",
        secs(a_in_b),
        timeline(&b_levels, &TONES)
    );
    assert_eq!(
        a_in_b_before,
        0,
        "B heard the room before keying its PIN; levels (dB):\n{}",
        timeline(&b_levels, &TONES)
    );
    assert!(
        secs(b_in_a) >= 4.0,
        "A heard B (right PIN) for only {:.1} s; levels (dB):\n{}",
        secs(b_in_a),
        timeline(&a_levels, &TONES)
    );
    assert_eq!(
        c_in_a,
        0,
        "A heard C, who keyed a wrong PIN; levels (dB):\n{}",
        timeline(&a_levels, &TONES)
    );

    let log = chorus.wait_call_log(3, Duration::from_secs(5));
    let by_pin = |pin: &str| {
        log.iter()
            .find(|l| l["dtmf"] == pin)
            .unwrap_or_else(|| panic!("no call log line with keys {pin}: {log:#?}"))
    };
    let moderator = by_pin("4321");
    assert_eq!(moderator["route"], "pin", "{moderator}");
    let right = by_pin("1234");
    assert_eq!(right["route"], "pin", "{right}");
    assert_eq!(right["end_reason"], "caller_bye", "{right}");
    let wrong = by_pin("9999");
    assert_eq!(wrong["route"], "pin", "{wrong}");
    assert_eq!(wrong["end_reason"], "server_bye", "{wrong}");
    std::fs::remove_dir_all(dir).unwrap();
}
