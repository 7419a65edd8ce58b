//! Our BYE goes back through the proxy that Record-Routed the INVITE, to the caller's Contact.
mod common;

use std::time::Duration;

use chorus_sip::endpoint::{EndReason, Event};
use chorus_sip::Method;
use common::*;

const RR: &str = "Record-Route: <sip:10.0.0.1;lr>, <sip:10.0.0.2:5080;lr;transport=udp>\n";

#[test]
fn bye_follows_the_route_set_and_ends_on_200() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("r1@x", "z9hG4bK-r1", RR).replace(
        "Contact: <sip:alice@127.0.0.1:5070>",
        "Contact: <sip:alice@192.0.2.7:5999>",
    ));
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let ok = h.sent().pop().unwrap().response().clone();
    let rr: Vec<&str> = ok.headers.get_all("Record-Route");
    assert_eq!(
        rr,
        vec!["<sip:10.0.0.1;lr>", "<sip:10.0.0.2:5080;lr;transport=udp>"]
    );
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-r2", 1, ""));
    h.events();

    h.ep.hangup(h.now, call).unwrap();
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let bye = sent[0].request().clone();
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(
        bye.uri.to_string(),
        "sip:alice@192.0.2.7:5999",
        "Request-URI is the remote target"
    );
    assert_eq!(
        bye.headers.get_all("Route"),
        vec!["<sip:10.0.0.1;lr>", "<sip:10.0.0.2:5080;lr;transport=udp>"]
    );
    assert_eq!(
        sent[0].to.addr.to_string(),
        "10.0.0.1:5060",
        "sent to the first route"
    );
    assert!(bye.headers.get("From").unwrap().contains("tag="));
    assert_eq!(
        bye.headers.get("To").unwrap(),
        "\"Alice\" <sip:alice@127.0.0.1:5070>;tag=caller1"
    );

    // No answer yet: timer E repeats the BYE.
    let again = h.advance(Duration::from_millis(600));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].request().method, Method::Bye);
    assert!(h.events().is_empty());

    h.input_from("10.0.0.1:5060", &answer_request(&bye, 200));
    let events = h.events();
    assert!(matches!(
        events.as_slice(),
        [Event::Ended { call: c, reason: EndReason::LocalBye }] if *c == call
    ));
    assert!(h.advance(Duration::from_secs(60)).is_empty());
}

#[test]
fn bye_without_any_response_ends_the_call_after_timer_f() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("r2@x", "z9hG4bK-r3", ""));
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let ok = h.sent().pop().unwrap().response().clone();
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-r4", 1, ""));
    h.events();
    h.ep.hangup(h.now, call).unwrap();
    let bye = h.sent().remove(0);
    assert_eq!(
        bye.to.addr.to_string(),
        CALLER,
        "no route set: straight to the Contact"
    );
    let sent = h.advance(Duration::from_secs(33));
    assert!(sent.len() >= 6, "timer E retransmissions: {}", sent.len());
    let events = h.events();
    assert!(matches!(
        events.as_slice(),
        [Event::Ended {
            reason: EndReason::TransportError,
            ..
        }]
    ));
}

#[test]
fn hangup_before_the_ack_waits_for_it() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("r3@x", "z9hG4bK-r5", ""));
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let ok = h.sent().pop().unwrap().response().clone();
    h.ep.hangup(h.now, call).unwrap();
    assert!(h.sent().is_empty(), "no BYE before the ACK (RFC 3261 §15)");
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-r6", 1, ""));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].request().method, Method::Bye);
}

#[test]
fn hangup_of_an_unanswered_call_sends_480() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("r4@x", "z9hG4bK-r7", ""));
    h.sent();
    h.ep.hangup(h.now, call).unwrap();
    assert_eq!(h.sent()[0].status(), 480);
    assert!(matches!(h.events().as_slice(), [Event::Ended { .. }]));
}
