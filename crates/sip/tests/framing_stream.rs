//! RFC 3261 §18.3 stream framing: messages cut by Content-Length whatever the segmentation, RFC 5626
//! keepalives skipped (and pings reported), oversize and unframeable input refused.

use chorus_sip::framing::{FramingError, StreamFramer, MAX_HEADER_SIZE};
use chorus_sip::message::{Message, MAX_MESSAGE_SIZE};

const INVITE: &[u8] = b"INVITE sip:echo@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@127.0.0.1>;tag=a\r\n\
To: <sip:echo@127.0.0.1>\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 31\r\n\r\n\
v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n";

const BYE: &[u8] = b"BYE sip:echo@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-2\r\n\
From: <sip:alice@127.0.0.1>;tag=a\r\n\
To: <sip:echo@127.0.0.1>;tag=b\r\n\
Call-ID: c1\r\n\
CSeq: 2 BYE\r\n\
l: 0\r\n\r\n";

fn drain(f: &mut StreamFramer) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(m) = f.next_message().expect("valid stream") {
        out.push(m);
    }
    out
}

fn stream() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(b"\r\n\r\n");
    s.extend_from_slice(INVITE);
    s.extend_from_slice(b"\r\n");
    s.extend_from_slice(BYE);
    s.extend_from_slice(INVITE);
    s
}

#[test]
fn invite_body_is_exactly_content_length() {
    assert_eq!(
        INVITE.len() - (INVITE.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4),
        31
    );
    let m = Message::parse(INVITE).unwrap();
    assert_eq!(m.to_bytes().len(), INVITE.len());
}

#[test]
fn split_at_every_byte_boundary() {
    let s = stream();
    for cut in 0..=s.len() {
        let mut f = StreamFramer::new();
        f.push(&s[..cut]);
        let mut got = drain(&mut f);
        f.push(&s[cut..]);
        got.extend(drain(&mut f));
        assert_eq!(
            got,
            vec![INVITE.to_vec(), BYE.to_vec(), INVITE.to_vec()],
            "cut at {cut}"
        );
        assert_eq!(f.buffered(), 0);
    }
}

#[test]
fn one_byte_at_a_time() {
    let s = stream();
    let mut f = StreamFramer::new();
    let mut got = Vec::new();
    for b in &s {
        f.push(std::slice::from_ref(b));
        got.extend(drain(&mut f));
    }
    assert_eq!(got, vec![INVITE.to_vec(), BYE.to_vec(), INVITE.to_vec()]);
}

#[test]
fn several_messages_in_one_push() {
    let mut f = StreamFramer::new();
    f.push(&stream());
    let got = drain(&mut f);
    assert_eq!(got.len(), 3);
    for m in &got {
        Message::parse(m).unwrap();
    }
}

#[test]
fn double_crlf_is_a_ping_single_crlf_is_not() {
    let mut f = StreamFramer::new();
    f.push(b"\r\n");
    assert_eq!(f.next_message(), Ok(None));
    assert!(!f.take_ping(), "a single CRLF is a pong, not a ping");
    f.push(b"\r\n");
    assert_eq!(f.next_message(), Ok(None));
    assert!(f.take_ping(), "CRLF split across pushes still makes a ping");
    assert!(!f.take_ping(), "reported once");
    f.push(b"\r\n\r\n\r\n\r\n");
    assert_eq!(f.next_message(), Ok(None));
    assert!(f.take_ping());
    f.push(BYE);
    assert_eq!(f.next_message(), Ok(Some(BYE.to_vec())));
    assert!(!f.take_ping());
    assert_eq!(f.buffered(), 0);
}

#[test]
fn crlf_inside_a_body_is_not_a_ping() {
    let msg = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 4\r\n\r\n\r\n\r\n";
    let mut f = StreamFramer::new();
    f.push(msg);
    assert_eq!(f.next_message(), Ok(Some(msg.to_vec())));
    assert!(!f.take_ping());
}

#[test]
fn missing_content_length_is_an_error() {
    let mut f = StreamFramer::new();
    f.push(b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n");
    assert_eq!(f.next_message(), Err(FramingError::MissingContentLength));
    // The stream cannot be resynchronised: the error sticks.
    f.push(BYE);
    assert_eq!(f.next_message(), Err(FramingError::MissingContentLength));
}

#[test]
fn bad_or_conflicting_content_length_is_an_error() {
    for head in [
        &b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n"[..],
        b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 0\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    ] {
        let mut f = StreamFramer::new();
        f.push(head);
        assert_eq!(f.next_message(), Err(FramingError::BadContentLength));
    }
}

#[test]
fn header_section_without_end_over_64k_is_refused() {
    let mut f = StreamFramer::new();
    f.push(b"OPTIONS sip:a@b SIP/2.0\r\nX-Junk: ");
    let chunk = vec![b'a'; 4096];
    let mut result = Ok(None);
    for _ in 0..=MAX_HEADER_SIZE / chunk.len() {
        f.push(&chunk);
        result = f.next_message();
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(FramingError::HeaderTooLarge(MAX_HEADER_SIZE)));
    assert!(f.buffered() <= MAX_HEADER_SIZE, "memory released");
}

#[test]
fn body_over_the_message_cap_is_refused_before_it_arrives() {
    let mut f = StreamFramer::new();
    let head = format!("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: {MAX_MESSAGE_SIZE}\r\n\r\n");
    f.push(head.as_bytes());
    assert!(matches!(
        f.next_message(),
        Err(FramingError::MessageTooLarge {
            limit: MAX_MESSAGE_SIZE,
            ..
        })
    ));
}

#[test]
fn message_just_under_the_cap_passes() {
    let head_len = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 65000\r\n\r\n".len();
    let body = MAX_MESSAGE_SIZE - head_len;
    let head = format!("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: {body}\r\n\r\n");
    assert_eq!(head.len(), head_len);
    let mut f = StreamFramer::new();
    f.push(head.as_bytes());
    assert_eq!(f.next_message(), Ok(None));
    f.push(&vec![b'x'; body]);
    let m = f.next_message().unwrap().unwrap();
    assert_eq!(m.len(), MAX_MESSAGE_SIZE);
}

#[test]
fn small_limits_apply() {
    let mut f = StreamFramer::with_limits(64, 128);
    f.push(BYE);
    assert_eq!(f.next_message(), Err(FramingError::HeaderTooLarge(64)));
}

#[test]
fn bare_lf_stream_is_framed() {
    let msg = b"OPTIONS sip:a@b SIP/2.0\nl: 2\n\nhi";
    let mut f = StreamFramer::new();
    f.push(msg);
    f.push(BYE);
    assert_eq!(drain(&mut f), vec![msg.to_vec(), BYE.to_vec()]);
}
