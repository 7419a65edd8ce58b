//! Q.24 pause: two presses of the same key separated by 40 ms of silence are two digits, whatever the
//! alignment; a single dropped block inside a press does not split it.

#[path = "dtmf_inband_common.rs"]
mod common;

use common::*;

const RATE: u32 = 8000;

#[test]
fn pause_of_40_ms_separates_two_presses_of_one_key() {
    for key in KEYS {
        for step in 0..17 {
            let mut audio = vec![0i16; 100 + step * 6];
            push_key(&mut audio, RATE, key, -10.0, 60.0);
            push_silence(&mut audio, RATE, 40.0);
            push_key(&mut audio, RATE, key, -10.0, 60.0);
            let expected: String = [key, key].iter().collect();
            assert_eq!(
                digits(&detect(RATE, &audio, t0())),
                expected,
                "{key} lead step {step}"
            );
        }
    }
}

#[test]
fn minimum_timing_dialling_gives_every_digit() {
    // 40 ms on, 40 ms off: the fastest dialling Q.24 asks receivers to follow.
    let mut audio = Vec::new();
    let sent = "5555111199990000##**DDAA";
    for key in sent.chars() {
        push_key(&mut audio, RATE, key, -10.0, 40.0);
        push_silence(&mut audio, RATE, 40.0);
    }
    add_noise(&mut audio, 20.0, 3);
    assert_eq!(digits(&detect(RATE, &audio, t0())), sent);
}

#[test]
fn a_5_ms_dropout_inside_a_press_does_not_split_it() {
    for step in 0..17 {
        let mut audio = vec![0i16; 100 + step * 6];
        push_key(&mut audio, RATE, '8', -10.0, 80.0);
        push_silence(&mut audio, RATE, 5.0);
        push_key(&mut audio, RATE, '8', -10.0, 80.0);
        assert_eq!(digits(&detect(RATE, &audio, t0())), "8", "lead step {step}");
    }
}

#[test]
fn a_different_key_without_pause_ends_the_press() {
    let mut audio = Vec::new();
    push_key(&mut audio, RATE, '1', -10.0, 80.0);
    push_key(&mut audio, RATE, '2', -10.0, 80.0);
    push_silence(&mut audio, RATE, 50.0);
    assert_eq!(digits(&detect(RATE, &audio, t0())), "12");
}
