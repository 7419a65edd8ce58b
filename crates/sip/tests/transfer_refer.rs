//! Transfer (RFC 3515): REFER in the dialog, its answer reported, the NOTIFYs' sipfrag statuses reported; and the
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

    // The transferee reports its new call: trying, ringing, then answered (RFC 3515 §2.4.5).
    let progress = [
        (
            3,
            "active;expires=60",
            "SIP/2.0 100 Trying\r\n",
            Some(100),
            false,
        ),
        (
            4,
            "active;expires=60",
            "SIP/2.0 180 Ringing\r\n",
            Some(180),
            false,
        ),
        (
            5,
            "terminated;reason=noresource",
            "SIP/2.0 200 OK\r\n",
            Some(200),
            true,
        ),
    ];
    for (seq, state, frag, want_status, want_terminated) in progress {
        h.input(&notify(&ok, seq, state, frag));
        assert_eq!(h.sent()[0].status(), 200);
        match h.events().as_slice() {
            [Event::ReferProgress {
                status, terminated, ..
            }] => assert_eq!(
                (*status, *terminated),
                (want_status, want_terminated),
                "{frag}"
            ),
            other => panic!("{frag}: {other:?}"),
        }
    }
    // The subscription is over: a late NOTIFY for it is refused (RFC 6665 §4.1.3).
    h.input(&notify(&ok, 6, "terminated", "SIP/2.0 200 OK\r\n"));
    assert_eq!(h.sent()[0].status(), 481);
    assert!(h.events().is_empty());
}

/// A NOTIFY in the dialog of `ok` for the `refer` event package with a `message/sipfrag` body.
fn notify(ok: &chorus_sip::Response, seq: u32, state: &str, frag: &str) -> String {
    in_dialog("NOTIFY", ok, &format!("z9hG4bK-n{seq}"), seq, "").replace(
        "Content-Length: 0",
        &format!(
            "Event: refer\nSubscription-State: {state}\nContent-Type: message/sipfrag\nContent-Length: {}",
            frag.len()
        ),
    ) + frag
}

#[test]
fn a_failed_new_call_is_reported_and_stray_notifies_are_refused() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("x5@x", "z9hG4bK-x9", ""));
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let ok = h.sent().pop().unwrap().response().clone();
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-x10", 1, ""));
    h.events();

    // No REFER yet: a NOTIFY for it has no subscription; one for another package is a bad event.
    h.input(&notify(&ok, 2, "active", "SIP/2.0 100 Trying\r\n"));
    assert_eq!(h.sent()[0].status(), 481);
    h.input(
        &notify(&ok, 3, "active", "SIP/2.0 100 Trying\r\n")
            .replace("Event: refer", "Event: presence"),
    );
    assert_eq!(h.sent()[0].status(), 489);
    assert!(h.events().is_empty());

    h.ep.refer(h.now, call, "sip:desk@10.0.0.5").unwrap();
    let refer = h.sent()[0].request().clone();
    // The NOTIFY may overtake the 202 (RFC 3515 §2.4.4); it is taken all the same.
    h.input(&notify(
        &ok,
        4,
        "active;expires=60",
        "SIP/2.0 100 Trying\r\n",
    ));
    assert_eq!(h.sent()[0].status(), 200);
    h.input(&answer_request(&refer, 202));
    h.input(&notify(
        &ok,
        5,
        "terminated;reason=noresource",
        "SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n",
    ));
    let events = h.events();
    assert!(
        matches!(
            events.as_slice(),
            [
                Event::ReferProgress {
                    status: Some(100),
                    terminated: false,
                    ..
                },
                Event::ReferResult { accepted: true, .. },
                Event::ReferProgress {
                    status: Some(486),
                    terminated: true,
                    ..
                },
            ]
        ),
        "{events:?}"
    );
    // A body that is not a status line gives no status, but the state is still reported.
    h.ep.refer(h.now, call, "sip:desk@10.0.0.5").unwrap();
    h.sent();
    h.input(&notify(&ok, 6, "terminated", "garbage"));
    assert!(matches!(
        h.events().as_slice(),
        [Event::ReferProgress {
            status: None,
            terminated: true,
            ..
        }]
    ));
    assert_eq!(h.ep.call_count(), 1, "a failed transfer leaves the call up");
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
