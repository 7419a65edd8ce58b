//! Late offer (RFC 3264 §5, §6.1 from the offerer's side): our offer in the 200 OK and the peer's answer in
//! the ACK.

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr};

use ::sdp::description::session::SessionDescription;
use chorus_sip::sdp::{self, CodecSpec, Direction, LocalMedia, SdpError};

fn local() -> LocalMedia {
    LocalMedia {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
        port: 30000,
        codecs: vec![
            CodecSpec {
                name: "PCMU".into(),
                clock_rate: 8000,
                channels: 1,
                static_pt: Some(0),
            },
            CodecSpec {
                name: "PCMA".into(),
                clock_rate: 8000,
                channels: 1,
                static_pt: Some(8),
            },
            CodecSpec {
                name: "G722".into(),
                clock_rate: 16000,
                channels: 1,
                static_pt: Some(9),
            },
            CodecSpec {
                name: "opus".into(),
                clock_rate: 48000,
                channels: 1,
                static_pt: None,
            },
        ],
        telephone_event: true,
        ptime_ms: 20,
        session_id: 99,
        session_version: 3,
    }
}

#[test]
fn offer_lists_all_codecs_and_telephone_event() {
    let text = sdp::offer(&local());
    let mut lines = text.split("\r\n");
    assert_eq!(lines.next(), Some("v=0"));
    assert_eq!(lines.next(), Some("o=Chorus 99 3 IN IP4 10.0.0.5"));
    assert_eq!(lines.next(), Some("s=Chorus"));
    assert_eq!(lines.next(), Some("c=IN IP4 10.0.0.5"));
    assert_eq!(lines.next(), Some("t=0 0"));
    assert_eq!(lines.next(), Some("m=audio 30000 RTP/AVP 0 8 9 96 101 97"));
    for l in [
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:96 opus/48000/2",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=rtpmap:97 telephone-event/48000",
        "a=fmtp:97 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ] {
        assert!(text.contains(&format!("{l}\r\n")), "{l} missing in {text}");
    }
    assert!(
        text.ends_with("a=ptime:20\r\na=sendrecv\r\na=rtcp-mux\r\n"),
        "{text}"
    );
    let sd = SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes())).unwrap();
    assert_eq!(sd.media_descriptions.len(), 1);
}

#[test]
fn our_offer_proposes_rtcp_mux_and_the_answer_decides() {
    let plain = "v=0\r\no=- 5 5 IN IP4 10.2.2.2\r\ns=-\r\nc=IN IP4 10.2.2.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
    let n = sdp::accept_answer(plain.as_bytes(), &local()).unwrap();
    assert!(!n.rtcp_mux, "no a=rtcp-mux in the answer: RTCP on port + 1");
    assert_eq!(n.remote_rtcp, Some("10.2.2.2:6001".parse().unwrap()));
    let mux = format!("{plain}a=rtcp-mux\r\n");
    let n = sdp::accept_answer(mux.as_bytes(), &local()).unwrap();
    assert!(n.rtcp_mux, "the answer took it");
    assert!(n.answer.contains("a=rtcp-mux\r\n"), "{}", n.answer);
    // A re-offer (re-INVITE without SDP) does not propose it: the call keeps how it sends RTCP.
    let re = sdp::reoffer(&local());
    assert!(!re.contains("rtcp-mux"), "{re}");
    assert_eq!(re, sdp::offer(&local()).replace("a=rtcp-mux\r\n", ""));
}

#[test]
fn g711_only_offer_is_short() {
    let mut l = local();
    l.codecs.truncate(2);
    let text = sdp::offer(&l);
    assert!(text.contains("m=audio 30000 RTP/AVP 0 8 101\r\n"), "{text}");
}

#[test]
fn our_offer_answered_by_ourselves_round_trips() {
    // Another Chorus (or anything following RFC 3264) answering our offer.
    let callee = LocalMedia {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
        port: 40000,
        ..local()
    };
    let mut callee = callee;
    callee.codecs.rotate_left(1); // prefers PCMA
    let our_offer = sdp::offer(&local());
    let their = sdp::answer(our_offer.as_bytes(), &callee).unwrap();
    assert_eq!((their.codec.name.as_str(), their.payload_type), ("PCMA", 8));
    assert_eq!(their.telephone_event_pt, Some(101));

    let n = sdp::accept_answer(their.answer.as_bytes(), &local()).unwrap();
    assert_eq!(n.answer, our_offer, "Negotiated::answer carries our offer");
    assert_eq!((n.codec.name.as_str(), n.payload_type), ("PCMA", 8));
    assert_eq!(n.telephone_event_pt, Some(101));
    assert_eq!(n.remote_rtp, Some("10.0.0.9:40000".parse().unwrap()));
    assert_eq!(n.direction, Direction::SendRecv);
    assert_eq!(n.remote_ptime_ms, Some(20));
}

#[test]
fn answer_choosing_opus_gets_48k_telephone_event() {
    let answer = "v=0\r\no=- 5 5 IN IP4 10.2.2.2\r\ns=-\r\nc=IN IP4 10.2.2.2\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 96 97\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:97 telephone-event/48000\r\na=recvonly\r\n";
    let n = sdp::accept_answer(answer.as_bytes(), &local()).unwrap();
    assert_eq!((n.codec.name.as_str(), n.payload_type), ("opus", 96));
    assert_eq!(n.telephone_event_pt, Some(97));
    assert_eq!(n.direction, Direction::SendOnly);
}

#[test]
fn answer_without_rtpmap_uses_our_numbers() {
    let answer = "v=0\r\no=- 5 5 IN IP4 10.2.2.2\r\ns=-\r\nc=IN IP4 10.2.2.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 101 0\r\n";
    let n = sdp::accept_answer(answer.as_bytes(), &local()).unwrap();
    assert_eq!(n.payload_type, 0);
    assert_eq!(n.telephone_event_pt, Some(101));
}

#[test]
fn rejected_or_foreign_answers_are_errors() {
    let rejected = "v=0\r\no=- 5 5 IN IP4 10.2.2.2\r\ns=-\r\nc=IN IP4 10.2.2.2\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n";
    assert_eq!(
        sdp::accept_answer(rejected.as_bytes(), &local()).unwrap_err(),
        SdpError::NoAcceptableCodec
    );
    let foreign = "v=0\r\no=- 5 5 IN IP4 10.2.2.2\r\ns=-\r\nc=IN IP4 10.2.2.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 18\r\n";
    assert_eq!(
        sdp::accept_answer(foreign.as_bytes(), &local())
            .unwrap_err()
            .status_code(),
        488
    );
    assert_eq!(
        sdp::accept_answer(b"not sdp", &local())
            .unwrap_err()
            .status_code(),
        400
    );
}

#[test]
fn answer_on_hold_has_no_remote() {
    let answer = "v=0\r\no=- 5 5 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
    let n = sdp::accept_answer(answer.as_bytes(), &local()).unwrap();
    assert_eq!(n.remote_rtp, None);
    assert_eq!(n.direction, Direction::RecvOnly);
}
