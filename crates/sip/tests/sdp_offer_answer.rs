//! Answering offers (RFC 3264 §6): codec choice by our preference, the offerer's payload types, one answer
//! `m=` line per offered one, and the 488/400 refusals.

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ::sdp::description::session::SessionDescription;
use chorus_sip::sdp::{self, CodecSpec, Direction, LocalMedia, SdpError};

fn codec(name: &str, clock_rate: u32, static_pt: Option<u8>) -> CodecSpec {
    CodecSpec {
        name: name.into(),
        clock_rate,
        channels: 1,
        static_pt,
    }
}

fn local(codecs: Vec<CodecSpec>) -> LocalMedia {
    LocalMedia {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
        port: 30000,
        codecs,
        telephone_event: true,
        ptime_ms: 20,
        session_id: 4242,
        session_version: 7,
    }
}

fn g711_g722() -> LocalMedia {
    local(vec![
        codec("PCMU", 8000, Some(0)),
        codec("PCMA", 8000, Some(8)),
        codec("G722", 16000, Some(9)),
    ])
}

fn reparse(text: &str) -> SessionDescription {
    SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes())).expect("our answer parses")
}

fn m_lines(text: &str) -> Vec<&str> {
    text.split("\r\n").filter(|l| l.starts_with("m=")).collect()
}

/// SIPp's built-in uac scenario body (LF line endings, as SIPp writes them).
const SIPP_OFFER: &str = "v=0\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\n\
s=-\n\
c=IN IP4 127.0.0.1\n\
t=0 0\n\
m=audio 6000 RTP/AVP 0\n\
a=rtpmap:0 PCMU/8000\n";

/// What PJSUA 2.x offers with its default codec set.
const PJSUA_OFFER: &str = "v=0\r\n\
o=- 3912345678 3912345678 IN IP4 192.168.1.10\r\n\
s=pjmedia\r\n\
b=AS:84\r\n\
t=0 0\r\n\
a=X-nat:0\r\n\
m=audio 4000 RTP/AVP 96 97 98 99 3 0 8 9 120 121 122\r\n\
c=IN IP4 192.168.1.10\r\n\
b=TIAS:64000\r\n\
a=rtcp:4001 IN IP4 192.168.1.10\r\n\
a=sendrecv\r\n\
a=rtpmap:96 speex/16000\r\n\
a=rtpmap:97 speex/8000\r\n\
a=rtpmap:98 speex/32000\r\n\
a=rtpmap:99 iLBC/8000\r\n\
a=fmtp:99 mode=30\r\n\
a=rtpmap:3 GSM/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:120 telephone-event/16000\r\n\
a=fmtp:120 0-16\r\n\
a=rtpmap:121 telephone-event/8000\r\n\
a=fmtp:121 0-15\r\n\
a=rtpmap:122 telephone-event/32000\r\n\
a=fmtp:122 0-16\r\n\
a=ssrc:1470374112 cname:5a3d0ac96d3e1f4b\r\n";

#[test]
fn sipp_default_offer_gets_pcmu() {
    let n = sdp::answer(SIPP_OFFER.as_bytes(), &g711_g722()).unwrap();
    assert_eq!(n.codec.name, "PCMU");
    assert_eq!(n.payload_type, 0);
    assert_eq!(n.telephone_event_pt, None, "not offered, not answered");
    assert_eq!(
        n.remote_rtp,
        Some("127.0.0.1:6000".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(n.direction, Direction::SendRecv);
    assert_eq!(n.remote_ptime_ms, None);
    assert_eq!(
        n.answer,
        "v=0\r\n\
o=Chorus 4242 7 IN IP4 10.0.0.5\r\n\
s=Chorus\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n"
    );
}

#[test]
fn pjsua_offer_picks_our_first_codec_and_8k_telephone_event() {
    let n = sdp::answer(PJSUA_OFFER.as_bytes(), &g711_g722()).unwrap();
    assert_eq!((n.codec.name.as_str(), n.payload_type), ("PCMU", 0));
    assert_eq!(n.telephone_event_pt, Some(121));
    assert_eq!(n.remote_rtp, Some("192.168.1.10:4000".parse().unwrap()));
    assert_eq!(m_lines(&n.answer), ["m=audio 30000 RTP/AVP 0 121"]);
    assert!(n.answer.contains("a=rtpmap:0 PCMU/8000\r\n"));
    assert!(n.answer.contains("a=rtpmap:121 telephone-event/8000\r\n"));
    // The offerer's event range, echoed.
    assert!(n.answer.contains("a=fmtp:121 0-15\r\n"));
    assert!(!n.answer.contains("speex"));
    assert!(!n.answer.contains("a=rtpmap:120"));
}

#[test]
fn preference_is_ours_not_the_offerers() {
    let mut l = g711_g722();
    l.codecs.rotate_left(2); // G722, PCMU, PCMA
    let n = sdp::answer(PJSUA_OFFER.as_bytes(), &l).unwrap();
    assert_eq!((n.codec.name.as_str(), n.payload_type), ("G722", 9));
    assert_eq!(n.codec.clock_rate, 16000, "our spec is returned");
    // G.722's RTP clock is 8000, so is its telephone-event's.
    assert_eq!(n.telephone_event_pt, Some(121));
    assert_eq!(m_lines(&n.answer), ["m=audio 30000 RTP/AVP 9 121"]);
    assert!(n.answer.contains("a=rtpmap:9 G722/8000\r\n"));
}

#[test]
fn pcma_only_offer_picks_pcma() {
    let offer = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
m=audio 5004 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\na=ptime:30\r\n";
    let n = sdp::answer(offer.as_bytes(), &g711_g722()).unwrap();
    assert_eq!((n.codec.name.as_str(), n.payload_type), ("PCMA", 8));
    assert_eq!(n.telephone_event_pt, Some(101));
    assert_eq!(n.remote_ptime_ms, Some(30));
    assert_eq!(m_lines(&n.answer), ["m=audio 30000 RTP/AVP 8 101"]);
    assert!(n.answer.contains("a=fmtp:101 0-16\r\n"));
}

#[test]
fn static_types_without_rtpmap_and_dynamic_names_case_insensitive() {
    // No rtpmap at all: static 8 is PCMA by RFC 3551.
    let offer = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 18 8\r\n";
    let n = sdp::answer(offer.as_bytes(), &g711_g722()).unwrap();
    assert_eq!(n.payload_type, 8);
    // The answer still maps what it uses.
    assert!(n.answer.contains("a=rtpmap:8 PCMA/8000\r\n"));

    // Opus on a dynamic number, spelled in capitals.
    let mut l = g711_g722();
    l.codecs.insert(
        0,
        CodecSpec {
            name: "opus".into(),
            clock_rate: 48000,
            channels: 1,
            static_pt: None,
        },
    );
    let offer = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
m=audio 5004 RTP/AVP 111 0 126\r\na=rtpmap:111 OPUS/48000/2\r\na=fmtp:111 useinbandfec=1\r\n\
a=rtpmap:126 telephone-event/8000\r\n";
    let n = sdp::answer(offer.as_bytes(), &l).unwrap();
    assert_eq!((n.codec.name.as_str(), n.payload_type), ("opus", 111));
    // telephone-event is only at 8000 Hz, Opus runs at 48000: not answered.
    assert_eq!(n.telephone_event_pt, None);
    assert_eq!(m_lines(&n.answer), ["m=audio 30000 RTP/AVP 111"]);
}

#[test]
fn g729_only_offer_is_488() {
    let offer = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
m=audio 5004 RTP/AVP 18 101\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\n\
a=rtpmap:101 telephone-event/8000\r\n";
    let e = sdp::answer(offer.as_bytes(), &g711_g722()).unwrap_err();
    assert_eq!(e, SdpError::NoAcceptableCodec);
    assert_eq!(e.status_code(), 488);
    assert_eq!(e.to_string(), "no acceptable audio codec");
}

#[test]
fn no_audio_or_only_srtp_is_488() {
    let video = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=video 5006 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
    assert_eq!(
        sdp::answer(video.as_bytes(), &g711_g722())
            .unwrap_err()
            .status_code(),
        488
    );
    let savp = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 5004 RTP/SAVP 0\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n";
    assert_eq!(
        sdp::answer(savp.as_bytes(), &g711_g722())
            .unwrap_err()
            .status_code(),
        488
    );
    let port0 = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n";
    assert_eq!(
        sdp::answer(port0.as_bytes(), &g711_g722())
            .unwrap_err()
            .status_code(),
        488
    );
}

#[test]
fn srtp_stream_rejected_plain_one_taken() {
    let offer = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
m=audio 5004 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n\
m=audio 5008 RTP/AVP 0\r\n";
    let n = sdp::answer(offer.as_bytes(), &g711_g722()).unwrap();
    assert_eq!(
        m_lines(&n.answer),
        ["m=audio 0 RTP/SAVP 0", "m=audio 30000 RTP/AVP 0"]
    );
    assert_eq!(n.remote_rtp.unwrap().port(), 5008);
}

#[test]
fn video_and_second_audio_rejected_in_order() {
    let offer = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
m=video 5006 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\na=rtpmap:97 VP8/90000\r\n\
m=audio 5004 RTP/AVP 0 8\r\nc=IN IP4 10.1.1.2\r\n\
m=audio 5010 RTP/AVP 0\r\n";
    let n = sdp::answer(offer.as_bytes(), &g711_g722()).unwrap();
    assert_eq!(
        m_lines(&n.answer),
        [
            "m=video 0 RTP/AVP 96 97",
            "m=audio 30000 RTP/AVP 0",
            "m=audio 0 RTP/AVP 0"
        ]
    );
    // Media-level c= wins over the session's.
    assert_eq!(n.remote_rtp, Some("10.1.1.2:5004".parse().unwrap()));
    let sd = reparse(&n.answer);
    assert_eq!(sd.media_descriptions.len(), 3);
    assert_eq!(sd.media_descriptions[0].media_name.media, "video");
    assert_eq!(sd.media_descriptions[0].media_name.port.value, 0);
}

#[test]
fn audio_without_usable_codec_falls_to_next_audio_stream() {
    let offer = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
m=audio 5004 RTP/AVP 18\r\nm=audio 5010 RTP/AVP 8\r\n";
    let n = sdp::answer(offer.as_bytes(), &g711_g722()).unwrap();
    assert_eq!(
        m_lines(&n.answer),
        ["m=audio 0 RTP/AVP 18", "m=audio 30000 RTP/AVP 8"]
    );
}

#[test]
fn avpf_is_answered_in_kind() {
    let offer = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 5004 RTP/AVPF 0\r\n";
    let n = sdp::answer(offer.as_bytes(), &g711_g722()).unwrap();
    assert_eq!(m_lines(&n.answer), ["m=audio 30000 RTP/AVPF 0"]);
}

#[test]
fn ipv6_offer_and_ipv6_local() {
    let offer = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n\
m=audio 7078 RTP/AVP 0\r\n";
    let mut l = g711_g722();
    l.ip = "2001:db8::5".parse().unwrap();
    let n = sdp::answer(offer.as_bytes(), &l).unwrap();
    assert_eq!(n.remote_rtp, Some("[2001:db8::1]:7078".parse().unwrap()));
    assert!(n.answer.contains("o=Chorus 4242 7 IN IP6 2001:db8::5\r\n"));
    assert!(n.answer.contains("c=IN IP6 2001:db8::5\r\n"));
    reparse(&n.answer);
}

#[test]
fn missing_or_bad_connection_is_400() {
    let no_c = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n";
    let e = sdp::answer(no_c.as_bytes(), &g711_g722()).unwrap_err();
    assert_eq!(
        (e.clone(), e.status_code()),
        (SdpError::MissingConnection, 400)
    );
    let bad = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 example.com\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n";
    assert_eq!(
        sdp::answer(bad.as_bytes(), &g711_g722())
            .unwrap_err()
            .status_code(),
        400
    );
}

#[test]
fn garbage_is_400() {
    for body in [
        &b""[..],
        b"hello",
        b"v=0\r\n",
        b"\xff\xfe\x00v=0",
        b"v=0\r\no=- 99999999999999999999999 1 IN IP4 1.1.1.1\r\n",
    ] {
        let e = sdp::answer(body, &g711_g722()).unwrap_err();
        assert_eq!(e.status_code(), 400, "{body:?}: {e}");
    }
}

#[test]
fn telephone_event_not_answered_when_disabled() {
    let mut l = g711_g722();
    l.telephone_event = false;
    let n = sdp::answer(PJSUA_OFFER.as_bytes(), &l).unwrap();
    assert_eq!(n.telephone_event_pt, None);
    assert_eq!(m_lines(&n.answer), ["m=audio 30000 RTP/AVP 0"]);
}

#[test]
fn answer_reparses_with_the_sdp_crate() {
    let n = sdp::answer(PJSUA_OFFER.as_bytes(), &g711_g722()).unwrap();
    let sd = reparse(&n.answer);
    assert_eq!(sd.origin.username, "Chorus");
    assert_eq!(sd.session_name, "Chorus");
    let m = &sd.media_descriptions[0];
    assert_eq!(m.media_name.port.value, 30000);
    assert_eq!(m.media_name.protos, ["RTP", "AVP"]);
    assert_eq!(m.media_name.formats, ["0", "121"]);
    assert_eq!(m.attribute("ptime"), Some(Some("20")));
    assert_eq!(m.attribute("sendrecv"), Some(None));
    assert!(!n.answer.replace("\r\n", "").contains('\n'), "CRLF only");
}

#[test]
fn rtcp_mux_is_answered_in_kind_and_a_rtcp_is_followed() {
    // RFC 5761: an offer with a=rtcp-mux gets it back; RTCP then rides the RTP port.
    let offer = format!("{SIPP_OFFER}a=rtcp-mux\n");
    let n = sdp::answer(offer.as_bytes(), &g711_g722()).unwrap();
    assert!(n.rtcp_mux);
    assert!(n.answer.contains("a=rtcp-mux\r\n"), "{}", n.answer);
    // Without it, no mux; RTCP to the RTP port + 1 (RFC 3550 §11)...
    let n = sdp::answer(SIPP_OFFER.as_bytes(), &g711_g722()).unwrap();
    assert!(!n.rtcp_mux);
    assert!(!n.answer.contains("rtcp-mux"), "{}", n.answer);
    assert_eq!(
        n.remote_rtcp,
        Some("127.0.0.1:6001".parse::<SocketAddr>().unwrap())
    );
    // ...or where a=rtcp says (RFC 3605), with or without an address.
    let offer = format!("{SIPP_OFFER}a=rtcp:7005\n");
    let n = sdp::answer(offer.as_bytes(), &g711_g722()).unwrap();
    assert_eq!(
        n.remote_rtcp,
        Some("127.0.0.1:7005".parse::<SocketAddr>().unwrap())
    );
    let offer = format!("{SIPP_OFFER}a=rtcp:7005 IN IP4 127.0.0.9\n");
    let n = sdp::answer(offer.as_bytes(), &g711_g722()).unwrap();
    assert_eq!(
        n.remote_rtcp,
        Some("127.0.0.9:7005".parse::<SocketAddr>().unwrap())
    );
    // Nonsense is ignored.
    let offer = format!("{SIPP_OFFER}a=rtcp:banana\n");
    let n = sdp::answer(offer.as_bytes(), &g711_g722()).unwrap();
    assert_eq!(
        n.remote_rtcp,
        Some("127.0.0.1:6001".parse::<SocketAddr>().unwrap())
    );
}
