//! SIP INFO DTMF bodies: `application/dtmf-relay` and `application/dtmf` give the digit and duration;
//! anything else, or garbage, gives nothing and never panics.

use std::time::Duration;

use chorus_sip::dtmf_info::{parse, InfoDigit};
use proptest::prelude::*;

fn digit(d: char, ms: Option<u64>) -> Option<InfoDigit> {
    Some(InfoDigit {
        digit: d,
        duration: ms.map(Duration::from_millis),
    })
}

#[test]
fn dtmf_relay() {
    assert_eq!(
        parse("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
        digit('5', Some(160))
    );
    assert_eq!(
        parse("Application/DTMF-Relay", b"signal = #\nDURATION = 250"),
        digit('#', Some(250))
    );
    assert_eq!(
        parse("application/dtmf-relay;charset=utf-8", b"Signal= *\r\n"),
        digit('*', None)
    );
    assert_eq!(
        parse("application/dtmf-relay", b"  Signal=d\r\nDuration=oops\r\n"),
        digit('D', None)
    );
    assert_eq!(
        parse("application/dtmf-relay", b"Duration=100\r\nSignal=1\r\n"),
        digit('1', Some(100))
    );
}

#[test]
fn numeric_codes_for_star_and_pound() {
    assert_eq!(
        parse("application/dtmf-relay", b"Signal=10\r\nDuration=100\r\n"),
        digit('*', Some(100))
    );
    assert_eq!(
        parse("application/dtmf-relay", b"Signal=11\r\nDuration=100\r\n"),
        digit('#', Some(100))
    );
    assert_eq!(
        parse("application/dtmf-relay", b"Signal=12\r\n"),
        digit('A', None)
    );
    assert_eq!(parse("application/dtmf", b"11"), digit('#', None));
}

#[test]
fn dtmf_plain() {
    assert_eq!(parse("application/dtmf", b"5"), digit('5', None));
    assert_eq!(parse("application/dtmf", b" 9\r\n"), digit('9', None));
    assert_eq!(parse("APPLICATION/DTMF", b"*"), digit('*', None));
}

#[test]
fn rejects_the_rest() {
    assert_eq!(parse("application/sdp", b"Signal=5\r\n"), None);
    assert_eq!(parse("text/plain", b"5"), None);
    assert_eq!(parse("application/dtmf-relay", b""), None);
    assert_eq!(parse("application/dtmf-relay", b"Duration=160\r\n"), None);
    assert_eq!(parse("application/dtmf-relay", b"Signal=E\r\n"), None);
    assert_eq!(parse("application/dtmf-relay", b"Signal=16\r\n"), None);
    assert_eq!(parse("application/dtmf-relay", b"Signal=55\r\n"), None);
    assert_eq!(parse("application/dtmf-relay", b"Signal=\r\n"), None);
    assert_eq!(parse("application/dtmf", b"12x"), None);
    assert_eq!(parse("application/dtmf", b"\xff"), None);
    assert_eq!(
        parse(
            "application/dtmf-relay",
            b"Signal=5\r\nDuration=99999999999999999999999\r\n"
        ),
        digit('5', None)
    );
}

proptest! {
    #[test]
    fn random_bodies_never_panic(ct in prop_oneof![
        Just("application/dtmf-relay".to_string()),
        Just("application/dtmf".to_string()),
        ".*",
    ], body in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Some(d) = parse(&ct, &body) {
            prop_assert!("0123456789*#ABCD".contains(d.digit));
        }
    }

    #[test]
    fn relay_like_bodies_never_panic(body in "(?i)(signal|duration| |=|[0-9*#a-e]|\r|\n){0,60}") {
        if let Some(d) = parse("application/dtmf-relay", body.as_bytes()) {
            prop_assert!("0123456789*#ABCD".contains(d.digit));
        }
    }
}
