//! The per-call DTMF stream reports each press once across methods: a peer sending RFC 4733 and SIP
//! INFO for one press yields one digit, while repeated presses by one method are all kept.

use std::time::{Duration, Instant};

use chorus_rtp::dtmf::{DtmfEvent, DtmfSource, DtmfStream};

fn ev(digit: char, start: Instant, source: DtmfSource) -> DtmfEvent {
    DtmfEvent {
        digit,
        start,
        duration: Duration::from_millis(100),
        source,
    }
}

#[test]
fn rfc4733_and_info_for_one_press_is_one_digit() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut s = DtmfStream::new();
    assert!(s.push(ev('5', ms(0), DtmfSource::Info)).is_some());
    assert!(s.push(ev('5', ms(30), DtmfSource::Rfc4733)).is_none());
    // And the other way round, INFO arriving late through proxies.
    assert!(s.push(ev('7', ms(1000), DtmfSource::Rfc4733)).is_some());
    assert!(s.push(ev('7', ms(1350), DtmfSource::Info)).is_none());
    assert_eq!(s.digits(), "57");
}

#[test]
fn same_digit_twice_by_one_method_is_two() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut s = DtmfStream::new();
    assert!(s.push(ev('5', ms(0), DtmfSource::Rfc4733)).is_some());
    assert!(s.push(ev('5', ms(600), DtmfSource::Rfc4733)).is_some());
    // Even closer than the window: one method's presses are never merged.
    assert!(s.push(ev('5', ms(700), DtmfSource::Rfc4733)).is_some());
    assert_eq!(s.digits(), "555");
}

#[test]
fn two_presses_by_both_methods_are_two() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut s = DtmfStream::new();
    // Both RFC 4733 events first, both INFOs afterwards: each INFO matches its own press.
    assert!(s.push(ev('3', ms(0), DtmfSource::Rfc4733)).is_some());
    assert!(s.push(ev('3', ms(300), DtmfSource::Rfc4733)).is_some());
    assert!(s.push(ev('3', ms(20), DtmfSource::Info)).is_none());
    assert!(s.push(ev('3', ms(320), DtmfSource::Info)).is_none());
    // A third INFO with no RFC 4733 counterpart is a real press.
    assert!(s.push(ev('3', ms(340), DtmfSource::Info)).is_some());
    assert_eq!(s.digits(), "333");
}

#[test]
fn different_digits_or_far_apart_are_kept() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut s = DtmfStream::new();
    assert!(s.push(ev('1', ms(0), DtmfSource::Rfc4733)).is_some());
    assert!(s.push(ev('2', ms(10), DtmfSource::Info)).is_some());
    assert!(s.push(ev('1', ms(900), DtmfSource::Info)).is_some());
    assert!(
        s.push(ev('a', ms(2000), DtmfSource::InBand))
            .map(|e| e.digit)
            == Some('A')
    );
    assert_eq!(s.digits(), "121A");
}

#[test]
fn window_is_configurable() {
    let t0 = Instant::now();
    let mut s = DtmfStream::with_window(Duration::from_millis(100));
    assert!(s.push(ev('9', t0, DtmfSource::Rfc4733)).is_some());
    assert!(s
        .push(ev('9', t0 + Duration::from_millis(150), DtmfSource::Info))
        .is_some());
}
