//! Per-member `deaf` and `gain` from the dialplan: three PJSUA2 callers in room 4. A (540 Hz) joins
//! plainly, B (1420 Hz) by `deaf-4` (hears nothing, is heard), C (1790 Hz) by `soft-4` (`gain: -12`).
//! A hears B at full level and C about 12 dB lower; B hears neither A nor C; C hears A and B.

mod common;
mod conference;

use conference::{
    call_all, mean_db, secs, serial, timeline, windows, work_dir, Member, PRESENT_DB, TONES,
};

#[test]
fn a_deaf_member_hears_nothing_and_a_soft_one_is_12_db_down() {
    let _serial = serial();
    let chorus = common::Chorus::start("tests/dialplans/conference.yaml");
    let dir = work_dir("conf-deaf-gain");
    let members = vec![
        Member::new("A", "conf-4", Some(TONES[0]), 0.0, 7.0),
        Member::new("B", "deaf-4", Some(TONES[1]), 0.2, 6.5),
        Member::new("C", "soft-4", Some(TONES[2]), 0.4, 6.0),
    ];
    let heard = call_all(chorus.sip_addr(), &dir, &members);
    for h in &heard {
        assert!(
            h.result["error"].is_null(),
            "member {}: {}",
            h.name,
            h.result
        );
    }
    let (a, b, c) = (
        windows(&heard[0].audio, &TONES),
        windows(&heard[1].audio, &TONES),
        windows(&heard[2].audio, &TONES),
    );

    // B is deaf: at most one 200 ms window of the room before the setting took hold.
    let b_heard = b
        .iter()
        .filter(|l| l[0] >= PRESENT_DB || l[2] >= PRESENT_DB)
        .count();
    assert!(
        b_heard <= 1,
        "the deaf member heard the room for {:.1} s:\n{}",
        secs(b_heard),
        timeline(&b, &TONES)
    );

    // A hears B (deaf, still heard) and C, C about 12 dB under B.
    let both: Vec<usize> = (0..a.len())
        .filter(|&i| a[i][1] >= PRESENT_DB && a[i][2] >= PRESENT_DB - 15.0)
        .collect();
    let (b_db, c_db) = (mean_db(&a, &both, 1), mean_db(&a, &both, 2));
    eprintln!(
        "A hears B at {b_db:.1} dB and C at {c_db:.1} dB over {:.1} s ({:.1} dB apart); B heard the room {:.1} s",
        secs(both.len()),
        b_db - c_db,
        secs(b_heard)
    );
    assert!(
        secs(both.len()) >= 3.0,
        "A heard B and C together for only {:.1} s:\n{}",
        secs(both.len()),
        timeline(&a, &TONES)
    );
    assert!(
        ((b_db - c_db) - 12.0).abs() <= 2.0,
        "C (gain -12) should be 12 dB under B at A, is {:.1} dB:\n{}",
        b_db - c_db,
        timeline(&a, &TONES)
    );

    // C hears A and B.
    let c_hears = c
        .iter()
        .filter(|l| l[0] >= PRESENT_DB && l[1] >= PRESENT_DB)
        .count();
    assert!(
        secs(c_hears) >= 3.0,
        "C heard A and B for {:.1} s:\n{}",
        secs(c_hears),
        timeline(&c, &TONES)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
