//! Property test: `answer()` and `accept_answer()` return, never panic, on random bytes and on mutated valid
//! offers; whatever answer comes out is itself valid SDP.

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr};

use ::sdp::description::session::SessionDescription;
use chorus_sip::sdp::{self, CodecSpec, LocalMedia};
use proptest::prelude::*;

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
                name: "opus".into(),
                clock_rate: 48000,
                channels: 1,
                static_pt: None,
            },
        ],
        telephone_event: true,
        ptime_ms: 20,
        session_id: 1,
        session_version: 1,
    }
}

const SEED: &str = "v=0\r\no=- 3912345678 3912345678 IN IP4 192.168.1.10\r\ns=pjmedia\r\nb=AS:84\r\nt=0 0\r\n\
a=sendonly\r\nm=video 5006 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
m=audio 4000/2 RTP/AVP 96 97 3 0 8 9 111 121\r\nc=IN IP4 192.168.1.10/127\r\n\
a=rtpmap:96 speex/16000\r\na=rtpmap:97 iLBC/8000\r\na=fmtp:97 mode=30\r\na=rtpmap:111 opus/48000/2\r\n\
a=rtpmap:121 telephone-event/8000\r\na=fmtp:121 0-16\r\na=ptime:20\r\na=inactive\r\n";

fn check(body: &[u8]) {
    if let Ok(n) = sdp::answer(body, &local()) {
        SessionDescription::unmarshal(&mut Cursor::new(n.answer.as_bytes()))
            .expect("our answer parses");
    }
    let _ = sdp::accept_answer(body, &local());
}

/// Tokens that steer mutations towards the parser's edges: huge numbers, empty fields, odd separators.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("99999999999999999999999999".to_string()),
        Just("-1".to_string()),
        Just("65536".to_string()),
        Just("0".to_string()),
        Just("".to_string()),
        Just("/".to_string()),
        Just(":".to_string()),
        Just("\r\n".to_string()),
        Just("\n".to_string()),
        Just("=".to_string()),
        Just(" ".to_string()),
        Just("0.0.0.0".to_string()),
        Just("::".to_string()),
        Just("\u{e9}".to_string()),
        Just("m=audio 1 RTP/AVP 0\r\n".to_string()),
        Just("a=rtpmap:0 PCMU/\r\n".to_string()),
        "[ -~]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&body);
    }

    #[test]
    fn mutated_offer(edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..8, token()), 1..6)) {
        let mut text = SEED.as_bytes().to_vec();
        for (at, cut, tok) in edits {
            let i = at.index(text.len() + 1);
            let end = (i + cut).min(text.len());
            text.splice(i..end, tok.into_bytes());
        }
        check(&text);
    }

    #[test]
    fn truncated_offer(len in 0usize..SEED.len()) {
        check(&SEED.as_bytes()[..len]);
    }

    #[test]
    fn non_utf8_byte_in_offer(at in any::<prop::sample::Index>(), b in 0x80u8..=0xff) {
        let mut text = SEED.as_bytes().to_vec();
        let i = at.index(text.len());
        text[i] = b;
        check(&text);
    }
}

#[test]
fn seed_is_answerable() {
    // The mutation seed itself is valid: inactive audio with Opus at our third preference behind PCMU.
    let n = sdp::answer(SEED.as_bytes(), &local()).unwrap();
    assert_eq!(n.payload_type, 0);
    assert_eq!(n.remote_rtp.map(|a| a.port()), Some(4000));
}
