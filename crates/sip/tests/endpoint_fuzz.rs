//! Property test of the endpoint as a whole: random sequences of what a caller can send in one call
//! (INVITE with or without an offer and 100rel, PRACK with right or wrong RAck, UPDATE, re-INVITE, ACK,
//! CANCEL, BYE, INFO, NOTIFY, OPTIONS, some of them with a byte mangled), of what the application can do
//! (ring, progress, answer, reject, hang up, refer, answer a re-offer), of how the caller answers the
//! endpoint's own requests (BYE, UPDATE refresh, REFER: 200, an error, or silence), and of time passing (0
//! to 90 s, every timer fired on the way), in any order. Whatever the order:
//! - nothing panics;
//! - everything the endpoint sends parses (the harness checks each message);
//! - once the application hangs up and five minutes pass, no call is left (no leak, whatever state the
//!   call was in).
//!
//! It found that the same INVITE arriving again on a new branch (a forking proxy or a loop merging it back)
//! made a second call; it now gets 482 (RFC 3261 §8.2.2.2), tested in `requests_outside_dialog.rs`.

mod common;

use std::time::Duration;

use chorus_sip::endpoint::{CallHandle, Event};
use common::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Caller {
    /// body: offer or none; rel100: 0 none, 1 Supported, 2 Require; timer: 0 none, 1 Session-Expires
    /// with UPDATE allowed (we refresh by UPDATE), 2 without UPDATE (we refresh by re-INVITE).
    Invite {
        offer: bool,
        rel100: u8,
        timer: u8,
    },
    ReInvite {
        offer: bool,
    },
    Ack,
    /// rseq: the last one seen (true) or a wrong one.
    Prack {
        right: bool,
        answer: bool,
    },
    Update {
        offer: bool,
    },
    Bye,
    Cancel,
    Info,
    Notify,
    Options,
}

#[derive(Clone, Debug)]
enum App {
    Ring,
    Progress,
    Answer,
    Reject,
    Hangup,
    Refer,
    AnswerReoffer(bool),
}

#[derive(Clone, Debug)]
enum Action {
    Caller(Caller, Option<(usize, u8)>),
    App(App),
    Advance(u64),
    /// How the caller answers requests from the endpoint from now on (0: not at all).
    Replies(u16),
}

fn caller() -> impl Strategy<Value = Caller> {
    prop_oneof![
        (any::<bool>(), 0u8..3, 0u8..3).prop_map(|(offer, rel100, timer)| Caller::Invite {
            offer,
            rel100,
            timer
        }),
        any::<bool>().prop_map(|offer| Caller::ReInvite { offer }),
        Just(Caller::Ack),
        (any::<bool>(), any::<bool>()).prop_map(|(right, answer)| Caller::Prack { right, answer }),
        any::<bool>().prop_map(|offer| Caller::Update { offer }),
        Just(Caller::Bye),
        Just(Caller::Cancel),
        Just(Caller::Info),
        Just(Caller::Notify),
        Just(Caller::Options),
    ]
}

fn app() -> impl Strategy<Value = App> {
    prop_oneof![
        Just(App::Ring),
        Just(App::Progress),
        Just(App::Answer),
        Just(App::Reject),
        Just(App::Hangup),
        Just(App::Refer),
        any::<bool>().prop_map(App::AnswerReoffer),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (caller(), proptest::option::weighted(0.15, (0usize..400, any::<u8>())))
            .prop_map(|(c, m)| Action::Caller(c, m)),
        3 => app().prop_map(Action::App),
        2 => (0u64..90_000).prop_map(Action::Advance),
        1 => prop_oneof![Just(200u16), Just(0), Just(481), Just(488), Just(491), Just(500), Just(603)]
            .prop_map(Action::Replies),
    ]
}

/// What the caller knows of the dialog.
struct CallerSide {
    to_tag: Option<String>,
    cseq: u32,
    rseq: Option<String>,
    branch: u32,
    call: Option<CallHandle>,
    /// Every call the endpoint reported (a new INVITE after the last one ended is a new call).
    calls: Vec<CallHandle>,
}

impl CallerSide {
    fn branch(&mut self) -> String {
        self.branch += 1;
        format!("z9hG4bK-fz{}", self.branch)
    }

    fn to(&self) -> String {
        match &self.to_tag {
            Some(t) => format!("<sip:echo@127.0.0.1>;tag={t}"),
            None => "<sip:echo@127.0.0.1>".into(),
        }
    }

    fn request(
        &mut self,
        method: &str,
        cseq: u32,
        branch: &str,
        extra: &str,
        body: &str,
    ) -> String {
        let ct = if body.is_empty() {
            String::new()
        } else if method == "INFO" {
            "Content-Type: application/dtmf-relay\n".to_string()
        } else {
            "Content-Type: application/sdp\n".to_string()
        };
        let body = body.replace('\n', "\r\n");
        format!(
            "{method} sip:chorus@127.0.0.1:5060 SIP/2.0\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport\n\
Max-Forwards: 70\n\
From: \"Alice\" <sip:alice@127.0.0.1:5070>;tag=caller1\n\
To: {to}\n\
Call-ID: fuzz-1@x\n\
CSeq: {cseq} {method}\n\
Contact: <sip:alice@127.0.0.1:5070>\n\
Allow: INVITE, ACK, BYE, CANCEL, PRACK, UPDATE, INFO, NOTIFY, REFER\n\
{extra}{ct}Content-Length: {}\n\n{body}",
            body.len(),
            to = self.to(),
        )
    }
}

fn run(actions: Vec<Action>) {
    let mut h = Harness::new();
    let mut c = CallerSide {
        to_tag: None,
        cseq: 1,
        rseq: None,
        branch: 0,
        call: None,
        calls: Vec::new(),
    };
    let mut invite_branch = String::from("z9hG4bK-fz0");
    let mut reoffer_pending = false;
    let mut replies = 200u16;
    for a in actions {
        match a {
            Action::Caller(kind, mangle) => {
                let text = match kind {
                    Caller::Invite {
                        offer,
                        rel100,
                        timer,
                    } => {
                        invite_branch = c.branch();
                        let extra = format!(
                            "{}{}",
                            ["", "Supported: 100rel\n", "Require: 100rel\n"][rel100 as usize],
                            [
                                "",
                                "Session-Expires: 90;refresher=uas\n",
                                "Session-Expires: 90\n"
                            ][timer as usize]
                        );
                        let text = c.request(
                            "INVITE",
                            1,
                            &invite_branch.clone(),
                            &extra,
                            if offer { SDP } else { "" },
                        );
                        if timer == 2 {
                            text.replace(
                                "Allow: INVITE, ACK, BYE, CANCEL, PRACK, UPDATE, INFO, NOTIFY, REFER\n",
                                "Allow: INVITE, ACK, BYE, CANCEL\n",
                            )
                        } else {
                            text
                        }
                    }
                    Caller::ReInvite { offer } => {
                        c.cseq += 1;
                        let (cseq, b) = (c.cseq, c.branch());
                        c.request("INVITE", cseq, &b, "", if offer { SDP } else { "" })
                    }
                    Caller::Ack => {
                        let b = c.branch();
                        c.request("ACK", 1, &b, "", "")
                    }
                    Caller::Prack { right, answer } => {
                        c.cseq += 1;
                        let rseq = match (&c.rseq, right) {
                            (Some(r), true) => r.clone(),
                            _ => "424242".into(),
                        };
                        let (cseq, b) = (c.cseq, c.branch());
                        c.request(
                            "PRACK",
                            cseq,
                            &b,
                            &format!("RAck: {rseq} 1 INVITE\n"),
                            if answer { SDP } else { "" },
                        )
                    }
                    Caller::Update { offer } => {
                        c.cseq += 1;
                        let (cseq, b) = (c.cseq, c.branch());
                        c.request(
                            "UPDATE",
                            cseq,
                            &b,
                            "Session-Expires: 90\n",
                            if offer { SDP } else { "" },
                        )
                    }
                    Caller::Bye => {
                        c.cseq += 1;
                        let (cseq, b) = (c.cseq, c.branch());
                        c.request("BYE", cseq, &b, "", "")
                    }
                    Caller::Cancel => {
                        let b = invite_branch.clone();
                        let saved = c.to_tag.take();
                        let t = c.request("CANCEL", 1, &b, "", "");
                        c.to_tag = saved;
                        t
                    }
                    Caller::Info => {
                        c.cseq += 1;
                        let (cseq, b) = (c.cseq, c.branch());
                        c.request("INFO", cseq, &b, "", "Signal=5\nDuration=160\n")
                    }
                    Caller::Notify => {
                        c.cseq += 1;
                        let (cseq, b) = (c.cseq, c.branch());
                        c.request(
                            "NOTIFY",
                            cseq,
                            &b,
                            "Event: refer\nSubscription-State: terminated\nContent-Type: message/sipfrag\n",
                            "",
                        )
                    }
                    Caller::Options => {
                        c.cseq += 1;
                        let (cseq, b) = (c.cseq, c.branch());
                        c.request("OPTIONS", cseq, &b, "", "")
                    }
                };
                let mut data = text.replace('\n', "\r\n").into_bytes();
                if let Some((pos, byte)) = mangle {
                    if !data.is_empty() {
                        let i = pos % data.len();
                        data[i] = byte;
                    }
                }
                let peer = h.peer;
                h.ep.handle_input(h.now, peer, &data);
            }
            Action::App(kind) => {
                let Some(call) = c.call else { continue };
                let now = h.now;
                // Errors (wrong state, no such call) are the point: they must be errors, not panics.
                let _ = match kind {
                    App::Ring => h.ep.ring(now, call),
                    App::Progress => h.ep.progress(now, call, SDP.as_bytes().to_vec()),
                    App::Answer => h.ep.answer(now, call, SDP.as_bytes().to_vec()),
                    App::Reject => h.ep.reject(now, call, 404, &[]),
                    App::Hangup => h.ep.hangup(now, call),
                    App::Refer => h.ep.refer(now, call, "sip:desk@127.0.0.1"),
                    App::AnswerReoffer(ok) if reoffer_pending => {
                        reoffer_pending = false;
                        if ok {
                            h.ep.answer_reoffer(now, call, 200, Some(SDP.as_bytes().to_vec()))
                        } else {
                            h.ep.answer_reoffer(now, call, 488, None)
                        }
                    }
                    App::AnswerReoffer(_) => Ok(()),
                };
            }
            Action::Advance(ms) => {
                h.advance(Duration::from_millis(ms));
            }
            Action::Replies(status) => replies = status,
        }
        // What came out: learn the tag and RSeq as a caller would; answer our requests (BYE, UPDATE,
        // REFER) from the caller's side.
        for s in h.sent() {
            match &s.msg {
                chorus_sip::Message::Response(r) => {
                    if c.to_tag.is_none() {
                        if let Some(tag) = r.headers.get("To").and_then(|t| t.split(";tag=").nth(1))
                        {
                            c.to_tag = Some(tag.split(';').next().unwrap_or(tag).to_string());
                        }
                    }
                    if let Some(rseq) = r.headers.get("RSeq") {
                        c.rseq = Some(rseq.to_string());
                    }
                }
                chorus_sip::Message::Request(req) if replies != 0 => {
                    let reply = answer_request(req, replies);
                    let peer = h.peer;
                    h.ep.handle_input(h.now, peer, reply.replace('\n', "\r\n").as_bytes());
                }
                chorus_sip::Message::Request(_) => {}
            }
        }
        for e in h.events() {
            match e {
                Event::IncomingCall(ic) => {
                    c.call = Some(ic.handle);
                    c.calls.push(ic.handle);
                }
                Event::Reoffer { .. } => reoffer_pending = true,
                _ => {}
            }
        }
    }
    // The application hangs up whatever is left; five minutes later nothing may remain.
    let now = h.now;
    if let (Some(call), true) = (c.call, reoffer_pending) {
        let _ = h.ep.answer_reoffer(now, call, 488, None);
    }
    for call in &c.calls {
        let _ = h.ep.hangup(now, *call);
    }
    for _ in 0..10 {
        for s in h.advance(Duration::from_secs(30)) {
            if let chorus_sip::Message::Request(req) = &s.msg {
                let reply = answer_request(req, 200);
                let peer = h.peer;
                h.ep.handle_input(h.now, peer, reply.replace('\n', "\r\n").as_bytes());
            }
        }
        h.events();
    }
    assert_eq!(h.ep.call_count(), 0, "a call outlived its hangup");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_caller_app_and_time(actions in proptest::collection::vec(action(), 1..40)) {
        run(actions);
    }
}
