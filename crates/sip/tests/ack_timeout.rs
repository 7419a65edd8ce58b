//! A 200 that is never acknowledged: after 64*T1 the call is confirmed and ended with BYE (§13.3.1.4).
mod common;

use std::time::Duration;

use chorus_sip::endpoint::{EndReason, Event};
use chorus_sip::Method;
use common::*;

#[test]
fn missing_ack_ends_the_call_with_bye() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("t1@x", "z9hG4bK-t1", ""));
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    h.sent();
    let sent = h.advance(Duration::from_secs(31));
    assert!(sent.iter().all(|s| s.status() == 200));
    // 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5 s
    assert_eq!(sent.len(), 9);
    assert!(h.events().is_empty());
    let sent = h.advance(Duration::from_secs(2));
    assert!(sent
        .iter()
        .any(|s| matches!(&s.msg, chorus_sip::Message::Request(r) if r.method == Method::Bye)));
    let events = h.events();
    assert!(matches!(
        events.as_slice(),
        [Event::Ended { call: c, reason: EndReason::AckTimeout }] if *c == call
    ));
}
