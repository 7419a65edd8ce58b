//! Early media (`progress`): Chorus sends 183 Session Progress with its SDP answer and plays before the
//! call is answered, so a caller hears an announcement and is then refused without the call ever being
//! answered (`tests/dialplans/early_media.yaml`), or is answered afterwards on the same media.
//! - PJSUA2 calls `early-404`: its media comes up before any answer, it records the hello prompt (its
//!   loudness envelope), and the call ends with 404, never connected; the call log has early_media_at,
//!   no answered_at, status 404.
//! - SIPp calls `early-answer`: a 183 with an SDP answer must come before the 200 (checked by the
//!   scenario), and the call log's early_media_at precedes answered_at.
//! - SIPp calls `early-answer` with `Require: 100rel`: the 183 must be reliable (Require, RSeq); SIPp
//!   PRACKs it and gets the PRACK's 200 before the INVITE's 200. (PJSUA2 supports 100rel, so the first
//!   test's 183 is reliable and PRACKed too.)
//! - SIPp cancels `early-404` during its announcement: 200 for the CANCEL, 487 for the INVITE, and the
//!   call is logged cancelled.
//! - SIPp calls `early-404` without an offer, with `Supported: 100rel`: Chorus's offer comes in the
//!   reliable 183, SIPp answers in the PRACK with a port the test listens on, and the test hears the
//!   hello prompt there (loudness envelope) before the 404. (PJSUA2 2.15 aborts on an offer in a 183,
//!   pjproject issue #3709, so SIPp signals and the test takes the RTP.)
//! - SIPp sends an UPDATE offering PCMA only in the early dialog, after PRACKing the 183 (PCMU): the
//!   UPDATE's 200 and then the INVITE's 200 answer PCMA, and the call log's codec is PCMA.
//! - Bad input: a raw caller PRACKs that 183 with a body that is not SDP; the PRACK gets its 200, the
//!   INVITE a 488, the call log says so, and the server answers the next call.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::audio::{envelope_similarity, Audio};
use common::{pjsua_call, repo_root, sipp, Chorus, PjCall, Transport};

const DIALPLAN: &str = "tests/dialplans/early_media.yaml";
/// Frame RMS above this is speech (hello.wav has about 2.4 s of such frames).
const SPEECH: f64 = 200.0;

/// `audio` holds the hello prompt: at least 2 s of speech, its loudness following the prompt's.
fn assert_heard_hello(audio: &Audio) {
    let prompt = Audio::read(&repo_root().join("prompts/hello.wav"));
    let speech = audio.loud_seconds(SPEECH);
    let similarity = envelope_similarity(&prompt, audio, 1.0);
    eprintln!(
        "heard {:.2} s of audio, {speech:.2} s of speech in early media, envelope correlation {similarity:.2}",
        audio.seconds()
    );
    assert!(
        speech >= 2.0,
        "only {speech:.2} s of speech heard in early media (the prompt has {:.2} s)",
        prompt.loud_seconds(SPEECH)
    );
    assert!(
        similarity > 0.8,
        "what was heard does not follow the prompt's loudness (correlation {similarity:.2})"
    );
}

#[test]
fn an_announcement_in_early_media_then_404_never_answered() {
    let chorus = Chorus::start(DIALPLAN);
    let dir = common::scratch_dir("early-404");
    let heard = dir.join("heard.wav");
    let result = pjsua_call(
        chorus.sip_addr(),
        &PjCall {
            user: "early-404",
            play: None,
            record: &heard,
            seconds: 15.0,
            wait_bye: true,
            codec: Some("PCMU"),
        },
    );
    eprintln!("{result}");
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(result["media_active"], true, "{result}");
    assert_eq!(
        result["early_media"], true,
        "media came up before the answer: {result}"
    );
    assert_eq!(result["connected"], false, "never answered: {result}");
    assert_eq!(result["status"], 404, "{result}");

    assert_heard_hello(&Audio::read(&heard));

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let line = &log[0];
    eprintln!("{line}");
    assert_eq!(line["route"], "early-404", "{line}");
    assert_eq!(line["status"], 404, "{line}");
    assert_eq!(
        line["end_reason"], "server_bye",
        "the dialplan ended it: {line}"
    );
    assert!(line["answered_at"].is_null(), "{line}");
    assert!(line["early_media_at"].is_string(), "{line}");
    assert_eq!(line["rtp"]["codec"], "PCMU", "{line}");
    assert!(
        line["rtp"]["packets_sent"].as_u64().unwrap_or(0) >= 100,
        "the prompt went out as RTP before the refusal: {line}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_183_with_sdp_comes_before_the_200() {
    let chorus = Chorus::start(DIALPLAN);
    let run = sipp(
        "uac_early_media.xml",
        chorus.sip_addr(),
        "early-answer",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(30),
    );
    run.assert_success("183 with SDP, then 200");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let line = &log[0];
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["end_reason"], "caller_bye", "{line}");
    let early = line["early_media_at"].as_str().unwrap_or_default();
    let answered = line["answered_at"].as_str().unwrap_or_default();
    assert!(
        !early.is_empty() && early < answered,
        "early media began before the answer: {line}"
    );
}

#[test]
fn cancel_during_the_announcement() {
    let chorus = Chorus::start(DIALPLAN);
    let run = sipp(
        "uac_cancel_early.xml",
        chorus.sip_addr(),
        "early-404",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(20),
    );
    run.assert_success("CANCEL after the 183");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let line = &log[0];
    assert_eq!(line["end_reason"], "cancelled", "{line}");
    assert_eq!(line["status"], 487, "{line}");
    assert!(line["early_media_at"].is_string(), "{line}");
    assert!(line["answered_at"].is_null(), "{line}");
    // The server is fine afterwards.
    assert_eq!(common::sip::ping(chorus.sip_addr()).status(), Some(200));
}

#[test]
fn a_reliable_183_is_pracked_before_the_200() {
    let chorus = Chorus::start(DIALPLAN);
    let run = sipp(
        "uac_early_media_100rel.xml",
        chorus.sip_addr(),
        "early-answer",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(30),
    );
    run.assert_success("reliable 183, PRACK, 200");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let line = &log[0];
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["end_reason"], "caller_bye", "{line}");
    assert!(line["early_media_at"].is_string(), "{line}");
}

#[test]
fn without_an_offer_our_offer_goes_in_the_reliable_183_and_the_prack_answers() {
    let chorus = Chorus::start(DIALPLAN);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port().to_string();
    // PCMU audio that reaches the port of the PRACK's answer, until 1 s after it stops (at most 15 s).
    let listener = std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut samples = Vec::new();
        let mut buf = [0u8; 2048];
        let start = Instant::now();
        let mut last = None;
        while start.elapsed() < Duration::from_secs(15)
            && last.is_none_or(|t: Instant| t.elapsed() < Duration::from_secs(1))
        {
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                if let Some((0, payload)) = common::rtp::parse(&buf[..n]) {
                    samples.extend(payload.iter().map(|b| common::rtp::ulaw_decode(*b)));
                    last = Some(Instant::now());
                }
            }
        }
        samples
    });
    let run = sipp(
        "uac_late_offer_early_media.xml",
        chorus.sip_addr(),
        "early-404",
        Transport::Udp,
        1,
        &["-key", "rtp_port", &port],
        Duration::from_secs(30),
    );
    run.assert_success("our offer in a reliable 183, the answer in the PRACK, then 404");
    let audio = Audio {
        rate: 8000,
        samples: listener.join().unwrap(),
    };
    assert_heard_hello(&audio);
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let line = &log[0];
    eprintln!("{line}");
    assert_eq!(line["status"], 404, "{line}");
    assert_eq!(line["end_reason"], "server_bye", "{line}");
    assert!(line["early_media_at"].is_string(), "{line}");
    assert!(line["answered_at"].is_null(), "{line}");
    assert_eq!(line["rtp"]["codec"], "PCMU", "{line}");
}

#[test]
fn a_prack_whose_answer_is_not_sdp_gets_the_invite_refused_with_488() {
    use common::sip::{final_response, recv_until, Leg};
    let chorus = Chorus::start(DIALPLAN);
    let server = chorus.sip_addr();
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut leg = Leg::new(&sip, server, "early-404", "bad-prack");
    // The INVITE without SDP, taking 100rel.
    let invite = leg.invite(40000);
    let (head, _) = invite.split_once("\r\n\r\n").unwrap();
    let head: Vec<&str> = head
        .lines()
        .filter(|l| !l.starts_with("Content-Type:") && !l.starts_with("Content-Length:"))
        .collect();
    let invite = format!(
        "{}\r\nSupported: 100rel\r\nContent-Length: 0\r\n\r\n",
        head.join("\r\n")
    );
    sip.send_to(invite.as_bytes(), server).unwrap();
    let (p183, seen) = recv_until(&sip, Duration::from_secs(5), |m| m.status() == Some(183));
    let p183 = p183.unwrap_or_else(|| {
        panic!(
            "no 183: {:?}",
            seen.iter().map(|m| &m.start).collect::<Vec<_>>()
        )
    });
    assert!(p183.body.contains("m=audio"), "our offer: {}", p183.body);
    let rseq = p183.header("RSeq").expect("RSeq").to_string();
    leg.to_tag = p183.to_tag();
    let garbage = "this is not SDP";
    let prack = leg.request("PRACK", 2, "z9hG4bK-bad-prack").replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "RAck: {rseq} 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{garbage}",
            garbage.len()
        ),
    );
    sip.send_to(prack.as_bytes(), server).unwrap();
    let ok = final_response(&sip, "PRACK", Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    let refused = final_response(&sip, "INVITE", Duration::from_secs(5));
    assert_eq!(refused.status(), Some(488), "{}", refused.start);
    let ack = leg.request("ACK", 1, &leg.invite_branch.clone());
    sip.send_to(ack.as_bytes(), server).unwrap();

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let line = &log[0];
    eprintln!("{line}");
    assert_eq!(line["status"], 488, "{line}");
    assert_eq!(line["end_reason"], "error", "{line}");
    assert!(line["answered_at"].is_null(), "{line}");
    assert_eq!(
        common::sip::ping(server).status(),
        Some(200),
        "still serving"
    );
}

#[test]
fn an_update_in_the_early_dialog_changes_the_codec_before_the_answer() {
    let chorus = Chorus::start(DIALPLAN);
    let run = sipp(
        "uac_early_update.xml",
        chorus.sip_addr(),
        "early-answer",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(30),
    );
    run.assert_success("reliable 183, PRACK, UPDATE to PCMA, 200 with PCMA");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let line = &log[0];
    eprintln!("{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["rtp"]["codec"], "PCMA", "{line}");
    assert_eq!(line["end_reason"], "caller_bye", "{line}");
}
