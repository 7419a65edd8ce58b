//! Where Chorus sends its RTCP reports, as the caller's SDP asks: on the RTP port when the offer has
//! `a=rtcp-mux` (RFC 5761; the answer carries it too), to the `a=rtcp` port (RFC 3605) when given, and to
//! the RTP port + 1 otherwise (RFC 3550 §11). Each call sends 6 s of RTP to the echo route and watches
//! both of its ports. When the INVITE has no offer, Chorus's offer (in its 200) proposes `a=rtcp-mux` and
//! the caller's answer (in the ACK) decides.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::rtp::{packet, ulaw_encode};
use common::sip::{final_response, sdp_media, Leg};
use common::Chorus;

/// Two sockets on ports P and P + 1 (P even), as a phone's RTP and RTCP.
fn port_pair() -> (UdpSocket, UdpSocket) {
    for _ in 0..100 {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rtp.local_addr().unwrap().port();
        if !port.is_multiple_of(2) || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
            return (rtp, rtcp);
        }
    }
    panic!("no free even/odd port pair on 127.0.0.1");
}

/// What arrived on one socket: RTP and RTCP packet counts.
#[derive(Debug, Default)]
struct Seen {
    rtp: usize,
    rtcp: usize,
}

fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 8 && data[0] >> 6 == 2 && (200..=204).contains(&data[1])
}

/// `head` (a request without its blank line) with `body` as its SDP.
fn with_body(head: &str, body: &str) -> String {
    let head: Vec<String> = head
        .lines()
        .filter(|l| !l.starts_with("Content-Type:"))
        .map(|l| {
            if l.starts_with("Content-Length:") {
                format!(
                    "Content-Type: application/sdp\r\nContent-Length: {}",
                    body.len()
                )
            } else {
                l.to_string()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n"))
}

/// Who offers in a test call, and the extra SDP lines the caller adds to its side.
#[derive(Clone, Copy)]
enum Sdp<'a> {
    /// The INVITE offers PCMU and PCMA with these lines.
    Offer(&'a str),
    /// The INVITE has no offer; the ACK answers Chorus's offer with PCMU and these lines.
    Answer(&'a str),
}

/// Places a call to echo (see [`Sdp`]), sends 6 s of RTP from `rtp` and counts what comes back on `rtp`
/// and on `watch` (the socket where RTCP should or should not arrive). Returns Chorus's SDP (its answer
/// or its offer) and the counts.
fn call(
    chorus: &Chorus,
    id: &str,
    rtp: &UdpSocket,
    watch: &UdpSocket,
    sdp: Sdp,
) -> (String, Seen, Seen) {
    let server = chorus.sip_addr();
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut leg = Leg::new(&sip, server, "echo", id);
    let port = rtp.local_addr().unwrap().port();
    let invite = leg.invite(port);
    let (head, body) = invite.split_once("\r\n\r\n").unwrap();
    let invite = match sdp {
        Sdp::Offer(extra) => with_body(head, &format!("{body}{extra}")),
        Sdp::Answer(_) => with_body(head, "").replace("Content-Type: application/sdp\r\n", ""),
    };
    sip.send_to(invite.as_bytes(), server).unwrap();
    let ok = final_response(&sip, "INVITE", Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    leg.to_tag = ok.to_tag();
    let ack = match sdp {
        Sdp::Offer(_) => leg.ack_2xx(),
        Sdp::Answer(extra) => {
            let ack = leg.ack_2xx();
            let (head, _) = ack.split_once("\r\n\r\n").unwrap();
            let answer = format!(
                "v=0\r\no=test 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n{extra}"
            );
            with_body(head, &answer)
        }
    };
    sip.send_to(ack.as_bytes(), server).unwrap();
    let media: SocketAddr = sdp_media(&ok.body).expect("media address in Chorus's SDP");
    let answer = ok.body.clone();

    let mut on_rtp = Seen::default();
    let mut on_watch = Seen::default();
    rtp.set_nonblocking(true).unwrap();
    watch.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let mut sent = 0u32;
    let mut buf = [0u8; 2048];
    let payload: Vec<u8> = (0..160).map(|_| ulaw_encode(0)).collect();
    while start.elapsed() < Duration::from_secs(6) {
        while sent < (start.elapsed().as_millis() / 20) as u32 + 1 {
            let p = packet(0, sent as u16, 160 * sent, 0xabcd_0001, sent == 0, &payload);
            rtp.send_to(&p, media).unwrap();
            sent += 1;
        }
        for (sock, seen) in [(rtp, &mut on_rtp), (watch, &mut on_watch)] {
            while let Ok((n, _)) = sock.recv_from(&mut buf) {
                if is_rtcp(&buf[..n]) {
                    seen.rtcp += 1;
                } else {
                    seen.rtp += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    sip.send_to(leg.bye().as_bytes(), server).unwrap();
    let ok = final_response(&sip, "BYE", Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "BYE: {}", ok.start);
    (answer, on_rtp, on_watch)
}

#[test]
fn rtcp_goes_where_the_offer_asks() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    std::thread::scope(|s| {
        // Multiplexed: the reports come on the RTP port, none on the port above.
        let mux = s.spawn(|| {
            let (rtp, above) = port_pair();
            let (answer, on_rtp, on_above) =
                call(&chorus, "mux", &rtp, &above, Sdp::Offer("a=rtcp-mux\r\n"));
            assert!(answer.contains("a=rtcp-mux"), "{answer}");
            (on_rtp, on_above)
        });
        // Not multiplexed: on the port above (RFC 3550 §11)...
        let plain = s.spawn(|| {
            let (rtp, above) = port_pair();
            let (_, on_rtp, on_above) = call(&chorus, "plain", &rtp, &above, Sdp::Offer(""));
            (on_rtp, on_above)
        });
        // ...or on the port a=rtcp names.
        let explicit = s.spawn(|| {
            let (rtp, _above) = port_pair();
            let elsewhere = UdpSocket::bind("127.0.0.1:0").unwrap();
            let at = elsewhere.local_addr().unwrap().port();
            let (_, on_rtp, on_elsewhere) = call(
                &chorus,
                "a-rtcp",
                &rtp,
                &elsewhere,
                Sdp::Offer(&format!("a=rtcp:{at}\r\n")),
            );
            (on_rtp, on_elsewhere)
        });
        let (on_rtp, on_above) = mux.join().unwrap();
        eprintln!("mux: rtp port {on_rtp:?}, port above {on_above:?}");
        assert!(on_rtp.rtp >= 200, "the echo comes back: {on_rtp:?}");
        assert!(on_rtp.rtcp >= 1, "RTCP on the RTP port: {on_rtp:?}");
        assert_eq!(
            on_above.rtcp + on_above.rtp,
            0,
            "nothing above: {on_above:?}"
        );

        let (on_rtp, on_above) = plain.join().unwrap();
        eprintln!("plain: rtp port {on_rtp:?}, port above {on_above:?}");
        assert!(on_rtp.rtp >= 200, "{on_rtp:?}");
        assert_eq!(on_rtp.rtcp, 0, "no RTCP on the RTP port: {on_rtp:?}");
        assert!(on_above.rtcp >= 1, "RTCP on the port above: {on_above:?}");

        let (on_rtp, on_elsewhere) = explicit.join().unwrap();
        eprintln!("a=rtcp: rtp port {on_rtp:?}, a=rtcp port {on_elsewhere:?}");
        assert_eq!(on_rtp.rtcp, 0, "{on_rtp:?}");
        assert!(
            on_elsewhere.rtcp >= 1,
            "RTCP on the a=rtcp port: {on_elsewhere:?}"
        );
    });
}

#[test]
fn our_offer_proposes_rtcp_mux_and_the_callers_answer_decides() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    std::thread::scope(|s| {
        let mux = s.spawn(|| {
            let (rtp, above) = port_pair();
            call(
                &chorus,
                "late-mux",
                &rtp,
                &above,
                Sdp::Answer("a=rtcp-mux\r\n"),
            )
        });
        let plain = s.spawn(|| {
            let (rtp, above) = port_pair();
            call(&chorus, "late-plain", &rtp, &above, Sdp::Answer(""))
        });
        let (offer, on_rtp, on_above) = mux.join().unwrap();
        eprintln!("answered with mux: rtp port {on_rtp:?}, port above {on_above:?}");
        assert!(
            offer.contains("a=rtcp-mux"),
            "our offer proposes it: {offer}"
        );
        assert!(on_rtp.rtp >= 200, "the echo comes back: {on_rtp:?}");
        assert!(on_rtp.rtcp >= 1, "RTCP on the RTP port: {on_rtp:?}");
        assert_eq!(on_above.rtcp + on_above.rtp, 0, "{on_above:?}");

        let (offer, on_rtp, on_above) = plain.join().unwrap();
        eprintln!("answered without: rtp port {on_rtp:?}, port above {on_above:?}");
        assert!(offer.contains("a=rtcp-mux"), "{offer}");
        assert!(on_rtp.rtp >= 200, "{on_rtp:?}");
        assert_eq!(on_rtp.rtcp, 0, "no RTCP on the RTP port: {on_rtp:?}");
        assert!(on_above.rtcp >= 1, "RTCP on the port above: {on_above:?}");
    });
}

#[test]
fn the_answer_carries_rtcp_mux_only_when_offered() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let server = chorus.sip_addr();
    for (extra, want) in [("a=rtcp-mux\r\n", true), ("", false)] {
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut leg = Leg::new(&sip, server, "echo", "mux-answer");
        let invite = leg.invite(40000);
        let (head, body) = invite.split_once("\r\n\r\n").unwrap();
        let body = format!("{body}{extra}");
        let head = head.replace(
            &format!("Content-Length: {}", body.len() - extra.len()),
            &format!("Content-Length: {}", body.len()),
        );
        sip.send_to(format!("{head}\r\n\r\n{body}").as_bytes(), server)
            .unwrap();
        let ok = final_response(&sip, "INVITE", Duration::from_secs(5));
        assert_eq!(ok.status(), Some(200), "{}", ok.start);
        assert_eq!(ok.body.contains("a=rtcp-mux"), want, "{}", ok.body);
        leg.to_tag = ok.to_tag();
        sip.send_to(leg.ack_2xx().as_bytes(), server).unwrap();
        sip.send_to(leg.bye().as_bytes(), server).unwrap();
        final_response(&sip, "BYE", Duration::from_secs(5));
    }
}
