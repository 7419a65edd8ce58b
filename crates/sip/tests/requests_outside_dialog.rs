//! OPTIONS, unsupported methods, broken requests and garbage, out of any dialog.
mod common;

use chorus_sip::Transport;
use common::*;

fn request(method: &str, extra: &str) -> String {
    format!(
        "{method} sip:chorus@127.0.0.1:5060 SIP/2.0\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{method}\n\
Max-Forwards: 70\n\
From: <sip:alice@127.0.0.1>;tag=a\n\
To: <sip:chorus@127.0.0.1>\n\
Call-ID: o-{method}@x\n\
CSeq: 1 {method}\n\
{extra}Content-Length: 0\n\n"
    )
}

#[test]
fn options_gets_200_with_allow_and_accept() {
    let mut h = Harness::new();
    h.input(&request("OPTIONS", ""));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let r = sent[0].response();
    assert_eq!(r.status, 200);
    assert!(r.headers.get("Allow").unwrap().contains("INVITE"));
    assert_eq!(r.headers.get("Accept"), Some("application/sdp"));
    assert!(r.headers.get("To").unwrap().contains("tag="));
    // Without rport, the response goes to the Via sent-by port.
    assert_eq!(sent[0].to.addr.to_string(), "127.0.0.1:5070");
}

#[test]
fn known_but_unsupported_methods_get_405_with_allow() {
    let mut h = Harness::new();
    for m in ["REGISTER", "SUBSCRIBE", "MESSAGE", "REFER", "PUBLISH"] {
        h.input(&request(m, ""));
        let sent = h.sent();
        assert_eq!(sent[0].status(), 405, "{m}");
        assert!(sent[0].response().headers.get("Allow").is_some());
    }
}

#[test]
fn unknown_methods_get_501() {
    let mut h = Harness::new();
    h.input(&request("FOO", ""));
    assert_eq!(h.sent()[0].status(), 501);
}

#[test]
fn dialog_requests_without_a_dialog_get_481() {
    let mut h = Harness::new();
    for m in ["BYE", "INFO"] {
        h.input(&request(m, ""));
        assert_eq!(h.sent()[0].status(), 481, "{m}");
    }
}

#[test]
fn missing_call_id_gets_400_naming_it() {
    let mut h = Harness::new();
    h.input(&request("OPTIONS", "").replace("Call-ID: o-OPTIONS@x\n", ""));
    let sent = h.sent();
    assert_eq!(sent[0].status(), 400);
    assert_eq!(
        sent[0].response().reason,
        "Bad Request (Missing Call-ID header)"
    );
}

#[test]
fn unparseable_request_with_the_needed_headers_gets_400() {
    let mut h = Harness::new();
    h.input(&request("OPTIONS", "Content-Length: nope\n").replace("Content-Length: 0\n", ""));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status(), 400);
    assert!(sent[0].response().reason.starts_with("Bad Request"));
}

#[test]
fn garbage_and_acks_to_nothing_are_dropped() {
    let mut h = Harness::new();
    h.input("\x01\x02 hello");
    h.input("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\n\n");
    h.input(&request("ACK", ""));
    h.ep.handle_input(h.now, h.peer, &[0xff; 70_000]);
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.ep.stats().dropped, 2);
}

#[test]
fn require_of_an_unknown_extension_gets_420() {
    let mut h = Harness::new();
    h.input(&invite("e1@x", "z9hG4bK-e1", "Require: 100rel, foo\n"));
    let sent = h.sent();
    assert_eq!(sent[0].status(), 420);
    assert_eq!(
        sent[0].response().headers.get("Unsupported"),
        Some("foo"),
        "100rel and timer are supported; only the unknown one is named"
    );
    assert!(h.events().is_empty());
}

#[test]
fn rport_sends_responses_to_the_source_port_and_tcp_to_the_connection() {
    let mut h = Harness::new();
    let text = request("OPTIONS", "").replace(
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-OPTIONS",
        "Via: SIP/2.0/UDP 10.9.9.9:5070;branch=z9hG4bK-OPTIONS;rport",
    );
    h.input_from("127.0.0.1:40000", &text);
    let sent = h.sent();
    assert_eq!(sent[0].to.addr.to_string(), "127.0.0.1:40000");
    let via = sent[0].response().headers.get("Via").unwrap();
    assert!(via.contains("received=127.0.0.1"), "{via}");
    assert!(via.contains("rport=40000"), "{via}");

    let mut h = Harness::with_transport(Transport::Tcp);
    h.peer.conn = Some(chorus_sip::ConnId(4));
    h.input(&request("OPTIONS", ""));
    assert_eq!(h.sent()[0].to.conn, Some(chorus_sip::ConnId(4)));
}

#[test]
fn draining_refuses_new_calls_with_503() {
    let mut h = Harness::new();
    h.ep.set_draining(Some(30));
    h.input(&invite("d1@x", "z9hG4bK-d1", ""));
    let sent = h.sent();
    assert_eq!(sent[0].status(), 503);
    assert_eq!(sent[0].response().headers.get("Retry-After"), Some("30"));
    assert!(h.events().is_empty());
}

#[test]
fn the_same_invite_on_another_branch_is_a_merged_request_482() {
    // RFC 3261 §8.2.2.2: a forking proxy or a loop brings the INVITE back with a new branch. One call,
    // and the copy gets 482 Loop Detected (found by endpoint_fuzz.rs: it used to make a second call).
    let mut h = Harness::new();
    h.incoming(&invite("m1@x", "z9hG4bK-m1a", ""));
    h.sent();
    h.input(&invite("m1@x", "z9hG4bK-m1b", ""));
    assert!(h.events().is_empty(), "no second call");
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].status(), 482);
    assert_eq!(h.ep.call_count(), 1);
    // A retransmission on the first branch is still absorbed by its transaction.
    h.input(&invite("m1@x", "z9hG4bK-m1a", ""));
    assert!(h.events().is_empty());
    assert!(
        h.sent().iter().all(|s| s.status() == 100),
        "only 100 Trying again"
    );
}
