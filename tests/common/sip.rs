//! Raw SIP over a UDP socket, for tests that need exact control of what is sent (bad input, call limits,
//! shutdown). Deliberately independent of `chorus-sip`: the peer must not share the server's parser.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A received SIP message, split just enough to check it.
#[derive(Clone, Debug)]
pub struct Msg {
    /// The first line.
    pub start: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Msg {
    /// Parses a datagram; `None` when it is not text with a start line.
    pub fn parse(data: &[u8]) -> Option<Msg> {
        let text = std::str::from_utf8(data).ok()?;
        let (head, body) = match text.find("\r\n\r\n") {
            Some(i) => (&text[..i], &text[i + 4..]),
            None => (text, ""),
        };
        let mut lines = head.split("\r\n");
        let start = lines.next()?.to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
                continue;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        Some(Msg {
            start,
            headers,
            body: body.to_string(),
        })
    }

    /// The status code, for a response.
    pub fn status(&self) -> Option<u16> {
        let rest = self.start.strip_prefix("SIP/2.0 ")?;
        rest.get(..3)?.parse().ok()
    }

    /// The reason phrase, for a response.
    pub fn reason(&self) -> &str {
        self.start.get(12..).unwrap_or("").trim()
    }

    /// The method, for a request.
    pub fn method(&self) -> Option<&str> {
        if self.start.starts_with("SIP/2.0") {
            return None;
        }
        self.start.split(' ').next()
    }

    /// The first header with this name (long or compact form), case-insensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        let compact = compact_form(name);
        self.headers
            .iter()
            .find(|(n, _)| {
                n.eq_ignore_ascii_case(name) || compact.is_some_and(|c| n.eq_ignore_ascii_case(c))
            })
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header (each line; comma lists are not split).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let compact = compact_form(name);
        self.headers
            .iter()
            .filter(|(n, _)| {
                n.eq_ignore_ascii_case(name) || compact.is_some_and(|c| n.eq_ignore_ascii_case(c))
            })
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The CSeq method.
    pub fn cseq_method(&self) -> Option<&str> {
        self.header("CSeq")?.split_whitespace().nth(1)
    }

    /// The `tag` parameter of the To header.
    pub fn to_tag(&self) -> Option<String> {
        tag_of(self.header("To")?)
    }

    /// The URI inside the Contact header.
    pub fn contact_uri(&self) -> Option<String> {
        let c = self.header("Contact")?;
        match (c.find('<'), c.find('>')) {
            (Some(a), Some(b)) if a < b => Some(c[a + 1..b].to_string()),
            _ => Some(c.split(';').next()?.trim().to_string()),
        }
    }
}

fn compact_form(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "via" => "v",
        "from" => "f",
        "to" => "t",
        "call-id" => "i",
        "contact" => "m",
        "content-length" => "l",
        "content-type" => "c",
        "supported" => "k",
        _ => return None,
    })
}

/// The `tag` parameter of a From or To value.
pub fn tag_of(value: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("tag")
            .then(|| v.trim().to_string())
    })
}

/// Receives one SIP message (skipping keepalives), or `None` after `timeout`.
pub fn recv(sock: &UdpSocket, timeout: Duration) -> Option<(Msg, SocketAddr)> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65536];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        if left.is_zero() {
            return None;
        }
        sock.set_read_timeout(Some(left)).ok()?;
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                if let Some(m) = Msg::parse(&buf[..n]) {
                    return Some((m, from));
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return None
            }
            Err(_) => continue,
        }
    }
}

/// Receives until `want` accepts a message (others are collected and returned too), or `timeout`.
pub fn recv_until(
    sock: &UdpSocket,
    timeout: Duration,
    mut want: impl FnMut(&Msg) -> bool,
) -> (Option<Msg>, Vec<Msg>) {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return (None, seen);
        };
        match recv(sock, left) {
            Some((m, _)) if want(&m) => return (Some(m), seen),
            Some((m, _)) => seen.push(m),
            None => return (None, seen),
        }
    }
}

/// Waits for the final response to a request (CSeq method `method`), skipping provisional ones and
/// anything else; fails the test after `timeout`.
pub fn final_response(sock: &UdpSocket, method: &str, timeout: Duration) -> Msg {
    let (m, seen) = recv_until(sock, timeout, |m| {
        m.status().is_some_and(|s| s >= 200) && m.cseq_method() == Some(method)
    });
    m.unwrap_or_else(|| {
        panic!(
            "no final response to {method} within {timeout:?}; received: {:#?}",
            seen.iter().map(|m| &m.start).collect::<Vec<_>>()
        )
    })
}

/// One dialog's worth of identifiers for a raw UDP caller.
#[derive(Clone, Debug)]
pub struct Leg {
    /// Call-ID.
    pub call_id: String,
    /// Our From tag.
    pub from_tag: String,
    /// The Request-URI user.
    pub user: String,
    /// The server.
    pub target: SocketAddr,
    /// Our socket's address.
    pub local: SocketAddr,
    /// The INVITE's branch (CANCEL and the ACK for a non-2xx reuse it).
    pub invite_branch: String,
    /// The server's To tag once known.
    pub to_tag: Option<String>,
}

impl Leg {
    /// A new leg from `sock` to `user` at `target`; `id` makes the Call-ID and tags unique.
    pub fn new(sock: &UdpSocket, target: SocketAddr, user: &str, id: &str) -> Leg {
        let local = sock.local_addr().unwrap();
        let unique = format!("{id}-{}-{}", std::process::id(), nanos());
        Leg {
            call_id: format!("{unique}@127.0.0.1"),
            from_tag: format!("ft{}", nanos()),
            user: user.to_string(),
            target,
            local,
            invite_branch: format!("z9hG4bK-inv-{unique}"),
            to_tag: None,
        }
    }

    fn uri(&self) -> String {
        format!("sip:{}@{}", self.user, self.target)
    }

    fn to(&self) -> String {
        match &self.to_tag {
            Some(t) => format!("<{}>;tag={t}", self.uri()),
            None => format!("<{}>", self.uri()),
        }
    }

    /// An INVITE with a PCMU/PCMA offer for RTP at `rtp_port`.
    pub fn invite(&self, rtp_port: u16) -> String {
        let sdp = format!(
            "v=0\r\no=test 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp_port} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\n"
        );
        format!(
            "INVITE {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:tester@{local}>;tag={ft}\r\n\
             To: {to}\r\n\
             Call-ID: {cid}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:tester@{local}>\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {len}\r\n\r\n{sdp}",
            uri = self.uri(),
            local = self.local,
            branch = self.invite_branch,
            ft = self.from_tag,
            to = self.to(),
            cid = self.call_id,
            len = sdp.len(),
        )
    }

    /// A request in the dialog (or for the INVITE transaction: CANCEL, non-2xx ACK) with CSeq `cseq`.
    pub fn request(&self, method: &str, cseq: u32, branch: &str) -> String {
        format!(
            "{method} {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:tester@{local}>;tag={ft}\r\n\
             To: {to}\r\n\
             Call-ID: {cid}\r\n\
             CSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n",
            uri = self.uri(),
            local = self.local,
            ft = self.from_tag,
            to = self.to(),
            cid = self.call_id,
        )
    }

    /// The ACK for a 2xx (a new transaction).
    pub fn ack_2xx(&self) -> String {
        self.request("ACK", 1, &format!("z9hG4bK-ack-{}", nanos()))
    }

    /// A BYE with CSeq 2.
    pub fn bye(&self) -> String {
        self.request("BYE", 2, &format!("z9hG4bK-bye-{}", nanos()))
    }
}

/// Places a call to `user` from `sock` and completes it (200 then ACK); fails the test otherwise.
pub fn establish(
    sock: &UdpSocket,
    target: SocketAddr,
    user: &str,
    id: &str,
    rtp_port: u16,
) -> (Leg, Msg) {
    let mut leg = Leg::new(sock, target, user, id);
    sock.send_to(leg.invite(rtp_port).as_bytes(), target)
        .unwrap();
    let ok = final_response(sock, "INVITE", Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "INVITE to {user}: {}", ok.start);
    leg.to_tag = ok.to_tag();
    sock.send_to(leg.ack_2xx().as_bytes(), target).unwrap();
    (leg, ok)
}

/// A response to a received request, echoing its Via, From, To (adding `to_tag` when it has none),
/// Call-ID and CSeq.
pub fn response_to(req: &Msg, status: u16, reason: &str, to_tag: Option<&str>) -> String {
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    for v in req.header_all("Via") {
        out.push_str(&format!("Via: {v}\r\n"));
    }
    let from = req.header("From").unwrap_or_default();
    let mut to = req.header("To").unwrap_or_default().to_string();
    if let (None, Some(t)) = (tag_of(&to), to_tag) {
        to.push_str(&format!(";tag={t}"));
    }
    out.push_str(&format!(
        "From: {from}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        req.header("Call-ID").unwrap_or_default(),
        req.header("CSeq").unwrap_or_default()
    ));
    out
}

/// An OPTIONS request from `sock` to `target`.
pub fn options(sock: &UdpSocket, target: SocketAddr, id: &str) -> String {
    let local = sock.local_addr().unwrap();
    let n = nanos();
    format!(
        "OPTIONS sip:{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-opt-{id}-{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:tester@{local}>;tag=o{n}\r\n\
         To: <sip:{target}>\r\n\
         Call-ID: opt-{id}-{n}-{}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        std::process::id()
    )
}

/// Sends OPTIONS and returns the final response; fails the test when none comes within 2 s.
pub fn ping(target: SocketAddr) -> Msg {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(options(&sock, target, "ping").as_bytes(), target)
        .unwrap();
    final_response(&sock, "OPTIONS", Duration::from_secs(2))
}

/// The `m=audio` port and `c=` address of an SDP body.
pub fn sdp_media(body: &str) -> Option<SocketAddr> {
    let ip = body
        .lines()
        .find_map(|l| l.trim().strip_prefix("c=IN IP4 "))?
        .trim();
    let port = body
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?;
    format!("{ip}:{port}").parse().ok()
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
