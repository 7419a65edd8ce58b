//! Early media: 183 Session Progress carrying the SDP answer before the call is answered, repeated every
//! minute while it stays unanswered (RFC 3261 §13.3.1.1), as is 180; then the 200 with the same SDP, or
//! a final refusal. No early media without an offer in the INVITE.
mod common;

use std::time::Duration;

use chorus_sip::endpoint::EndpointError;
use common::*;

#[test]
fn progress_sends_183_with_the_answer_then_200_with_the_same() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("e1@x", "z9hG4bK-e1", ""));
    h.sent();
    h.ep.progress(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let p = sent[0].response().clone();
    assert_eq!(p.status, 183);
    assert_eq!(p.reason, "Session Progress");
    let to = p.headers.get("To").unwrap().to_string();
    assert!(to.contains(";tag="), "183 opens the early dialog: {to}");
    assert_eq!(p.headers.get("Content-Type"), Some("application/sdp"));
    assert!(p.headers.get("Contact").is_some());
    assert_eq!(p.body, SDP.as_bytes());

    // Unanswered for a minute: the 183 again, same tag and SDP.
    let again = h.advance(Duration::from_secs(61));
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].at, Duration::from_secs(60));
    assert_eq!(again[0].status(), 183);
    assert_eq!(again[0].response().headers.get("To").unwrap(), to);
    assert_eq!(again[0].response().body, SDP.as_bytes());

    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let ok = h.sent().remove(0);
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.response().headers.get("To").unwrap(), to, "same tag");
    assert_eq!(ok.response().body, SDP.as_bytes());
    h.input(&in_dialog("ACK", ok.response(), "z9hG4bK-e1ack", 1, ""));
    assert!(
        h.advance(Duration::from_secs(130))
            .iter()
            .all(|s| s.status() != 183),
        "no provisional once answered"
    );
    assert!(
        h.ep.progress(h.now, call, SDP.as_bytes().to_vec()).is_err(),
        "an answered call has no early media"
    );
}

#[test]
fn progress_then_refusal_stops_the_repeats() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("e2@x", "z9hG4bK-e2", ""));
    h.sent();
    h.ep.progress(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    assert_eq!(h.sent()[0].status(), 183);
    h.advance(Duration::from_secs(20));
    h.ep.reject(h.now, call, 404, &[]).unwrap();
    let sent = h.sent();
    assert_eq!(sent[0].status(), 404);
    let late = h.advance(Duration::from_secs(120));
    assert!(
        late.iter().all(|s| s.status() == 404),
        "only the 404's retransmissions: {late:?}"
    );
}

#[test]
fn ringing_is_repeated_every_minute() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("e3@x", "z9hG4bK-e3", ""));
    h.sent();
    h.ep.ring(h.now, call).unwrap();
    assert_eq!(h.sent()[0].status(), 180);
    let again = h.advance(Duration::from_secs(150));
    let at: Vec<(u64, u16)> = again.iter().map(|s| (s.at.as_secs(), s.status())).collect();
    assert_eq!(at, [(60, 180), (120, 180)]);
}

#[test]
fn no_early_media_without_an_offer() {
    let mut h = Harness::new();
    let with_offer = invite("e4@x", "z9hG4bK-e4", "");
    let head = with_offer
        .split("Content-Type:")
        .next()
        .unwrap()
        .to_string();
    let call = h.incoming(&format!("{head}Content-Length: 0\n\n"));
    h.sent();
    assert!(matches!(
        h.ep.progress(h.now, call, SDP.as_bytes().to_vec()),
        Err(EndpointError::NoOffer)
    ));
    assert!(h.sent().is_empty(), "nothing sent");
    h.ep.ring(h.now, call).unwrap();
    assert_eq!(h.sent()[0].status(), 180);
}
