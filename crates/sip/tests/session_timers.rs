//! RFC 4028 session timers as UAS: the caller's refreshes keep a long call alive, a missing refresh ends
//! it with BYE, we refresh with UPDATE when we are the refresher, and too short an interval gets 422.
mod common;

use std::time::Duration;

use chorus_sip::endpoint::{EndReason, Event};
use chorus_sip::{Message, Method};
use common::*;

fn answered_call(h: &mut Harness, extra: &str) -> chorus_sip::Response {
    let call = h.incoming(&invite("st@x", "z9hG4bK-st1", extra));
    h.ep.answer(h.now, call, SDP.as_bytes().to_vec()).unwrap();
    let ok = h.sent().pop().unwrap().response().clone();
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-st2", 1, ""));
    h.events();
    ok
}

fn sent_requests(sent: &[Sent], method: Method) -> usize {
    sent.iter()
        .filter(|s| matches!(&s.msg, Message::Request(r) if r.method == method))
        .count()
}

#[test]
fn forty_minutes_with_caller_refreshes_every_45s_survive() {
    let mut h = Harness::new();
    let ok = answered_call(
        &mut h,
        "Session-Expires: 90;refresher=uac\nSupported: timer\n",
    );
    assert_eq!(ok.headers.get("Session-Expires"), Some("90;refresher=uac"));
    assert_eq!(ok.headers.get("Require"), Some("timer"));
    for i in 0..(40 * 60 / 45) {
        let cseq = 2 + i;
        let sent = h.advance(Duration::from_secs(45));
        assert_eq!(
            sent_requests(&sent, Method::Bye),
            0,
            "no BYE before refresh {i}"
        );
        h.input(&in_dialog(
            "UPDATE",
            &ok,
            &format!("z9hG4bK-up{i}"),
            cseq,
            "",
        ));
        let r = h.sent();
        assert_eq!(r[0].status(), 200);
        assert_eq!(
            r[0].response().headers.get("Session-Expires"),
            Some("90;refresher=uac")
        );
    }
    assert!(
        h.events().is_empty(),
        "the call is still up after 40 minutes"
    );
    assert_eq!(h.ep.call_count(), 1);
}

#[test]
fn a_missing_refresh_ends_the_call_with_bye_before_expiry() {
    let mut h = Harness::new();
    answered_call(
        &mut h,
        "Session-Expires: 90;refresher=uac\nSupported: timer\n",
    );
    // BYE at 90 s - min(32 s, 30 s) = 60 s.
    assert_eq!(
        sent_requests(&h.advance(Duration::from_secs(59)), Method::Bye),
        0
    );
    let sent = h.advance(Duration::from_secs(2));
    // The BYE at 60 s (and its timer E retransmission, unanswered here).
    assert!(sent_requests(&sent, Method::Bye) >= 1);
    assert_eq!(sent[0].at.as_secs(), 60);
    assert!(matches!(
        h.events().as_slice(),
        [Event::Ended {
            reason: EndReason::SessionExpired,
            ..
        }]
    ));
}

#[test]
fn a_reinvite_refresh_restarts_the_timer() {
    let mut h = Harness::new();
    let ok = answered_call(
        &mut h,
        "Session-Expires: 120;refresher=uac\nSupported: timer\n",
    );
    h.advance(Duration::from_secs(50));
    h.input(&in_dialog("INVITE", &ok, "z9hG4bK-re1", 2, SDP));
    h.sent();
    let call = match h.events().as_slice() {
        [Event::Reoffer { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    h.ep.answer_reoffer(h.now, call, 200, Some(SDP.as_bytes().to_vec()))
        .unwrap();
    let r = h.sent();
    assert_eq!(
        r[0].response().headers.get("Session-Expires"),
        Some("120;refresher=uac")
    );
    h.input(&in_dialog("ACK", &ok, "z9hG4bK-re2", 2, ""));
    // 50 s + 80 s is past the first deadline (88 s) but not the restarted one (138 s).
    assert_eq!(
        sent_requests(&h.advance(Duration::from_secs(80)), Method::Bye),
        0
    );
    assert!(sent_requests(&h.advance(Duration::from_secs(10)), Method::Bye) >= 1);
}

#[test]
fn as_refresher_we_send_update_every_half_interval() {
    let mut h = Harness::new();
    let ok = answered_call(&mut h, "Session-Expires: 90;refresher=uas\n");
    assert_eq!(ok.headers.get("Session-Expires"), Some("90;refresher=uas"));
    assert_eq!(ok.headers.get("Require"), None);
    let mut updates = 0;
    for _ in 0..(40 * 60 / 5) {
        for s in h.advance(Duration::from_secs(5)) {
            if let Message::Request(r) = &s.msg {
                assert_eq!(r.method, Method::Update);
                // We are the UAC of our UPDATE and stay the refresher (RFC 4028 §7.4).
                assert_eq!(r.headers.get("Session-Expires"), Some("90;refresher=uac"));
                updates += 1;
                h.input(&answer_request(r, 200));
            }
        }
    }
    assert_eq!(updates, 40 * 60 / 45, "one UPDATE per 45 s for 40 minutes");
    assert!(h.events().is_empty());
}

#[test]
fn too_short_an_interval_gets_422_with_min_se() {
    let mut h = Harness::new();
    h.input(&invite("st2@x", "z9hG4bK-st9", "Session-Expires: 60\n"));
    let sent = h.sent();
    assert_eq!(sent[0].status(), 422);
    assert_eq!(sent[0].response().headers.get("Min-SE"), Some("90"));
    assert!(h.events().is_empty());
}

#[test]
fn without_session_expires_there_is_no_timer() {
    let mut h = Harness::new();
    let ok = answered_call(&mut h, "");
    assert_eq!(ok.headers.get("Session-Expires"), None);
    assert!(h.advance(Duration::from_secs(3600)).is_empty());
    assert_eq!(h.ep.call_count(), 1);
}

#[test]
fn a_refresh_can_change_the_interval_and_too_short_a_one_gets_422() {
    let mut h = Harness::new();
    let ok = answered_call(
        &mut h,
        "Session-Expires: 90;refresher=uac\nSupported: timer\n",
    );
    let update = in_dialog("UPDATE", &ok, "z9hG4bK-rn1", 2, "").replace(
        "Content-Length: 0",
        "Session-Expires: 180;refresher=uac\nContent-Length: 0",
    );
    h.input(&update);
    let r = h.sent();
    assert_eq!(
        r[0].response().headers.get("Session-Expires"),
        Some("180;refresher=uac")
    );
    // The new interval holds: no BYE at the old deadline (60 s), BYE at 180 - 32 = 148 s.
    assert_eq!(
        sent_requests(&h.advance(Duration::from_secs(147)), Method::Bye),
        0
    );
    let short = in_dialog("UPDATE", &ok, "z9hG4bK-rn2", 3, "").replace(
        "Content-Length: 0",
        "Session-Expires: 30\nContent-Length: 0",
    );
    h.input(&short);
    let r = h.sent();
    assert_eq!(r[0].status(), 422);
    assert_eq!(r[0].response().headers.get("Min-SE"), Some("90"));
    assert!(sent_requests(&h.advance(Duration::from_secs(2)), Method::Bye) >= 1);
}

/// The UPDATE we sent as refresher, from what `advance` sent.
fn update_in(sent: &[Sent]) -> Option<chorus_sip::Request> {
    sent.iter().find_map(|s| match &s.msg {
        Message::Request(r) if r.method == Method::Update => Some(r.clone()),
        _ => None,
    })
}

#[test]
fn as_refresher_a_refresh_answered_481_or_408_ends_the_call() {
    for status in [481, 408] {
        let mut h = Harness::new();
        answered_call(&mut h, "Session-Expires: 90;refresher=uas\n");
        let sent = h.advance(Duration::from_secs(46));
        let update = update_in(&sent).expect("UPDATE at 45 s");
        h.input(&answer_request(&update, status));
        let sent = h.sent();
        assert_eq!(
            sent_requests(&sent, Method::Bye),
            1,
            "§10: BYE after {status}"
        );
        assert!(
            matches!(
                h.events().as_slice(),
                [Event::Ended {
                    reason: EndReason::SessionExpired,
                    ..
                }]
            ),
            "{status}"
        );
    }
}

#[test]
fn as_refresher_an_unanswered_refresh_ends_the_call() {
    let mut h = Harness::new();
    answered_call(&mut h, "Session-Expires: 90;refresher=uas\n");
    // UPDATE at 45 s, retransmitted, given up at 45 + 32 s (timer F): then BYE.
    let sent = h.advance(Duration::from_secs(76));
    assert!(update_in(&sent).is_some());
    assert_eq!(sent_requests(&sent, Method::Bye), 0);
    let sent = h.advance(Duration::from_secs(3));
    assert!(
        sent_requests(&sent, Method::Bye) >= 1,
        "BYE (and its retransmissions)"
    );
    assert!(matches!(
        h.events().as_slice(),
        [Event::Ended {
            reason: EndReason::SessionExpired,
            ..
        }]
    ));
}

#[test]
fn as_refresher_a_refused_refresh_is_tried_again_before_expiry() {
    let mut h = Harness::new();
    answered_call(&mut h, "Session-Expires: 90;refresher=uas\n");
    let sent = h.advance(Duration::from_secs(46));
    let update = update_in(&sent).expect("UPDATE at 45 s");
    // Refused (500): the session still expires at 90 s; another try half-way there (67.5 s).
    h.input(&answer_request(&update, 500));
    assert_eq!(sent_requests(&h.sent(), Method::Bye), 0);
    let sent = h.advance(Duration::from_secs(24));
    assert_eq!(sent_requests(&sent, Method::Bye), 0);
    let retry = update_in(&sent).expect("a second UPDATE before the expiry");
    h.input(&answer_request(&retry, 200));
    // That one succeeded: the session runs another interval, next refresh 45 s later.
    let sent = h.advance(Duration::from_secs(40));
    assert_eq!(sent_requests(&sent, Method::Bye), 0);
    assert_eq!(h.ep.call_count(), 1);
    assert!(h.events().is_empty());
}

#[test]
fn a_caller_without_update_that_supports_timers_refreshes_itself() {
    let mut h = Harness::new();
    let ok = answered_call(
        &mut h,
        "Session-Expires: 90\nSupported: timer\nAllow: INVITE, ACK, BYE, CANCEL\n",
    );
    assert_eq!(ok.headers.get("Session-Expires"), Some("90;refresher=uac"));
}

/// The re-INVITE we sent as refresher, from what `advance` sent.
fn invite_in(sent: &[Sent]) -> Option<chorus_sip::Request> {
    sent.iter().find_map(|s| match &s.msg {
        Message::Request(r) if r.method == Method::Invite => Some(r.clone()),
        _ => None,
    })
}

/// A call whose caller takes no UPDATE and runs no timer itself: we refresh, with re-INVITE.
fn call_refreshed_by_reinvite(h: &mut Harness) {
    let ok = answered_call(h, "Session-Expires: 90\nAllow: INVITE, ACK, BYE, CANCEL\n");
    assert_eq!(ok.headers.get("Session-Expires"), Some("90;refresher=uas"));
}

#[test]
fn without_update_from_the_caller_we_refresh_with_reinvite_and_ack_its_200() {
    let mut h = Harness::new();
    call_refreshed_by_reinvite(&mut h);
    let mut reinvites = 0;
    for _ in 0..(10 * 60 / 5) {
        let sent = h.advance(Duration::from_secs(5));
        assert_eq!(sent_requests(&sent, Method::Update), 0);
        assert_eq!(sent_requests(&sent, Method::Bye), 0);
        if let Some(inv) = invite_in(&sent) {
            reinvites += 1;
            // The same SDP as our 200 (no change, RFC 6337), and we stay the refresher.
            assert_eq!(inv.body, SDP.as_bytes());
            assert_eq!(inv.headers.get("Content-Type"), Some("application/sdp"));
            assert_eq!(inv.headers.get("Session-Expires"), Some("90;refresher=uac"));
            assert!(inv.headers.get("Contact").is_some());
            let ok = answer_request(&inv, 200);
            h.input(&ok);
            let acks: Vec<chorus_sip::Request> = h
                .sent()
                .into_iter()
                .filter_map(|s| match s.msg {
                    Message::Request(r) if r.method == Method::Ack => Some(r),
                    _ => None,
                })
                .collect();
            assert_eq!(acks.len(), 1, "the 200 is ACKed");
            let ack = &acks[0];
            assert_eq!(
                ack.headers.get("CSeq"),
                Some(
                    format!(
                        "{} ACK",
                        inv.headers.get("CSeq").unwrap().split(' ').next().unwrap()
                    )
                    .as_str()
                )
            );
            assert_ne!(
                ack.headers.get("Via"),
                inv.headers.get("Via"),
                "a 2xx ACK is its own transaction"
            );
            assert!(ack.headers.get("To").unwrap().contains("tag="));
            // A retransmitted 200 is ACKed again.
            h.input(&ok);
            assert_eq!(sent_requests(&h.sent(), Method::Ack), 1);
        }
    }
    assert_eq!(
        reinvites,
        10 * 60 / 45,
        "one re-INVITE per 45 s for 10 minutes"
    );
    assert_eq!(h.ep.call_count(), 1);
    assert!(h.events().is_empty());
}

#[test]
fn a_refused_refresh_reinvite_is_acked_and_tried_again_and_a_lost_one_ends_the_call() {
    let mut h = Harness::new();
    call_refreshed_by_reinvite(&mut h);
    let sent = h.advance(Duration::from_secs(46));
    let inv = invite_in(&sent).expect("re-INVITE at 45 s");
    // 491 (glare on the caller's side): ACKed in the INVITE's transaction, tried again before expiry.
    let refused = answer_request(&inv, 491);
    h.input(&refused);
    let ack = h.sent().into_iter().find_map(|s| match s.msg {
        Message::Request(r) if r.method == Method::Ack => Some(r),
        _ => None,
    });
    let ack = ack.expect("the 491 is ACKed");
    assert_eq!(
        ack.headers.get("Via"),
        inv.headers.get("Via"),
        "same branch for a non-2xx ACK"
    );
    h.input(&refused);
    assert_eq!(
        sent_requests(&h.sent(), Method::Ack),
        1,
        "its retransmission too"
    );
    let sent = h.advance(Duration::from_secs(24));
    let again = invite_in(&sent).expect("tried again half-way to the expiry");
    assert_ne!(again.headers.get("CSeq"), inv.headers.get("CSeq"));
    // Never answered: timer B (32 s), then BYE (RFC 4028 §10).
    let sent = h.advance(Duration::from_secs(33));
    assert!(
        sent_requests(&sent, Method::Bye) >= 1,
        "BYE after the refresh timed out"
    );
    assert!(matches!(
        h.events().as_slice(),
        [Event::Ended {
            reason: EndReason::SessionExpired,
            ..
        }]
    ));
}

#[test]
fn glare_with_our_refresh_reinvite_gets_491() {
    let mut h = Harness::new();
    let ok = answered_call(
        &mut h,
        "Session-Expires: 90\nAllow: INVITE, ACK, BYE, CANCEL\n",
    );
    let sent = h.advance(Duration::from_secs(46));
    assert!(invite_in(&sent).is_some());
    h.input(&in_dialog("INVITE", &ok, "z9hG4bK-glare", 2, SDP));
    let sent = h.sent();
    assert!(sent.iter().any(|s| s.status() == 491), "{sent:?}");
    assert!(h.events().is_empty(), "no re-offer for the application");
}
