//! The RTP timeout (`rtp_timeout` in the config file, `--rtp-timeout`): an answered call from which no
//! RTP comes for that long is hung up with BYE and logged with end_reason "rtp_timeout" (a phone that
//! crashed, a BYE lost on the way), while a caller that keeps sending RTP, or that put the call on hold,
//! keeps it. Here the timeout is 2 s.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::sip::{establish, final_response, recv, Leg};
use common::{sipp, Chorus, Transport};

const CONFIG: &str = "rtp_timeout: 2\n";

#[test]
fn a_caller_that_sends_no_rtp_is_hung_up() {
    let chorus = Chorus::start_with_config("tests/dialplans/test.yaml", Some(CONFIG));
    let started = Instant::now();
    // uac_hello.xml sends no RTP and waits up to 15 s for the server's BYE; the echo route never ends
    // by itself.
    let run = sipp(
        "uac_hello.xml",
        chorus.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(30),
    );
    run.assert_success("BYE from Chorus after 2 s without RTP");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "the BYE came after {took:?}, not about 2 s"
    );
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log[0]["route"], "echo", "{}", log[0]);
    assert_eq!(log[0]["end_reason"], "rtp_timeout", "{}", log[0]);
    assert_eq!(log[0]["status"], 200, "{}", log[0]);
}

#[test]
fn a_caller_that_sends_rtp_keeps_the_call() {
    let chorus = Chorus::start_with_config("tests/dialplans/test.yaml", Some(CONFIG));
    // uac_echo.xml plays SIPp's g711a.pcap (7 s of 30 ms packets) and hangs up 3 s into it: longer
    // than the timeout, so only the RTP keeps the call up. About 100 packets arrive by then, how many
    // exactly depends on when SIPp's BYE goes out; 80 (2.4 s) is more than the timeout could allow.
    let run = sipp(
        "uac_echo.xml",
        chorus.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(30),
    );
    run.assert_success("the caller's BYE, not Chorus's");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log[0]["end_reason"], "caller_bye", "{}", log[0]);
    assert!(
        log[0]["rtp"]["packets_received"].as_u64().unwrap_or(0) >= 80,
        "{}",
        log[0]
    );
}

/// A re-INVITE with `a=inactive` (hold) or `a=sendrecv` (resume) in the dialog of `leg`.
fn reinvite(leg: &Leg, cseq: u32, rtp_port: u16, direction: &str) -> String {
    let sdp = format!(
        "v=0\r\no=test 1 {cseq} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n"
    );
    leg.request("INVITE", cseq, &format!("z9hG4bK-re{cseq}-{}", leg.call_id))
        .replace(
            "Content-Length: 0\r\n",
            &format!(
                "Contact: <sip:tester@{}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n",
                leg.local,
                sdp.len()
            ),
        )
        + &sdp
}

#[test]
fn a_call_on_hold_is_not_timed_out_and_the_clock_restarts_on_resume() {
    let chorus = Chorus::start_with_config("tests/dialplans/test.yaml", Some(CONFIG));
    let server = chorus.sip_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rtp.local_addr().unwrap().port();
    let (leg, _) = establish(&sock, server, "echo", "rtp-hold", port);

    sock.send_to(reinvite(&leg, 2, port, "inactive").as_bytes(), server)
        .unwrap();
    let ok = final_response(&sock, "INVITE", Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "hold: {ok:?}");
    assert!(ok.body.contains("a=inactive"), "hold answer: {}", ok.body);
    sock.send_to(
        leg.request("ACK", 2, &format!("z9hG4bK-ack2-{}", leg.call_id))
            .as_bytes(),
        server,
    )
    .unwrap();

    // Twice the timeout on hold, with no RTP at all: no BYE.
    let deadline = Instant::now() + Duration::from_secs(4);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Some((msg, _)) = recv(&sock, left) {
            assert_ne!(
                msg.method(),
                Some("BYE"),
                "hung up while on hold:\n{}",
                chorus.log_text()
            );
        }
    }

    // Resumed, still no RTP: the clock starts again from the resume.
    sock.send_to(reinvite(&leg, 3, port, "sendrecv").as_bytes(), server)
        .unwrap();
    let ok = final_response(&sock, "INVITE", Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "resume: {ok:?}");
    let resumed = Instant::now();
    sock.send_to(
        leg.request("ACK", 3, &format!("z9hG4bK-ack3-{}", leg.call_id))
            .as_bytes(),
        server,
    )
    .unwrap();
    let bye = loop {
        let (msg, from) = recv(&sock, Duration::from_secs(6))
            .unwrap_or_else(|| panic!("no BYE after the resume:\n{}", chorus.log_text()));
        if msg.method() == Some("BYE") {
            sock.send_to(
                common::sip::response_to(&msg, 200, "OK", None).as_bytes(),
                from,
            )
            .unwrap();
            break resumed.elapsed();
        }
    };
    assert!(
        bye >= Duration::from_millis(1900) && bye < Duration::from_secs(5),
        "BYE {bye:?} after the resume, not about 2 s"
    );
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log[0]["end_reason"], "rtp_timeout", "{}", log[0]);
}

/// Issue 5, scope 6: a room member whose RTP never comes leaves the room and is hung up, while a member
/// that talks stays; the silent one's call-log line still lists the room recording.
#[test]
fn a_silent_conference_member_leaves_and_the_room_goes_on() {
    let chorus = Chorus::start_with_config("tests/dialplans/conference.yaml", Some(CONFIG));
    let server = chorus.sip_addr();
    let (talker_sip, silent_sip) = (
        UdpSocket::bind("127.0.0.1:0").unwrap(),
        UdpSocket::bind("127.0.0.1:0").unwrap(),
    );
    let (talker_rtp, silent_rtp) = (
        UdpSocket::bind("127.0.0.1:0").unwrap(),
        UdpSocket::bind("127.0.0.1:0").unwrap(),
    );
    let (talker, ok) = establish(
        &talker_sip,
        server,
        "conf-31",
        "rtp-talker",
        talker_rtp.local_addr().unwrap().port(),
    );
    let media = common::sip::sdp_media(&ok.body).expect("media address in the 200");
    let (_silent, _) = establish(
        &silent_sip,
        server,
        "conf-31",
        "rtp-silent",
        silent_rtp.local_addr().unwrap().port(),
    );
    let joined = Instant::now();
    // The talker talks for 5 s; meanwhile the silent member gets its BYE.
    let heard = std::thread::scope(|s| {
        let t = s.spawn(|| {
            common::rtp::exchange_tone(&talker_rtp, media, 440.0, 5.0, Duration::from_millis(100))
        });
        let (bye, from) = loop {
            let (msg, from) = recv(&silent_sip, Duration::from_secs(6))
                .unwrap_or_else(|| panic!("no BYE for the silent member:\n{}", chorus.log_text()));
            if msg.method() == Some("BYE") {
                break (msg, from);
            }
        };
        let after = joined.elapsed();
        silent_sip
            .send_to(
                common::sip::response_to(&bye, 200, "OK", None).as_bytes(),
                from,
            )
            .unwrap();
        assert!(
            after >= Duration::from_millis(1900) && after < Duration::from_secs(5),
            "silent member's BYE after {after:?}, not about 2 s"
        );
        t.join().unwrap()
    });
    assert!(!heard.is_empty(), "the talker still gets the room's audio");
    // The talker's call is still up: it hangs up itself.
    talker_sip.send_to(talker.bye().as_bytes(), server).unwrap();
    let ok = final_response(&talker_sip, "BYE", Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "the talker's BYE: {ok:?}");

    let log = chorus.wait_call_log(2, Duration::from_secs(5));
    let line = |id: &str| {
        log.iter()
            .find(|l| l["call_id"].as_str().is_some_and(|c| c.starts_with(id)))
            .unwrap_or_else(|| panic!("no line for {id}: {log:#?}"))
    };
    let silent = line("rtp-silent");
    assert_eq!(silent["end_reason"], "rtp_timeout", "{silent}");
    assert!(
        silent["recordings"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "the room recording is listed: {silent}"
    );
    let talker = line("rtp-talker");
    assert_eq!(talker["end_reason"], "caller_bye", "{talker}");
}
