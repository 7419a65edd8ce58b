//! Property tests on the SIP parser: garbage and mangled torture messages give an error value, never a
//! panic; over-long messages and header floods are refused before any work is spent on them.

use chorus_sip::message::{MAX_HEADERS, MAX_MESSAGE_SIZE};
use chorus_sip::{Message, NameAddr, ParseError, Uri, Via};
use proptest::prelude::*;

const SEEDS: &[&str] = &[
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "dblreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",
    "badinv01",
    "clerr",
    "ncl",
    "quotbal",
    "ltgtruri",
    "escruri",
    "multi01",
    "mcl01",
    "inv2543",
];

fn seeds() -> &'static [Vec<u8>] {
    static SEED_BYTES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    SEED_BYTES.get_or_init(|| {
        SEEDS
            .iter()
            .map(|n| {
                let path = format!(
                    "{}/tests/fixtures/rfc4475/{n}.sip",
                    env!("CARGO_MANIFEST_DIR")
                );
                std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
            })
            .collect()
    })
}

/// Everything a receiver does with a datagram: parse, validate, read the structured headers.
fn exercise(data: &[u8]) {
    match Message::parse(data) {
        Ok(Message::Request(req)) => {
            if let Err(e) = req.validate() {
                assert!(e.reason().starts_with("Bad Request ("));
            }
            for v in req.headers.get_all("Via") {
                let _ = Via::parse(v);
            }
            for name in ["From", "To", "Contact", "Route", "Record-Route"] {
                for v in req.headers.get_all(name) {
                    let _ = NameAddr::parse(v);
                }
            }
            let _ = Message::parse(&req.to_bytes());
        }
        Ok(Message::Response(resp)) => {
            let _ = resp.cseq();
            let _ = Message::parse(&resp.to_bytes());
        }
        Err(e) => {
            let _ = e.reason();
        }
    }
}

/// One mutation of a seed message.
#[derive(Clone, Debug)]
enum Mutation {
    FlipByte(usize, u8),
    Truncate(usize),
    DuplicateLine(usize),
    HugeNumber(usize),
    RemoveCrlf(usize),
    InsertBytes(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipByte(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        any::<usize>().prop_map(Mutation::HugeNumber),
        any::<usize>().prop_map(Mutation::RemoveCrlf),
        (
            any::<usize>(),
            prop::collection::vec(
                prop::sample::select(&b":;,<>\"\\@% \t\r\n?=/[]0\xff"[..]),
                1..8
            )
        )
            .prop_map(|(i, b)| Mutation::InsertBytes(i, b)),
    ]
}

fn line_starts(m: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            m.iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&i| i < m.len())
        .collect()
}

fn apply(m: &mut Vec<u8>, op: &Mutation) {
    if m.is_empty() {
        return;
    }
    match op {
        Mutation::FlipByte(i, b) => {
            let i = i % m.len();
            m[i] ^= b | 1;
        }
        Mutation::Truncate(i) => m.truncate(i % m.len()),
        Mutation::DuplicateLine(i) => {
            let starts = line_starts(m);
            let s = starts[i % starts.len()];
            let e = m[s..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(m.len(), |p| s + p + 1);
            let line = m[s..e].to_vec();
            m.splice(e..e, line);
        }
        Mutation::HugeNumber(i) => {
            // Replace a run of digits (or insert at a spot) with a number far beyond any integer type.
            let i = i % m.len();
            let s = (0..=i)
                .rev()
                .find(|&j| !m[j].is_ascii_digit())
                .map_or(0, |j| j + 1);
            let e = m[i..]
                .iter()
                .position(|b| !b.is_ascii_digit())
                .map_or(m.len(), |p| i + p);
            let e = e.max(s);
            m.splice(
                s..e,
                b"99999999999999999999999999999999999999".iter().copied(),
            );
        }
        Mutation::RemoveCrlf(i) => {
            let crlfs: Vec<usize> = m
                .windows(2)
                .enumerate()
                .filter(|(_, w)| w == b"\r\n")
                .map(|(i, _)| i)
                .collect();
            if !crlfs.is_empty() {
                let at = crlfs[i % crlfs.len()];
                m.drain(at..at + 2);
            }
        }
        Mutation::InsertBytes(i, bytes) => {
            let i = i % (m.len() + 1);
            m.splice(i..i, bytes.iter().copied());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&data);
    }

    #[test]
    fn random_sip_shaped_text_never_panics(
        start in prop::sample::select(&["INVITE sip:a@b SIP/2.0", "SIP/2.0 200 OK", "OPTIONS sip:x SIP/2.0", "ACK <sip:a> SIP/2.0"][..]),
        lines in prop::collection::vec("[A-Za-z-]{0,12}[ \t]*:[ -~\t]{0,60}", 0..20),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut m = format!("{start}\r\n");
        for l in &lines {
            m.push_str(l);
            m.push_str("\r\n");
        }
        m.push_str("\r\n");
        let mut data = m.into_bytes();
        data.extend_from_slice(&body);
        exercise(&data);
    }

    #[test]
    fn mutated_torture_messages_never_panic(
        seed in 0..SEEDS.len(),
        ops in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut m = seeds()[seed].clone();
        for op in &ops {
            apply(&mut m, op);
        }
        exercise(&m);
    }

    #[test]
    fn uri_and_header_grammars_never_panic(s in "[ -~\u{80}-\u{10ff}]{0,80}") {
        let _ = Uri::parse(&s);
        let _ = NameAddr::parse(&s);
        let _ = Via::parse(&s);
        let _ = chorus_sip::CSeq::parse(&s);
    }
}

#[test]
fn message_over_64_kib_is_refused() {
    let mut m = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:a@b>\r\nCall-ID: big\r\nCSeq: 1 MESSAGE\r\nContent-Length: 65536\r\n\r\n"
        .to_vec();
    m.resize(m.len() + 65536, b'x');
    assert!(m.len() > MAX_MESSAGE_SIZE);
    assert_eq!(Message::parse(&m), Err(ParseError::TooLarge));
    // A header section alone over the limit is refused the same way.
    let mut head = b"OPTIONS sip:a@b SIP/2.0\r\nX-Pad: ".to_vec();
    head.resize(MAX_MESSAGE_SIZE + 1, b'a');
    assert_eq!(Message::parse(&head), Err(ParseError::TooLarge));
}

#[test]
fn header_flood_of_1000_lines_is_refused() {
    let mut m = String::from("INVITE sip:a@b SIP/2.0\r\n");
    for i in 0..1000 {
        m.push_str(&format!("Via: SIP/2.0/UDP h{i};branch=z9hG4bK{i}\r\n"));
    }
    m.push_str("\r\n");
    assert!(m.len() < MAX_MESSAGE_SIZE);
    let err = Message::parse(m.as_bytes()).unwrap_err();
    assert_eq!(err, ParseError::TooManyHeaders);
    assert_eq!(err.reason(), "Bad Request (Too many headers)");
    // At the limit the message still parses.
    let mut ok = String::from("OPTIONS sip:a@b SIP/2.0\r\n");
    for i in 0..MAX_HEADERS {
        ok.push_str(&format!("X-{i}: y\r\n"));
    }
    ok.push_str("\r\n");
    assert!(Message::parse(ok.as_bytes()).is_ok());
}

#[test]
fn garbage_datagrams_are_errors_not_requests() {
    for junk in [
        &b""[..],
        b"\r\n\r\n",
        b"\x00\x01\x02\x03",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x80\x00\x00\x01\x00\x00\x00\x00",
    ] {
        assert!(Message::parse(junk).is_err(), "{junk:?}");
    }
}
