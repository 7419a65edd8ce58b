//! A re-INVITE (hold) reaches the application as a re-offer; its answer is a 200 repeated until the ACK.
mod common;

use std::time::Duration;

use chorus_sip::endpoint::Event;
use common::*;

#[test]
fn reinvite_is_passed_up_and_answered() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("h1@x", "z9hG4bK-h1", ""));
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let ok = h.sent().pop().unwrap().response().clone();
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-h2", 1, ""));
    h.events();

    let hold = SDP.replace(
        "a=rtpmap:0 PCMU/8000\n",
        "a=rtpmap:0 PCMU/8000\na=sendonly\n",
    );
    h.input(&in_dialog("INVITE", &ok, "z9hG4bK-h3", 2, &hold));
    assert_eq!(h.sent()[0].status(), 100);
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::Reoffer { offer: Some(o), .. }] if String::from_utf8_lossy(o).contains("sendonly"))
    );

    // A second re-INVITE while the first is pending: 500 with Retry-After (§14.2).
    h.input(&in_dialog("INVITE", &ok, "z9hG4bK-h4", 3, &hold));
    let sent = h.sent();
    assert_eq!(sent[0].status(), 500);
    assert!(sent[0].response().headers.get("Retry-After").is_some());
    // That 500 is a non-2xx final: acknowledged hop by hop with the same branch.
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-h4", 3, ""));
    assert!(h.sent().is_empty());

    h.ep.answer_reoffer(h.now, call, 200, Some(b"answer".to_vec()))
        .unwrap();
    let ok2 = h.sent().pop().unwrap().response().clone();
    assert_eq!(ok2.status, 200);
    assert_eq!(ok2.body, b"answer");
    assert!(ok2.headers.get("CSeq").unwrap().starts_with("2 "));
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-h5", 2, ""));
    assert!(
        h.advance(Duration::from_secs(40)).is_empty(),
        "ACK stopped the 200"
    );
    assert!(h.ep.answer_reoffer(h.now, call, 200, None).is_err());
    assert_eq!(h.ep.call_count(), 1);
}

#[test]
fn info_is_answered_and_passed_up() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("h2@x", "z9hG4bK-i1", ""));
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let ok = h.sent().pop().unwrap().response().clone();
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-i2", 1, ""));
    h.events();
    let info = in_dialog("INFO", &ok, "z9hG4bK-i3", 2, "Signal=5\nDuration=160\n")
        .replace("application/sdp", "application/dtmf-relay");
    h.input(&info);
    assert_eq!(h.sent()[0].status(), 200);
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::Info { content_type, .. }] if content_type == "application/dtmf-relay")
    );
}
