//! Bad input from the network is answered or dropped, never fatal: garbage datagrams, the largest UDP
//! datagram, a 70 KiB message over TCP, a request with 1000 headers, a request without Call-ID (400 with
//! a reason phrase), and junk sent to RTP ports. Afterwards OPTIONS is still answered and an echo call
//! still echoes a tone.

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use common::audio::tone_dominance;
use common::sip::{establish, final_response, recv_until, sdp_media, Msg};
use common::Chorus;

fn request(sock: &UdpSocket, method: &str, extra_headers: &str, id: &str) -> String {
    let local = sock.local_addr().unwrap();
    format!(
        "{method} sip:echo@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-bad-{id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:tester@{local}>;tag=bad{id}\r\n\
         To: <sip:echo@127.0.0.1>\r\n\
         Call-ID: bad-{id}@127.0.0.1\r\n\
         CSeq: 1 {method}\r\n\
         {extra_headers}Content-Length: 0\r\n\r\n"
    )
}

/// Whether a response carries our Via with a branch containing `id`.
fn via_has(m: &Msg, id: &str) -> bool {
    m.header("Via").is_some_and(|v| v.contains(id))
}

fn assert_alive(chorus: &mut Chorus, after: &str) {
    assert!(chorus.is_running(), "chorus exited after {after}");
    let reply = common::sip::ping(chorus.sip_addr());
    assert_eq!(
        reply.status(),
        Some(200),
        "OPTIONS after {after}: {reply:?}"
    );
}

#[test]
fn bad_input_is_survived_and_calls_still_work() {
    let mut chorus = Chorus::start("tests/dialplans/test.yaml");
    let server = chorus.sip_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();

    // Garbage of many shapes.
    let garbage: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        b"\r\n\r\n".to_vec(),
        b"INVITE".to_vec(),
        b"INVITE sip:echo@127.0.0.1 SIP/2.0\r\n".to_vec(),
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKnone\r\nCSeq: 1 INVITE\r\n\r\n".to_vec(),
        b"BYE sip:x SIP/2.0\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(),
        vec![0u8; 1],
        (0..=255u8).collect(),
        (0..1400).map(|i| (i * 7 + 3) as u8).collect(),
        "INVITE sip:\u{1F600}@127.0.0.1 SIP/2.0\r\nVia: \u{0}\r\n\r\n".as_bytes().to_vec(),
    ];
    for g in &garbage {
        sock.send_to(g, server).unwrap();
    }
    // Some garbage is salvaged into a 400 (it has enough of a Via); collect those answers so they are
    // not taken for answers to what follows.
    let (_, answered) = recv_until(&sock, Duration::from_millis(300), |_| false);
    for m in &answered {
        eprintln!("garbage answered: {}", m.start);
        assert!(m.status().is_some(), "garbage got a request back: {m:?}");
    }
    assert_alive(&mut chorus, "garbage datagrams");

    // The largest datagram IPv4 UDP can carry (65507 bytes): a request padded with a huge header.
    let pad = "x".repeat(65507 - request(&sock, "OPTIONS", "X-Pad: \r\n", "big").len());
    let big = request(&sock, "OPTIONS", &format!("X-Pad: {pad}\r\n"), "big");
    assert_eq!(big.len(), 65507);
    sock.send_to(big.as_bytes(), server).unwrap();
    if let (Some(m), _) = recv_until(&sock, Duration::from_millis(500), |m| via_has(m, "bad-big")) {
        eprintln!("64 KiB datagram answered: {}", m.start);
    }
    assert_alive(&mut chorus, "a 64 KiB datagram");

    // A 70 KiB message over TCP: refused or dropped, the connection may close, the server stays up.
    {
        let mut tcp = TcpStream::connect(server).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let pad = "y".repeat(70 * 1024);
        let local = tcp.local_addr().unwrap();
        let msg = format!(
            "OPTIONS sip:echo@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK-tcp-big\r\n\
             Max-Forwards: 70\r\nFrom: <sip:t@{local}>;tag=1\r\nTo: <sip:echo@127.0.0.1>\r\n\
             Call-ID: tcp-big@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nX-Pad: {pad}\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = tcp.write_all(msg.as_bytes());
        let mut buf = [0u8; 4096];
        match tcp.read(&mut buf) {
            Ok(0) => eprintln!("70 KiB over TCP: connection closed"),
            Ok(n) => eprintln!(
                "70 KiB over TCP answered: {}",
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .next()
                    .unwrap_or("")
            ),
            Err(e) => eprintln!("70 KiB over TCP: no answer ({e})"),
        }
    }
    assert_alive(&mut chorus, "a 70 KiB TCP message");

    // A request with 1000 headers: any answer or none, but not a dead server.
    let many: String = (0..1000).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    sock.send_to(request(&sock, "OPTIONS", &many, "many").as_bytes(), server)
        .unwrap();
    if let (Some(m), _) = recv_until(&sock, Duration::from_millis(500), |m| {
        via_has(m, "bad-many")
    }) {
        eprintln!("1000 headers answered: {}", m.start);
    }
    assert_alive(&mut chorus, "1000 headers");

    // No Call-ID: 400 with a reason phrase that says what is wrong.
    let no_call_id: String = request(&sock, "OPTIONS", "", "nocid")
        .lines()
        .filter(|l| !l.starts_with("Call-ID"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    sock.send_to(no_call_id.as_bytes(), server).unwrap();
    let (m, seen) = recv_until(&sock, Duration::from_secs(2), |m| {
        m.header("Via")
            .is_some_and(|v| v.contains("z9hG4bK-bad-nocid"))
    });
    let m = m.unwrap_or_else(|| {
        panic!("a request without Call-ID must be answered 400; got only {seen:?}")
    });
    assert_eq!(m.status(), Some(400), "{m:?}");
    assert!(
        m.reason().to_ascii_lowercase().contains("call-id"),
        "400 should say what is wrong, got reason phrase {:?}",
        m.reason()
    );
    assert_alive(&mut chorus, "a request without Call-ID");

    // Junk at RTP ports: idle ones in the range, and the port of a live call before its caller sends.
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (lo, hi) = chorus.rtp_ports;
    for p in (lo..=hi).step_by(2).take(20) {
        let _ = junk.send_to(
            &[0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            ("127.0.0.1", p),
        );
    }
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (leg, ok) = establish(
        &sock,
        server,
        "echo",
        "after-junk",
        rtp.local_addr().unwrap().port(),
    );
    let media = sdp_media(&ok.body).unwrap_or_else(|| panic!("no media in answer: {}", ok.body));
    for len in [0usize, 1, 11, 12, 200, 1500] {
        // Version 0 in the first byte: never valid RTP, so nothing to latch onto.
        let _ = junk.send_to(&vec![0x3fu8; len], media);
    }
    assert_alive(&mut chorus, "junk to RTP ports");

    // The echo call still echoes: a 1 kHz tone comes back.
    let heard = common::rtp::exchange_tone(&rtp, media, 1000.0, 2.0, Duration::from_millis(500));
    sock.send_to(leg.bye().as_bytes(), server).unwrap();
    let bye = final_response(&sock, "BYE", Duration::from_secs(5));
    assert_eq!(bye.status(), Some(200), "{bye:?}");
    assert!(
        heard.len() >= 8000,
        "echo returned only {} samples in 2.5 s",
        heard.len()
    );
    let loud: Vec<i16> = heard
        .chunks(160)
        .filter(|f| common::audio::rms(f) > 1000.0)
        .flatten()
        .copied()
        .collect();
    assert!(
        loud.len() >= 8000,
        "echo was mostly silent: {} loud samples",
        loud.len()
    );
    let dominance = tone_dominance(&loud, 8000, 1000.0);
    assert!(
        dominance > 10.0,
        "echoed audio is not the 1 kHz tone (dominance {dominance})"
    );

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let line = log
        .iter()
        .find(|l| l["call_id"] == leg.call_id.as_str())
        .unwrap_or_else(|| panic!("no line for the echo call: {log:#?}"));
    assert_eq!(line["end_reason"], "caller_bye", "{line}");
    // Nothing above was a call.
    assert_eq!(log.len(), 1, "{log:#?}");
}
