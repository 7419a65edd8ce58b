//! Transfer (RFC 3515): REFER in the dialog, its answer reported, NOTIFY progress accepted; and the
//! pre-answer alternative, 302 with the target as Contact.
mod common;

use std::time::Duration;

use chorus_sip::endpoint::Event;
use chorus_sip::{Message, Method};
use common::*;

#[test]
fn refer_is_sent_and_its_acceptance_reported() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("x1@x", "z9hG4bK-x1", ""));
    assert!(
        h.ep.refer(h.now, call, "sip:desk@10.0.0.5").is_err(),
        "not before the answer"
    );
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let ok = h.sent().pop().unwrap().response().clone();
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-x2", 1, ""));
    h.events();

    h.ep.refer(h.now, call, "sip:desk@10.0.0.5").unwrap();
    let sent = h.sent();
    let refer = sent[0].request().clone();
    assert_eq!(refer.method, Method::Refer);
    assert_eq!(refer.headers.get("Refer-To"), Some("<sip:desk@10.0.0.5>"));
    assert!(refer.headers.get("Referred-By").is_some());
    assert!(refer.headers.get("Contact").is_some());
    h.input(&answer_request(&refer, 202));
    assert!(matches!(
        h.events().as_slice(),
        [Event::ReferResult { accepted: true, .. }]
    ));

    let notify = in_dialog("NOTIFY", &ok, "z9hG4bK-x3", 2, "")
        .replace("Content-Length: 0", "Event: refer\nSubscription-State: terminated;reason=noresource\nContent-Type: message/sipfrag\nContent-Length: 16")
        + "SIP/2.0 200 OK\r\n";
    h.input(&notify);
    assert_eq!(h.sent()[0].status(), 200);
    assert!(matches!(h.events().as_slice(), [Event::Notify { .. }]));
}

#[test]
fn a_refused_or_unanswered_refer_is_reported_as_not_accepted() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("x2@x", "z9hG4bK-x4", ""));
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let ok = h.sent().pop().unwrap().response().clone();
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-x5", 1, ""));
    h.events();
    h.ep.refer(h.now, call, "sip:desk@10.0.0.5").unwrap();
    let refer = h.sent()[0].request().clone();
    h.input(&answer_request(&refer, 603));
    assert!(matches!(
        h.events().as_slice(),
        [Event::ReferResult {
            accepted: false,
            ..
        }]
    ));

    h.ep.refer(h.now, call, "sip:desk@10.0.0.5").unwrap();
    h.sent();
    let resent = h.advance(Duration::from_secs(33));
    assert!(resent
        .iter()
        .all(|s| matches!(&s.msg, Message::Request(r) if r.method == Method::Refer)));
    assert!(matches!(
        h.events().as_slice(),
        [Event::ReferResult {
            accepted: false,
            ..
        }]
    ));
    assert_eq!(h.ep.call_count(), 1, "a failed transfer leaves the call up");
}

#[test]
fn redirect_before_answer_is_a_302_with_the_target_as_contact() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("x3@x", "z9hG4bK-x6", ""));
    h.sent();
    h.ep.reject(h.now, call, 302, &[("Contact", "<sip:desk@10.0.0.5>")])
        .unwrap();
    let sent = h.sent();
    assert_eq!(sent[0].status(), 302);
    assert_eq!(
        sent[0].response().headers.get("Contact"),
        Some("<sip:desk@10.0.0.5>")
    );
}

#[test]
fn a_refer_asked_for_before_the_ack_goes_once_the_ack_arrives() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("x4@x", "z9hG4bK-x7", ""));
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let ok = h.sent().pop().unwrap().response().clone();
    h.ep.refer(h.now, call, "sip:desk@10.0.0.5").unwrap();
    assert!(
        h.sent().is_empty(),
        "no request in the dialog before the ACK"
    );
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-x8", 1, ""));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].request().method, Method::Refer);
}
