//! Hold and direction in answers (RFC 3264 §5.1, §6.1, §8.4): we answer the mirror of the peer's direction,
//! and old-style `c=0.0.0.0` hold means the peer does not receive.

use std::net::{IpAddr, Ipv4Addr};

use chorus_sip::sdp::{self, CodecSpec, Direction, LocalMedia};

fn local() -> LocalMedia {
    LocalMedia {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
        port: 30000,
        codecs: vec![CodecSpec {
            name: "PCMU".into(),
            clock_rate: 8000,
            channels: 1,
            static_pt: Some(0),
        }],
        telephone_event: true,
        ptime_ms: 20,
        session_id: 1,
        session_version: 2,
    }
}

fn offer_with(conn: &str, session_attr: &str, media_attr: &str) -> String {
    format!(
        "v=0\r\no=- 1 2 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 {conn}\r\nt=0 0\r\n{session_attr}\
m=audio 5004 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n{media_attr}"
    )
}

fn ours(conn: &str, session_attr: &str, media_attr: &str) -> (Direction, bool, String) {
    let n = sdp::answer(
        offer_with(conn, session_attr, media_attr).as_bytes(),
        &local(),
    )
    .unwrap();
    (n.direction, n.remote_rtp.is_some(), n.answer)
}

#[test]
fn direction_is_mirrored() {
    for (theirs, mine) in [
        ("sendrecv", Direction::SendRecv),
        ("sendonly", Direction::RecvOnly),
        ("recvonly", Direction::SendOnly),
        ("inactive", Direction::Inactive),
    ] {
        let (d, has_remote, answer) = ours("10.1.1.1", "", &format!("a={theirs}\r\n"));
        assert_eq!(d, mine, "{theirs}");
        assert!(has_remote);
        assert!(
            answer.ends_with(&format!("a=ptime:20\r\na={}\r\n", mine.as_attribute())),
            "{answer}"
        );
    }
}

#[test]
fn no_attribute_means_sendrecv() {
    let (d, _, answer) = ours("10.1.1.1", "", "");
    assert_eq!(d, Direction::SendRecv);
    assert!(answer.contains("a=sendrecv\r\n"));
}

#[test]
fn session_level_direction_applies_unless_media_level_says_otherwise() {
    assert_eq!(
        ours("10.1.1.1", "a=sendonly\r\n", "").0,
        Direction::RecvOnly
    );
    assert_eq!(
        ours("10.1.1.1", "a=sendonly\r\n", "a=inactive\r\n").0,
        Direction::Inactive
    );
}

#[test]
fn old_style_hold_zero_address() {
    let (d, has_remote, answer) = ours("0.0.0.0", "", "");
    assert_eq!(d, Direction::RecvOnly);
    assert!(!has_remote, "nowhere to send");
    assert!(answer.contains("a=recvonly\r\n"));
    // 0.0.0.0 plus sendonly is still just hold; 0.0.0.0 plus recvonly leaves nothing flowing.
    assert_eq!(ours("0.0.0.0", "", "a=sendonly\r\n").0, Direction::RecvOnly);
    assert_eq!(ours("0.0.0.0", "", "a=recvonly\r\n").0, Direction::Inactive);
}

#[test]
fn hold_then_resume_keeps_codec_and_telephone_event() {
    let held = sdp::answer(
        offer_with("10.1.1.1", "", "a=sendonly\r\n").as_bytes(),
        &local(),
    )
    .unwrap();
    let resumed = sdp::answer(
        offer_with("10.1.1.1", "", "a=sendrecv\r\n").as_bytes(),
        &local(),
    )
    .unwrap();
    assert_eq!(held.payload_type, resumed.payload_type);
    assert_eq!(held.telephone_event_pt, Some(101));
    assert_eq!(resumed.telephone_event_pt, Some(101));
    assert_eq!(resumed.direction, Direction::SendRecv);
}
