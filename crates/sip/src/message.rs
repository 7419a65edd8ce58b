//! SIP messages (RFC 3261 §7, §20): the request/response model, its parser and its serializer.
//!
//! Headers are kept as text in arrival order (compact names expanded) and given structure on demand, so a
//! message we relay or answer keeps what the peer wrote, and a header we never look at costs one slice copy.
//!
//! Why in-project: the maintained crates were measured against the 49 RFC 4475 torture messages
//! (`tests/rfc4475.rs`, bit-exact fixtures) and a parse-throughput run on an INVITE with SDP (release
//! build, parse plus Via/From/To/Call-ID/CSeq decoded). `rsip` 0.4.0 fails 7 of the 13 valid messages
//! (wsinv, intmeth, esc01, esc02, longreq, semiuri, and the core headers of dblreq) and accepts 9 of the 19 invalid
//! ones outright, among them negative and oversized Content-Length. `ezk-sip-types` 0.6.5 has no message
//! parser of its own (only a line puller; framing is in `ezk-sip-core`), fails the core headers of
//! wsinv, and accepts 11 of the 19 invalid ones, including LWS inside the Request-URI and extra SP in
//! the request line. This parser passes all 13 valid messages and refuses 17 of the 19 invalid ones with a
//! 400 reason; the two it takes (baddate, regbadct) carry the fault in Date and a REGISTER Contact, which
//! chorus never reads. It was also the fastest on every run on a shared 2-core machine (about 1.2-1.8x
//! rsip and ezk; `benches/sip_parse.rs` has the numbers for this one). None of the three panicked.

use std::fmt;
use std::fmt::Write as _;

use crate::error::ParseError;
use crate::uri::{split_host_port, Uri};

/// Largest message accepted (RFC 3261 §18.1.1 leaves it to us; 64 KiB is a common ceiling).
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;
/// Most header lines accepted in one message: beyond this it is a flood, not a call.
pub const MAX_HEADERS: usize = 128;

/// A request method. Unknown extension methods are kept by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// OPTIONS
    Options,
    /// REGISTER
    Register,
    /// INFO (RFC 6086)
    Info,
    /// UPDATE (RFC 3311)
    Update,
    /// PRACK (RFC 3262)
    Prack,
    /// SUBSCRIBE (RFC 6665)
    Subscribe,
    /// NOTIFY (RFC 6665)
    Notify,
    /// REFER (RFC 3515)
    Refer,
    /// MESSAGE (RFC 3428)
    Message,
    /// PUBLISH (RFC 3903)
    Publish,
    /// Any other token.
    Other(String),
}

impl Method {
    /// Parses a method token; methods are case-sensitive (RFC 3261 §7.1).
    pub fn parse(s: &str) -> Result<Method, ParseError> {
        Ok(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other if !other.is_empty() && other.bytes().all(is_token_char) => {
                Method::Other(other.to_string())
            }
            _ => return Err(ParseError::BadStartLine),
        })
    }

    /// The method's token.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Header fields in arrival order. Names are stored in their canonical long form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, String)>,
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Headers {
        Headers::default()
    }
    /// The first value of a header (case-insensitive name; compact forms accepted).
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = canonical_name(name);
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }
    /// Every value of a header, each comma-separated element on its own (RFC 3261 §7.3.1): two `Via` lines
    /// and one `Via: a, b` line both give two values. Only for headers whose grammar is a comma list.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        let name = canonical_name(name);
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
            .flat_map(|(_, v)| split_list(v))
            .collect()
    }
    /// Whole header lines of one name, unsplit.
    pub fn get_lines<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = canonical_name(name);
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }
    /// Appends a header line.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.fields.push((canonical_name(&name), value.into()));
    }
    /// Inserts a header line at the top (used for Via).
    pub fn push_front(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.fields.insert(0, (canonical_name(&name), value.into()));
    }
    /// Replaces every line of this name with one value (appended if absent).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let canon = canonical_name(name);
        let value = value.into();
        match self
            .fields
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(&canon))
        {
            Some(i) => {
                self.fields[i].1 = value;
                let mut seen = 0;
                self.fields.retain(|(n, _)| {
                    if n.eq_ignore_ascii_case(&canon) {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.fields.push((canon, value)),
        }
    }
    /// Removes every line of this name.
    pub fn remove(&mut self, name: &str) {
        let canon = canonical_name(name);
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(&canon));
    }
    /// All lines as (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.fields.len()
    }
    /// True when there are no header lines.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Expands compact forms (RFC 3261 §7.3.3 and later RFCs) and gives known headers their usual spelling.
fn canonical_name(name: &str) -> String {
    const KNOWN: &[(&str, &str)] = &[
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("e", "Content-Encoding"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("f", "From"),
        ("s", "Subject"),
        ("k", "Supported"),
        ("t", "To"),
        ("v", "Via"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("b", "Referred-By"),
        ("x", "Session-Expires"),
        ("u", "Allow-Events"),
        ("call-id", "Call-ID"),
        ("contact", "Contact"),
        ("content-length", "Content-Length"),
        ("content-type", "Content-Type"),
        ("from", "From"),
        ("to", "To"),
        ("via", "Via"),
        ("cseq", "CSeq"),
        ("max-forwards", "Max-Forwards"),
        ("route", "Route"),
        ("record-route", "Record-Route"),
        ("supported", "Supported"),
        ("require", "Require"),
        ("allow", "Allow"),
        ("accept", "Accept"),
        ("user-agent", "User-Agent"),
        ("server", "Server"),
        ("session-expires", "Session-Expires"),
        ("min-se", "Min-SE"),
        ("retry-after", "Retry-After"),
        ("www-authenticate", "WWW-Authenticate"),
        ("event", "Event"),
        ("refer-to", "Refer-To"),
    ];
    for (k, v) in KNOWN {
        if name.eq_ignore_ascii_case(k) {
            return (*v).to_string();
        }
    }
    name.to_string()
}

/// Splits a comma list, ignoring commas inside quotes and angle brackets.
pub(crate) fn split_list(v: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut in_quote, mut in_angle, mut escaped) = (0, false, false, false);
    for (i, c) in v.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            ',' if !in_quote && !in_angle => {
                parts.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&v[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty())
}

/// A SIP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// Header fields.
    pub headers: Headers,
    /// The body (length taken from Content-Length).
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100..=699.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A request or a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// Parses one complete message (a UDP datagram, or a frame cut by [`crate::framing`]).
    ///
    /// Over UDP a missing Content-Length means the body runs to the end of the datagram (RFC 3261 §18.3);
    /// a Content-Length larger than the data present is an error; extra bytes after the body are dropped.
    pub fn parse(data: &[u8]) -> Result<Message, ParseError> {
        if data.len() > MAX_MESSAGE_SIZE {
            return Err(ParseError::TooLarge);
        }
        // RFC 3261 §7.5: ignore CRLFs before the start line (keepalives).
        let start = data
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .ok_or(ParseError::Empty)?;
        let data = &data[start..];
        let head_end = find_header_end(data).ok_or(ParseError::Incomplete)?;
        let head = std::str::from_utf8(&data[..head_end.0]).map_err(|_| ParseError::NotUtf8)?;
        let rest = &data[head_end.1..];

        let mut lines = unfold_lines(head);
        let start_line = lines.next().ok_or(ParseError::BadStartLine)?;
        let mut headers = Headers::new();
        for line in lines {
            if headers.len() >= MAX_HEADERS {
                return Err(ParseError::TooManyHeaders);
            }
            let (name, value) = line.split_once(':').ok_or(ParseError::BadHeaderLine)?;
            let name = name.trim_end_matches([' ', '\t']);
            if name.is_empty() || !name.bytes().all(is_token_char) {
                return Err(ParseError::BadHeaderLine);
            }
            headers.push(name, value.trim());
        }

        let content_length = {
            let mut lengths = headers.get_lines("Content-Length").map(str::trim);
            let first = lengths.next();
            // Two different lengths leave no way to find the body (RFC 4475 §3.3.9).
            if first.is_some_and(|first| lengths.any(|other| other != first)) {
                return Err(ParseError::BadContentLength);
            }
            first
                .map(|v| v.parse::<usize>().map_err(|_| ParseError::BadContentLength))
                .transpose()?
        };
        let body = match content_length {
            Some(len) => {
                if len > rest.len() {
                    return Err(ParseError::BadContentLength);
                }
                rest[..len].to_vec()
            }
            None => rest.to_vec(),
        };

        if let Some(status_line) = start_line.strip_prefix("SIP/2.0 ") {
            let (code, reason) = status_line.split_once(' ').unwrap_or((status_line, ""));
            let status: u16 = code.parse().map_err(|_| ParseError::BadStartLine)?;
            if !(100..=699).contains(&status) {
                return Err(ParseError::BadStartLine);
            }
            return Ok(Message::Response(Response {
                status,
                reason: reason.to_string(),
                headers,
                body,
            }));
        }
        let mut parts = start_line.split(' ');
        let (Some(method), Some(uri), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ParseError::BadStartLine);
        };
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(ParseError::BadStartLine);
        }
        // `?` is legal in the user part, so only a `?` after the host starts URI headers, which a
        // Request-URI must not have (RFC 3261 §19.1.5, RFC 4475 §3.1.2.11).
        let after_user = uri.find('@').map_or(uri, |at| &uri[at + 1..]);
        if after_user.contains('?') {
            return Err(ParseError::BadUri("headers in request-uri"));
        }
        Ok(Message::Request(Request {
            method: Method::parse(method)?,
            uri: Uri::parse(uri)?,
            headers,
            body,
        }))
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// Serializes the message; Content-Length is always written from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

/// Finds the end of the header section: (end of headers, start of body).
fn find_header_end(data: &[u8]) -> Option<(usize, usize)> {
    if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some((i, i + 4));
    }
    // Tolerate bare LF line endings from sloppy peers.
    data.windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2))
}

/// Lines of the header section with continuation lines (leading SP/HT) folded into the previous line.
fn unfold_lines(head: &str) -> impl Iterator<Item = String> + '_ {
    let mut out: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.push(' ');
                last.push_str(line.trim_start());
                continue;
            }
        }
        out.push(line.to_string());
    }
    out.into_iter()
}

fn write_headers(out: &mut String, headers: &Headers, body_len: usize) {
    for (n, v) in headers.iter() {
        if n.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        let _ = write!(out, "{n}: {v}\r\n");
    }
    let _ = write!(out, "Content-Length: {body_len}\r\n\r\n");
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Serializes the request.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512);
        let _ = write!(out, "{} {} SIP/2.0\r\n", self.method, self.uri);
        write_headers(&mut out, &self.headers, self.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Checks the headers every request must carry (RFC 3261 §8.1.1) and gives them structure.
    /// An error here is answered with 400 and the error's reason phrase.
    pub fn validate(&self) -> Result<RequestInfo, ParseError> {
        // These are not comma lists: two of them leave the request ambiguous (RFC 4475 §3.3.8).
        for name in ["From", "To", "Call-ID", "CSeq", "Max-Forwards"] {
            if self.headers.get_lines(name).nth(1).is_some() {
                return Err(ParseError::BadHeader(name));
            }
        }
        let via = self
            .headers
            .get_all("Via")
            .first()
            .copied()
            .ok_or(ParseError::MissingHeader("Via"))
            .and_then(Via::parse)?;
        let from = NameAddr::parse(
            self.headers
                .get("From")
                .ok_or(ParseError::MissingHeader("From"))?,
        )
        .map_err(|_| ParseError::BadHeader("From"))?;
        let to = NameAddr::parse(
            self.headers
                .get("To")
                .ok_or(ParseError::MissingHeader("To"))?,
        )
        .map_err(|_| ParseError::BadHeader("To"))?;
        let call_id = self
            .headers
            .get("Call-ID")
            .map(str::trim)
            .filter(|c| !c.is_empty() && !c.contains(char::is_whitespace))
            .ok_or(ParseError::MissingHeader("Call-ID"))?
            .to_string();
        let cseq = CSeq::parse(
            self.headers
                .get("CSeq")
                .ok_or(ParseError::MissingHeader("CSeq"))?,
        )?;
        if cseq.method != self.method {
            return Err(ParseError::BadHeader("CSeq"));
        }
        if let Some(mf) = self.headers.get("Max-Forwards") {
            mf.trim()
                .parse::<u8>()
                .map_err(|_| ParseError::BadHeader("Max-Forwards"))?;
        }
        Ok(RequestInfo {
            via,
            from,
            to,
            call_id,
            cseq,
        })
    }
}

/// The structured mandatory headers of a valid request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// The top Via.
    pub via: Via,
    /// From.
    pub from: NameAddr,
    /// To.
    pub to: NameAddr,
    /// Call-ID.
    pub call_id: String,
    /// CSeq.
    pub cseq: CSeq,
}

impl Response {
    /// A response to `req` (RFC 3261 §8.2.6): Via, From, To, Call-ID and CSeq copied. The To tag, when the
    /// request has none and the status is above 100, is the caller's to choose: pass it in `to_tag`.
    pub fn for_request(req: &Request, status: u16, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::new();
        for v in req.headers.get_lines("Via") {
            headers.push("Via", v);
        }
        for name in ["From", "To", "Call-ID", "CSeq"] {
            if let Some(v) = req.headers.get(name) {
                let mut value = v.to_string();
                if name == "To" && status > 100 {
                    if let Some(tag) = to_tag {
                        let has_tag = NameAddr::parse(v)
                            .ok()
                            .and_then(|n| n.tag().map(str::to_string));
                        if has_tag.is_none() {
                            value.push_str(";tag=");
                            value.push_str(tag);
                        }
                    }
                }
                headers.push(name, value);
            }
        }
        Response {
            status,
            reason: default_reason(status).to_string(),
            headers,
            body: Vec::new(),
        }
    }

    /// Serializes the response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512);
        let _ = write!(out, "SIP/2.0 {} {}\r\n", self.status, self.reason);
        write_headers(&mut out, &self.headers, self.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// The CSeq of the response.
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        CSeq::parse(
            self.headers
                .get("CSeq")
                .ok_or(ParseError::MissingHeader("CSeq"))?,
        )
    }
}

/// The usual reason phrase for a status code.
pub fn default_reason(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => match status / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

/// Header parameters `;name=value;flag`, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, Option<String>)>);

impl Params {
    fn parse(s: &str) -> Params {
        Params(
            s.split(';')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
                    None => (p.to_string(), None),
                })
                .collect(),
        )
    }
    /// A parameter by name (case-insensitive): `Some(None)` for a flag.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }
    /// Sets or adds a parameter.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_string);
        match self
            .0
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(entry) => entry.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.0 {
            match v {
                Some(v) => write!(f, ";{k}={v}")?,
                None => write!(f, ";{k}")?,
            }
        }
        Ok(())
    }
}

/// The transport named in a Via.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP
    Udp,
    /// TCP
    Tcp,
    /// TLS
    Tls,
    /// WebSocket (RFC 7118)
    Ws,
    /// Secure WebSocket
    Wss,
}

impl Transport {
    /// The token used in Via and `transport=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }
    /// Parses a transport token (case-insensitive).
    pub fn parse(s: &str) -> Option<Transport> {
        [
            Transport::Udp,
            Transport::Tcp,
            Transport::Tls,
            Transport::Ws,
            Transport::Wss,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }
    /// True for transports that deliver messages reliably (no retransmission timers).
    pub fn is_reliable(self) -> bool {
        self != Transport::Udp
    }
}

/// One Via header value (RFC 3261 §20.42).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// The transport.
    pub transport: Transport,
    /// The sent-by host.
    pub host: String,
    /// The sent-by port.
    pub port: Option<u16>,
    /// Parameters (branch, received, rport, ...).
    pub params: Params,
}

impl Via {
    /// Parses one Via value such as `SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport`.
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        let bad = ParseError::BadHeader("Via");
        let s = s.trim();
        // sent-protocol may have LWS around the slashes.
        let mut rest = s;
        let mut proto = Vec::with_capacity(3);
        for _ in 0..3 {
            rest = rest.trim_start();
            let end = rest
                .find(|c: char| c == '/' || c.is_whitespace())
                .unwrap_or(rest.len());
            proto.push(&rest[..end]);
            rest = rest[end..].trim_start();
            rest = rest.strip_prefix('/').unwrap_or(rest);
        }
        if !proto[0].eq_ignore_ascii_case("SIP") || proto[1] != "2.0" {
            return Err(bad);
        }
        let transport = Transport::parse(proto[2]).ok_or(bad.clone())?;
        let rest = rest.trim();
        let (sent_by, params) = match rest.find(';') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if !params.is_empty() && params[1..].split(';').any(|p| p.trim().is_empty()) {
            return Err(bad);
        }
        let sent_by: String = sent_by.split_whitespace().collect();
        let (host, port) = split_host_port(&sent_by).map_err(|_| bad)?;
        Ok(Via {
            transport,
            host: host.to_string(),
            port,
            params: Params::parse(params),
        })
    }
    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").flatten()
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport.as_str(), self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

/// A name-addr or addr-spec with header parameters: From, To, Contact, Route, Record-Route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted.
    pub display: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters (after the `>` or, for an addr-spec, after the URI).
    pub params: Params,
}

impl NameAddr {
    /// Parses `"Alice" <sip:alice@atlanta.com>;tag=1928301774` or `sip:alice@atlanta.com;tag=1`.
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        let s = s.trim();
        if let Some(lt) = find_unquoted(s, '<') {
            let gt = s[lt..]
                .find('>')
                .map(|i| i + lt)
                .ok_or(ParseError::BadUri("unclosed <"))?;
            let display = s[..lt].trim();
            let display = match display.strip_prefix('"') {
                Some(quoted) => quoted
                    .strip_suffix('"')
                    .ok_or(ParseError::BadUri("unbalanced quote"))?,
                // An unquoted display name is tokens and LWS only (RFC 4475 §3.1.2.15 baddn).
                None if display
                    .bytes()
                    .all(|b| is_token_char(b) || b == b' ' || b == b'\t') =>
                {
                    display
                }
                None => return Err(ParseError::BadUri("display name needs quotes")),
            };
            let inner = &s[lt + 1..gt];
            // No LWS between the brackets and the URI (RFC 4475 §3.1.2.14 badaspec).
            if inner.starts_with([' ', '\t']) || inner.ends_with([' ', '\t']) {
                return Err(ParseError::BadUri("whitespace inside <>"));
            }
            let uri = Uri::parse(inner)?;
            Ok(NameAddr {
                display: (!display.is_empty()).then(|| display.to_string()),
                uri,
                params: Params::parse(&s[gt + 1..]),
            })
        } else {
            // addr-spec: parameters after the URI are header parameters (RFC 3261 §20.10).
            let (uri, params) = match s.find(';') {
                Some(i) => (&s[..i], &s[i..]),
                None => (s, ""),
            };
            // A URI with headers or a comma must be in <> (RFC 3261 §20.10, RFC 4475 §3.1.2.13).
            if uri.contains(['?', ',']) {
                return Err(ParseError::BadUri("addr-spec needs <>"));
            }
            Ok(NameAddr {
                display: None,
                uri: Uri::parse(uri)?,
                params: Params::parse(params),
            })
        }
    }
    /// The tag parameter.
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").flatten()
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "\"{d}\" ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

fn find_unquoted(s: &str, target: char) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            c if c == target && !in_quote => return Some(i),
            _ => {}
        }
    }
    None
}

/// The CSeq header (RFC 3261 §20.16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number, below 2^31.
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses `4711 INVITE`.
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        let bad = ParseError::BadHeader("CSeq");
        let mut parts = s.split_whitespace();
        let (Some(n), Some(m), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad);
        };
        let seq: u32 = n.parse().map_err(|_| bad.clone())?;
        if seq >= 1 << 31 {
            return Err(bad);
        }
        Ok(CSeq {
            seq,
            method: Method::parse(m).map_err(|_| bad)?,
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:echo@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport\r\n\
v: SIP/2.0/TCP 10.0.0.1 ; branch=z9hG4bK-0, SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-x\r\n\
Max-Forwards: 70\r\n\
f: \"Alice, A.\" <sip:alice@127.0.0.1:5070>;tag=abc\r\n\
t: <sip:echo@127.0.0.1>\r\n\
i: call-1@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Subject: folded\r\n  over two lines\r\n\
Content-Type: application/sdp\r\n\
l: 4\r\n\r\nv=0\r\nextra";

    #[test]
    fn parses_request_with_compact_and_folded_headers() {
        let Message::Request(req) = Message::parse(INVITE.as_bytes()).unwrap() else {
            panic!("not a request");
        };
        assert_eq!(req.method, Method::Invite);
        assert_eq!(req.uri.user(), Some("echo"));
        assert_eq!(req.headers.get_all("Via").len(), 3);
        assert_eq!(req.headers.get("Subject"), Some("folded over two lines"));
        assert_eq!(req.body, b"v=0\r");
        let info = req.validate().unwrap();
        assert_eq!(info.via.branch(), Some("z9hG4bK-1"));
        assert_eq!(info.via.params.get("rport"), Some(None));
        assert_eq!(info.from.tag(), Some("abc"));
        assert_eq!(info.from.display.as_deref(), Some("Alice, A."));
        assert_eq!(info.to.tag(), None);
        assert_eq!(info.call_id, "call-1@127.0.0.1");
        assert_eq!(info.cseq.seq, 1);
        let second = Via::parse(req.headers.get_all("Via")[1]).unwrap();
        assert_eq!(second.transport, Transport::Tcp);
        assert_eq!(second.host, "10.0.0.1");
    }

    #[test]
    fn serializes_and_reparses() {
        let Message::Request(req) = Message::parse(INVITE.as_bytes()).unwrap() else {
            panic!("not a request");
        };
        let again = Message::parse(&req.to_bytes()).unwrap();
        assert_eq!(again, Message::Request(req.clone()));
        let resp = Response::for_request(&req, 200, Some("srv"));
        let Message::Response(parsed) = Message::parse(&resp.to_bytes()).unwrap() else {
            panic!("not a response");
        };
        assert_eq!(parsed.status, 200);
        assert_eq!(parsed.headers.get_all("Via").len(), 3);
        let to = NameAddr::parse(parsed.headers.get("To").unwrap()).unwrap();
        assert_eq!(to.tag(), Some("srv"));
        assert_eq!(parsed.cseq().unwrap().method, Method::Invite);
    }

    #[test]
    fn validation_names_the_fault() {
        let bad = INVITE.replace("CSeq: 1 INVITE", "CSeq: abc INVITE");
        let Message::Request(req) = Message::parse(bad.as_bytes()).unwrap() else {
            panic!("not a request");
        };
        let err = req.validate().unwrap_err();
        assert_eq!(err, ParseError::BadHeader("CSeq"));
        assert_eq!(err.reason(), "Bad Request (Bad CSeq header)");
        let mismatched = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
        let Message::Request(req) = Message::parse(mismatched.as_bytes()).unwrap() else {
            panic!("not a request");
        };
        assert!(req.validate().is_err());
    }

    #[test]
    fn refuses_oversized_and_floods() {
        let big = vec![b'a'; MAX_MESSAGE_SIZE + 1];
        assert_eq!(Message::parse(&big), Err(ParseError::TooLarge));
        let mut flood = String::from("OPTIONS sip:x@y SIP/2.0\r\n");
        for i in 0..=MAX_HEADERS {
            flood.push_str(&format!("X-{i}: y\r\n"));
        }
        flood.push_str("\r\n");
        assert_eq!(
            Message::parse(flood.as_bytes()),
            Err(ParseError::TooManyHeaders)
        );
        assert_eq!(
            Message::parse(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 50\r\n\r\nshort"),
            Err(ParseError::BadContentLength)
        );
    }
}
