//! A virtual-time harness around one [`Endpoint`]: feed it messages as a peer would, read back what it sends.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chorus_sip::endpoint::{CallHandle, Endpoint, EndpointConfig, Event};
use chorus_sip::{Message, Peer, Request, Response, Transport};
use rand::rngs::StdRng;
use rand::SeedableRng;

pub const CALLER: &str = "127.0.0.1:5070";

pub struct Harness {
    pub ep: Endpoint,
    pub now: Instant,
    pub start: Instant,
    pub peer: Peer,
}

/// One message the endpoint sent, with where it went and when.
#[derive(Debug)]
pub struct Sent {
    pub to: Peer,
    pub at: Duration,
    pub msg: Message,
}

impl Sent {
    pub fn response(&self) -> &Response {
        match &self.msg {
            Message::Response(r) => r,
            Message::Request(r) => panic!("expected a response, got {} request", r.method),
        }
    }
    pub fn request(&self) -> &Request {
        match &self.msg {
            Message::Request(r) => r,
            Message::Response(r) => panic!("expected a request, got {} response", r.status),
        }
    }
    pub fn status(&self) -> u16 {
        self.response().status
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_transport(Transport::Udp)
    }

    pub fn with_transport(transport: Transport) -> Harness {
        let now = Instant::now();
        let config = EndpointConfig {
            local_addr: "127.0.0.1:5060".parse().unwrap(),
            user_agent: "Chorus/test".into(),
            ..EndpointConfig::default()
        };
        Harness {
            ep: Endpoint::new(config, StdRng::seed_from_u64(7)),
            now,
            start: now,
            peer: Peer {
                transport,
                addr: CALLER.parse().unwrap(),
                conn: None,
            },
        }
    }

    pub fn input(&mut self, text: &str) {
        let data = text.replace('\n', "\r\n");
        let peer = self.peer;
        self.ep.handle_input(self.now, peer, data.as_bytes());
    }

    pub fn input_from(&mut self, addr: &str, text: &str) {
        let data = text.replace('\n', "\r\n");
        let peer = Peer::udp(addr.parse::<SocketAddr>().unwrap());
        self.ep.handle_input(self.now, peer, data.as_bytes());
    }

    pub fn sent(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        while let Some(t) = self.ep.poll_transmit() {
            out.push(Sent {
                to: t.peer,
                at: self.now - self.start,
                msg: Message::parse(&t.data).expect("endpoint sends parseable messages"),
            });
        }
        out
    }

    pub fn events(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(e) = self.ep.poll_event() {
            out.push(e);
        }
        out
    }

    /// Advances virtual time to `until`, firing every timer on the way; returns what was sent.
    pub fn advance(&mut self, by: Duration) -> Vec<Sent> {
        let until = self.now + by;
        let mut out = Vec::new();
        for _ in 0..10_000 {
            match self.ep.poll_timeout() {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    self.ep.handle_timeout(self.now);
                    out.extend(self.sent());
                }
                _ => break,
            }
        }
        self.now = until;
        out
    }

    /// Sends the INVITE and returns the new call's handle.
    pub fn incoming(&mut self, invite: &str) -> CallHandle {
        self.input(invite);
        let events = self.events();
        match events.as_slice() {
            [Event::IncomingCall(ic)] => ic.handle,
            other => panic!("expected one incoming call, got {other:?}"),
        }
    }
}

pub const SDP: &str = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 6000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n";

/// An INVITE from the caller with an SDP offer; `extra` is inserted among the headers.
pub fn invite(call_id: &str, branch: &str, extra: &str) -> String {
    let body = SDP.replace('\n', "\r\n");
    format!(
        "INVITE sip:echo@127.0.0.1:5060 SIP/2.0\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport\n\
Max-Forwards: 70\n\
From: \"Alice\" <sip:alice@127.0.0.1:5070>;tag=caller1\n\
To: <sip:echo@127.0.0.1>\n\
Call-ID: {call_id}\n\
CSeq: 1 INVITE\n\
Contact: <sip:alice@127.0.0.1:5070>\n\
{extra}Content-Type: application/sdp\n\
Content-Length: {}\n\n{}",
        body.len(),
        SDP
    )
}

/// A request in the dialog of `resp` (a 2xx we sent), from the caller.
pub fn in_dialog(method: &str, resp: &Response, branch: &str, cseq: u32, body: &str) -> String {
    let to = resp.headers.get("To").unwrap();
    let call_id = resp.headers.get("Call-ID").unwrap();
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\n".to_string()
    };
    let body_crlf = body.replace('\n', "\r\n");
    format!(
        "{method} sip:chorus@127.0.0.1:5060 SIP/2.0\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport\n\
Max-Forwards: 70\n\
From: \"Alice\" <sip:alice@127.0.0.1:5070>;tag=caller1\n\
To: {to}\n\
Call-ID: {call_id}\n\
CSeq: {cseq} {method}\n\
Contact: <sip:alice@127.0.0.1:5070>\n\
{ct}Content-Length: {}\n\n{body}",
        body_crlf.len()
    )
}

/// The response a peer sends back to `req` (a request the endpoint sent).
pub fn answer_request(req: &Request, status: u16) -> String {
    let mut resp = Response::for_request(req, status, Some("callee9"));
    resp.reason = "OK".into();
    String::from_utf8(resp.to_bytes())
        .unwrap()
        .replace("\r\n", "\n")
}
