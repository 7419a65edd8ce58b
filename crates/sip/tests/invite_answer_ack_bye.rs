//! The basic call: INVITE -> 100, 180, 200 repeated until ACK, caller's BYE -> 200 and the call ends.
mod common;

use std::time::Duration;

use chorus_sip::endpoint::{EndReason, Event};
use common::*;

#[test]
fn invite_ring_answer_ack_then_caller_bye() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("c1@x", "z9hG4bK-a1", ""));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status(), 100);
    assert!(
        sent[0]
            .response()
            .headers
            .get("To")
            .unwrap()
            .find("tag=")
            .is_none(),
        "100 carries no To tag"
    );

    h.ep.ring(h.now, call).unwrap();
    let ringing = h.sent();
    assert_eq!(ringing[0].status(), 180);
    let tag180 = ringing[0].response().headers.get("To").unwrap().to_string();
    assert!(tag180.contains(";tag="));

    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let ok = h.sent().remove(0);
    assert_eq!(ok.status(), 200);
    let ok = ok.response().clone();
    assert_eq!(
        ok.headers.get("To").unwrap(),
        tag180,
        "same tag on 180 and 200"
    );
    assert_eq!(ok.headers.get("Content-Type"), Some("application/sdp"));
    assert!(ok
        .headers
        .get("Contact")
        .unwrap()
        .contains("sip:chorus@127.0.0.1:5060"));
    assert!(ok.headers.get("Allow").unwrap().contains("BYE"));
    assert_eq!(ok.body, SDP.as_bytes());

    // Not acknowledged yet: the 200 is repeated at T1, 2*T1...
    let again = h.advance(Duration::from_millis(1600));
    let times: Vec<u128> = again.iter().map(|s| s.at.as_millis()).collect();
    assert_eq!(times, vec![500, 1500]);
    assert!(again.iter().all(|s| s.status() == 200));

    // A retransmitted INVITE is absorbed (RFC 6026), no second call.
    h.input(&invite("c1@x", "z9hG4bK-a1", ""));
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());

    h.input(&in_dialog("ACK", &ok, "z9hG4bK-ack1", 1, ""));
    assert!(matches!(
        h.events().as_slice(),
        [Event::Confirmed { body: None, .. }]
    ));
    assert!(
        h.advance(Duration::from_secs(40)).is_empty(),
        "no 200 after the ACK"
    );

    h.input(&in_dialog("BYE", &ok, "z9hG4bK-bye1", 2, ""));
    let bye_ok = h.sent();
    assert_eq!(bye_ok.len(), 1);
    assert_eq!(bye_ok[0].status(), 200);
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::Ended { call: c, reason: EndReason::RemoteBye }] if *c == call),
        "{events:?}"
    );
    // A retransmitted BYE gets the same 200 again from the transaction, not a 481.
    h.input(&in_dialog("BYE", &ok, "z9hG4bK-bye1", 2, ""));
    assert_eq!(h.sent()[0].status(), 200);
    assert_eq!(h.ep.call_count(), 0);
}

#[test]
fn invite_without_offer_gets_the_answer_in_the_ack() {
    let mut h = Harness::new();
    let text = invite("c2@x", "z9hG4bK-b1", "").replace("Content-Type: application/sdp\n", "");
    let text = format!("{}\n\n", text.split("\n\n").next().unwrap()).replace(
        &format!("Content-Length: {}", SDP.replace('\n', "\r\n").len()),
        "Content-Length: 0",
    );
    h.input(&text);
    let events = h.events();
    let Some(Event::IncomingCall(ic)) = events.first() else {
        panic!("{events:?}")
    };
    assert!(ic.offer.is_none());
    let call = ic.handle;
    h.sent();
    h.ep.answer(h.now, call, b"offer".to_vec()).unwrap();
    let ok = h.sent().remove(0).response().clone();
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-ack2", 1, SDP));
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::Confirmed { body: Some(b), .. }] if b == &SDP.replace('\n', "\r\n").into_bytes()),
        "{events:?}"
    );
}

#[test]
fn bye_for_an_unknown_dialog_gets_481() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("c3@x", "z9hG4bK-c1", ""));
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let ok = h.sent().pop().unwrap().response().clone();
    let mut other = ok.clone();
    other.headers.set("Call-ID", "nope@x");
    h.input(&in_dialog("BYE", &other, "z9hG4bK-c2", 2, ""));
    assert_eq!(h.sent()[0].status(), 481);
    assert_eq!(h.ep.call_count(), 1);
}
