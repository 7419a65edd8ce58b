//! Early media: 183 Session Progress carrying the SDP answer before the call is answered, repeated every
//! minute while it stays unanswered (RFC 3261 §13.3.1.1), as is 180; then the 200 with the same SDP, or
//! a final refusal. With 100rel (RFC 3262) in the
//! caller's Supported, the 183 goes reliably (RSeq, repeated at T1, 2*T1… until the PRACK, 504 after
//! 64*T1 without one) and the 200 waits for its PRACK; with Require: 100rel every provisional does, one
//! at a time. An INVITE without an offer gets early media only from a caller that takes 100rel: our
//! offer in the reliable 183, the answer in its PRACK (RFC 3262 §5).
mod common;

use std::time::Duration;

use chorus_sip::endpoint::{EndpointError, Event};
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
fn no_early_media_without_an_offer_from_a_caller_without_100rel() {
    let mut h = Harness::new();
    let call = h.incoming(&invite_without_offer("e4@x", "z9hG4bK-e4", ""));
    h.sent();
    assert!(matches!(
        h.ep.progress(h.now, call, SDP.as_bytes().to_vec()),
        Err(EndpointError::NoOffer)
    ));
    assert!(h.sent().is_empty(), "nothing sent");
    h.ep.ring(h.now, call).unwrap();
    assert_eq!(h.sent()[0].status(), 180);
}

/// An INVITE like [`invite`] with `extra` headers but no SDP offer.
fn invite_without_offer(call_id: &str, branch: &str, extra: &str) -> String {
    let with_offer = invite(call_id, branch, extra);
    let head = with_offer.split("Content-Type:").next().unwrap();
    format!("{head}Content-Length: 0\n\n")
}

/// A PRACK for `resp` acknowledging `rseq`, carrying `body` (an SDP answer, or nothing).
fn prack_with(
    resp: &chorus_sip::message::Response,
    branch: &str,
    cseq: u32,
    rseq: &str,
    body: &str,
) -> String {
    in_dialog("PRACK", resp, branch, cseq, body).replace(
        "Contact: <sip:alice@127.0.0.1:5070>\n",
        &format!("Contact: <sip:alice@127.0.0.1:5070>\nRAck: {rseq} 1 INVITE\n"),
    )
}

#[test]
fn without_an_offer_a_100rel_caller_gets_our_offer_in_a_reliable_183_and_answers_in_the_prack() {
    let mut h = Harness::new();
    let call = h.incoming(&invite_without_offer(
        "lo1@x",
        "z9hG4bK-lo1",
        "Supported: 100rel\n",
    ));
    h.sent();
    h.ep.progress(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let p = h.sent().remove(0).response().clone();
    assert_eq!(p.status, 183);
    assert_eq!(p.headers.get("Require"), Some("100rel"));
    assert_eq!(p.body, SDP.as_bytes(), "our offer");
    let rseq = p.headers.get("RSeq").expect("RSeq").to_string();

    // The dialplan answers before the PRACK: the 200 waits for it.
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    assert!(h.sent().is_empty());
    let answer = SDP.replace("6000", "6100");
    h.input(&prack_with(&p, "z9hG4bK-lo1p", 2, &rseq, &answer));
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::EarlyAnswer { call: c, body: Some(b) }]
            if *c == call && b == &answer.replace('\n', "\r\n").into_bytes()),
        "{events:?}"
    );
    let sent = h.sent();
    let statuses: Vec<(u16, &str)> = sent
        .iter()
        .map(|s| (s.status(), s.response().headers.get("CSeq").unwrap()))
        .collect();
    assert_eq!(statuses, [(200, "2 PRACK"), (200, "1 INVITE")]);
    assert_eq!(
        sent[1].response().body,
        SDP.as_bytes(),
        "the 200 repeats our SDP"
    );
    h.input(&in_dialog("ACK", sent[1].response(), "z9hG4bK-lo1a", 1, ""));
    assert!(
        matches!(h.events().as_slice(), [Event::Confirmed { body: None, .. }]),
        "an ACK without SDP: the offer/answer was done in the PRACK"
    );
}

#[test]
fn a_prack_without_the_answer_is_reported_as_such() {
    let mut h = Harness::new();
    let call = h.incoming(&invite_without_offer(
        "lo2@x",
        "z9hG4bK-lo2",
        "Require: 100rel\n",
    ));
    h.sent();
    h.ep.progress(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let p = h.sent().remove(0).response().clone();
    let rseq = p.headers.get("RSeq").expect("RSeq").to_string();
    h.input(&prack_with(&p, "z9hG4bK-lo2p", 2, &rseq, ""));
    assert!(matches!(
        h.events().as_slice(),
        [Event::EarlyAnswer { body: None, .. }]
    ));
    assert_eq!(h.sent()[0].status(), 200, "the PRACK itself is fine");
    h.ep.reject(h.now, call, 488, &[]).unwrap();
    assert_eq!(h.sent()[0].status(), 488);
}

#[test]
fn a_prack_of_a_plain_183_brings_no_early_answer_event() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("lo3@x", "z9hG4bK-lo3", "Supported: 100rel\n"));
    h.sent();
    h.ep.progress(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let p = h.sent().remove(0).response().clone();
    let rseq = p.headers.get("RSeq").expect("RSeq").to_string();
    h.input(&prack_with(&p, "z9hG4bK-lo3p", 2, &rseq, ""));
    assert!(
        h.events().is_empty(),
        "the INVITE had the offer: nothing to negotiate"
    );
}

/// A PRACK (RFC 3262) for the reliable provisional `resp`, with `RAck: <rseq> 1 INVITE`.
fn prack(resp: &chorus_sip::message::Response, branch: &str, cseq: u32, rseq: &str) -> String {
    in_dialog("PRACK", resp, branch, cseq, "").replace(
        "Content-Length: 0",
        &format!("RAck: {rseq} 1 INVITE\nContent-Length: 0"),
    )
}

#[test]
fn with_100rel_supported_the_183_is_reliable_and_the_200_waits_for_its_prack() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("r1@x", "z9hG4bK-r1", "Supported: 100rel, timer\n"));
    h.sent();
    h.ep.ring(h.now, call).unwrap();
    let ringing = h.sent();
    assert!(
        ringing[0].response().headers.get("RSeq").is_none(),
        "180 stays unreliable when 100rel is only supported"
    );
    h.ep.progress(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let p = h.sent().remove(0).response().clone();
    assert_eq!(p.status, 183);
    assert_eq!(p.headers.get("Require"), Some("100rel"));
    let rseq = p.headers.get("RSeq").expect("RSeq").to_string();
    assert_eq!(p.body, SDP.as_bytes());

    // Not PRACKed: sent again at T1, then 2*T1 later.
    let again = h.advance(Duration::from_millis(1600));
    let times: Vec<u128> = again.iter().map(|s| s.at.as_millis()).collect();
    assert_eq!(times, [500, 1500], "{again:?}");
    assert!(again
        .iter()
        .all(|s| s.status() == 183 && s.response().headers.get("RSeq") == Some(rseq.as_str())));

    // The answer waits: the 183 carried our SDP and is not acknowledged.
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    assert!(h.sent().is_empty(), "no 200 before the PRACK");

    // A PRACK for another RSeq is not ours.
    let wrong = format!("{}", rseq.parse::<u32>().unwrap() + 7);
    h.input(&prack(&p, "z9hG4bK-pr0", 2, &wrong));
    assert_eq!(h.sent()[0].status(), 481);

    h.input(&prack(&p, "z9hG4bK-pr1", 3, &rseq));
    let sent = h.sent();
    let statuses: Vec<(u16, String)> = sent
        .iter()
        .map(|s| {
            let r = s.response();
            (
                r.status,
                r.headers.get("CSeq").unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [(200, "3 PRACK".to_string()), (200, "1 INVITE".to_string())],
        "the PRACK's 200, then the INVITE's"
    );
    assert_eq!(sent[1].response().body, SDP.as_bytes());
    // No more 183s.
    let ok = sent[1].response().clone();
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-r1ack", 1, ""));
    assert!(h
        .advance(Duration::from_secs(10))
        .iter()
        .all(|s| s.status() != 183));
}

#[test]
fn without_a_prack_the_invite_gets_504_after_64_t1() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("r2@x", "z9hG4bK-r2", "Supported: 100rel\n"));
    h.sent();
    h.ep.progress(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    h.sent();
    let later = h.advance(Duration::from_secs(40));
    let reliable: Vec<u128> = later
        .iter()
        .filter(|s| s.status() == 183)
        .map(|s| s.at.as_millis())
        .collect();
    assert_eq!(reliable, [500, 1500, 3500, 7500, 15500, 31500], "{later:?}");
    let refused: Vec<&Sent> = later.iter().filter(|s| s.status() == 504).collect();
    assert_eq!(refused[0].at, Duration::from_secs(32), "{later:?}");
    let ended = h.events();
    assert!(
        ended
            .iter()
            .any(|e| matches!(e, chorus_sip::endpoint::Event::Ended { call: c, .. } if *c == call)),
        "{ended:?}"
    );
}

#[test]
fn with_100rel_required_every_provisional_is_reliable_one_at_a_time() {
    let mut h = Harness::new();
    let call = h.incoming(&invite("r3@x", "z9hG4bK-r3", "Require: 100rel\n"));
    let trying = h.sent();
    assert_eq!(trying[0].status(), 100, "100rel is supported: no 420");
    h.ep.ring(h.now, call).unwrap();
    let r180 = h.sent().remove(0).response().clone();
    assert_eq!(r180.status, 180);
    let rseq180: u32 = r180.headers.get("RSeq").unwrap().parse().unwrap();
    // The 183 waits for the 180's PRACK.
    h.ep.progress(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    assert!(h.sent().is_empty());
    h.input(&prack(&r180, "z9hG4bK-pr3", 2, &rseq180.to_string()));
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].status(), 200);
    let r183 = sent[1].response();
    assert_eq!(r183.status, 183);
    assert_eq!(
        r183.headers.get("RSeq"),
        Some((rseq180 + 1).to_string().as_str()),
        "RSeq counts up"
    );
    assert_eq!(r183.body, SDP.as_bytes());
}
