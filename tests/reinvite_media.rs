//! A re-INVITE that changes the media of a running call, and Chorus follows it:
//! - PJSUA2 calls `echo` with PCMU playing a 1 kHz tone, and 2 s in re-INVITEs offering only PCMA: 200,
//!   PJSUA2 switches, and the tone keeps coming back, now A-law (the call log's codec is PCMA).
//! - The same from a G.722 call: a call's media keeps its sample rate (prompts, recordings and rooms run
//!   at it), so an offer with only PCMU is refused with 488 and the call goes on with G.722, echo intact.
//! - A raw caller moves its media to another port by re-INVITE: Chorus releases the latch, sends to the
//!   new port and latches there; nothing more goes to the old one.
//! - A raw caller's re-INVITE without SDP gets an offer of the call's codec alone (and telephone-event),
//!   so the answer in the ACK cannot move the media; the echo goes on.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::audio::{rms, tone_dominance, write_tone, Audio};
use common::rtp::exchange_tone;
use common::sip::{establish, final_response, sdp_media};
use common::{pjsua_call_args, Chorus, PjCall};

const TONE_HZ: f64 = 1000.0;

/// Calls echo with `codec` playing the tone, re-INVITEs at 2 s offering only `reoffer`, stays 5 s.
/// Returns call.py's result and what PJSUA2 recorded.
fn reinvite_call(
    chorus: &Chorus,
    codec: &str,
    reoffer: &str,
    rate: u32,
) -> (serde_json::Value, Audio) {
    let dir = common::scratch_dir("reinvite-codec");
    let tone = dir.join("tone.wav");
    let heard = dir.join("heard.wav");
    write_tone(&tone, rate, TONE_HZ, 7.0, 8000.0);
    let rate_arg = rate.to_string();
    let reinvite = format!("2:{reoffer}");
    let result = pjsua_call_args(
        chorus.sip_addr(),
        &PjCall {
            user: "echo",
            play: Some(&tone),
            record: &heard,
            seconds: 5.0,
            wait_bye: false,
            codec: Some(codec),
        },
        &["--reinvite", &reinvite, "--clock-rate", &rate_arg],
    );
    eprintln!("{result}");
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");
    let audio = Audio::read(&heard);
    std::fs::remove_dir_all(dir).unwrap();
    (result, audio)
}

/// Frames of 20 ms in `[from, to)` s whose RMS is under 2000, and the tone's dominance there.
fn echo_quality(audio: &Audio, from: f64, to: f64) -> (usize, usize, f64) {
    let body = audio.slice(from, to);
    let frame = audio.rate as usize / 50;
    let frames: Vec<&[i16]> = body.chunks(frame).collect();
    let quiet = frames.iter().filter(|f| rms(f) < 2000.0).count();
    (
        quiet,
        frames.len(),
        tone_dominance(body, audio.rate, TONE_HZ),
    )
}

#[test]
fn a_reinvite_to_another_g711_switches_the_codec_and_the_echo_goes_on() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let (result, audio) = reinvite_call(&chorus, "PCMU", "PCMA", 8000);
    assert_eq!(result["reinvite_status"], 200, "{result}");
    assert_eq!(result["codec"], "PCMA", "PJSUA2 switched: {result}");
    assert!(
        result["media_updates"].as_u64().unwrap_or(0) >= 1,
        "{result}"
    );
    let start = audio
        .first_tone(TONE_HZ, 2000.0)
        .expect("the echo came back");
    let before = echo_quality(&audio, start, 1.9);
    let after = echo_quality(&audio, 2.6, audio.seconds() - 0.2);
    eprintln!("PCMU (quiet, frames, dominance): {before:?}; after the switch to PCMA: {after:?}");
    assert!(before.0 * 50 <= before.1 && before.2 > 100.0, "{before:?}");
    assert!(
        after.1 >= 100 && after.0 * 50 <= after.1 && after.2 > 100.0,
        "the echo after the switch: {after:?}"
    );
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log[0]["rtp"]["codec"], "PCMA", "{}", log[0]);
    assert_eq!(log[0]["end_reason"], "caller_bye", "{}", log[0]);
}

#[test]
fn a_reinvite_to_another_sample_rate_is_refused_and_the_call_goes_on() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let (result, audio) = reinvite_call(&chorus, "G722", "PCMU", 16000);
    assert_eq!(result["reinvite_status"], 488, "{result}");
    assert_eq!(result["codec"], "G722", "{result}");
    let after = echo_quality(&audio, 2.6, audio.seconds() - 0.2);
    eprintln!("G.722 after the refused re-INVITE (quiet, frames, dominance): {after:?}");
    assert!(
        after.1 >= 100 && after.0 * 50 <= after.1 && after.2 > 100.0,
        "the echo after the refusal: {after:?}"
    );
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log[0]["rtp"]["codec"], "G722", "{}", log[0]);
}

#[test]
fn a_reinvite_moving_the_media_is_followed() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let server = chorus.sip_addr();
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let old = UdpSocket::bind("127.0.0.1:0").unwrap();
    let new = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (leg, ok) = establish(
        &sip,
        server,
        "echo",
        "move",
        old.local_addr().unwrap().port(),
    );
    let media: SocketAddr = sdp_media(&ok.body).expect("media address");
    let first = exchange_tone(&old, media, TONE_HZ, 1.0, Duration::from_millis(100));
    assert!(
        first.len() >= 8000 / 2,
        "echo on the first port: {} samples",
        first.len()
    );

    // The re-INVITE: same dialog, CSeq 2, the new port.
    let port = new.local_addr().unwrap().port();
    let sdp = format!(
        "v=0\r\no=test 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\n"
    );
    let head = leg.request("INVITE", 2, "z9hG4bK-reinvite-move");
    let head = head.replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Contact: <sip:tester@{}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sip.local_addr().unwrap(),
            sdp.len()
        ),
    );
    sip.send_to(head.as_bytes(), server).unwrap();
    let ok2 = final_response(&sip, "INVITE", Duration::from_secs(5));
    assert_eq!(ok2.status(), Some(200), "{}", ok2.start);
    sip.send_to(
        leg.request("ACK", 2, "z9hG4bK-reinvite-ack").as_bytes(),
        server,
    )
    .unwrap();
    // What was in flight to the old port before the 200.
    old.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    while old.recv_from(&mut buf).is_ok() {}

    let moved = exchange_tone(&new, media, TONE_HZ, 1.5, Duration::from_millis(200));
    let mut late_to_old = 0;
    while old.recv_from(&mut buf).is_ok() {
        late_to_old += 1;
    }
    let heard = Audio {
        rate: 8000,
        samples: moved,
    };
    eprintln!(
        "after the move: {:.2} s of echo on the new port, {late_to_old} packets still to the old one",
        heard.seconds()
    );
    assert!(
        heard.seconds() >= 1.0,
        "echo on the new port: {:.2} s",
        heard.seconds()
    );
    assert!(
        heard.first_tone(TONE_HZ, 2000.0).is_some(),
        "the tone came back on the new port"
    );
    assert!(
        late_to_old <= 3,
        "{late_to_old} packets went to the old port after the move"
    );
    sip.send_to(
        leg.request("BYE", 3, "z9hG4bK-reinvite-bye").as_bytes(),
        server,
    )
    .unwrap();
    assert_eq!(
        final_response(&sip, "BYE", Duration::from_secs(5)).status(),
        Some(200)
    );
}

#[test]
fn a_reinvite_without_sdp_gets_an_offer_of_the_current_codec_only() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let server = chorus.sip_addr();
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rtp.local_addr().unwrap().port();
    let (leg, ok) = establish(&sip, server, "echo", "reoffer", port);
    assert!(
        ok.body
            .lines()
            .any(|l| l.starts_with("m=audio") && l.ends_with("RTP/AVP 0")),
        "PCMU answered: {}",
        ok.body
    );
    let media: SocketAddr = sdp_media(&ok.body).expect("media address");

    let reinvite = leg.request("INVITE", 2, "z9hG4bK-reoffer").replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Contact: <sip:tester@{}>\r\nContent-Length: 0\r\n\r\n",
            sip.local_addr().unwrap()
        ),
    );
    sip.send_to(reinvite.as_bytes(), server).unwrap();
    let offer = final_response(&sip, "INVITE", Duration::from_secs(5));
    assert_eq!(offer.status(), Some(200), "{}", offer.start);
    let m_line = offer
        .body
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .unwrap_or_default()
        .to_string();
    eprintln!("our re-offer: {m_line}");
    assert!(
        m_line.ends_with("RTP/AVP 0 101"),
        "the call's codec (PCMU) and telephone-event only: {m_line}"
    );
    let answer = format!(
        "v=0\r\no=test 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    let ack = leg.request("ACK", 2, "z9hG4bK-reoffer-ack").replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        ),
    );
    sip.send_to(ack.as_bytes(), server).unwrap();
    let echo = exchange_tone(&rtp, media, TONE_HZ, 1.0, Duration::from_millis(200));
    let heard = Audio {
        rate: 8000,
        samples: echo,
    };
    assert!(
        heard.first_tone(TONE_HZ, 2000.0).is_some(),
        "the echo goes on after the re-offer ({:.2} s heard)",
        heard.seconds()
    );
    sip.send_to(
        leg.request("BYE", 3, "z9hG4bK-reoffer-bye").as_bytes(),
        server,
    )
    .unwrap();
    assert_eq!(
        final_response(&sip, "BYE", Duration::from_secs(5)).status(),
        Some(200)
    );
}
