//! CANCEL of a ringing call: 200 for the CANCEL, 487 for the INVITE, repeated until the ACK.
mod common;

use std::time::Duration;

use chorus_sip::endpoint::{EndReason, Event};
use common::*;

fn cancel(branch: &str) -> String {
    format!(
        "CANCEL sip:echo@127.0.0.1:5060 SIP/2.0\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport\n\
Max-Forwards: 70\n\
From: \"Alice\" <sip:alice@127.0.0.1:5070>;tag=caller1\n\
To: <sip:echo@127.0.0.1>\n\
Call-ID: k1@x\n\
CSeq: 1 CANCEL\n\
Content-Length: 0\n\n"
    )
}

#[test]
fn cancel_before_answer_gives_487_and_200() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("k1@x", "z9hG4bK-k1", ""));
    h.ep.ring(h.now, call).unwrap();
    h.sent();

    h.input(&cancel("z9hG4bK-k1"));
    let sent = h.sent();
    let statuses: Vec<u16> = sent.iter().map(Sent::status).collect();
    assert_eq!(statuses, vec![200, 487]);
    assert!(sent[0]
        .response()
        .headers
        .get("CSeq")
        .unwrap()
        .ends_with("CANCEL"));
    assert!(sent[1]
        .response()
        .headers
        .get("CSeq")
        .unwrap()
        .ends_with("INVITE"));
    let events = h.events();
    assert!(matches!(
        events.as_slice(),
        [Event::Ended { call: c, reason: EndReason::Cancelled }] if *c == call
    ));
    assert!(
        h.ep.answer(h.now, call, Vec::new()).is_err(),
        "a cancelled call cannot be answered"
    );

    // The 487 is repeated (timer G) until the ACK with the INVITE's branch.
    let again = h.advance(Duration::from_millis(600));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].status(), 487);
    let to = sent[1].response().headers.get("To").unwrap().to_string();
    let ack = cancel("z9hG4bK-k1")
        .replace("CANCEL sip", "ACK sip")
        .replace("1 CANCEL", "1 ACK")
        .replace("To: <sip:echo@127.0.0.1>", &format!("To: {to}"));
    h.input(&ack);
    assert!(h.advance(Duration::from_secs(40)).is_empty());
    assert_eq!(h.ep.stats().transactions, 0, "every transaction ended");
}

#[test]
fn cancel_after_answer_changes_nothing() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("k1@x", "z9hG4bK-k2", ""));
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    h.sent();
    h.input(&cancel("z9hG4bK-k2"));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status(), 200);
    assert!(h.events().is_empty());
    assert_eq!(h.ep.call_count(), 1);
}

#[test]
fn cancel_matching_nothing_gets_481() {
    let mut h = Harness::new();
    h.input(&cancel("z9hG4bK-none"));
    assert_eq!(h.sent()[0].status(), 481);
}
