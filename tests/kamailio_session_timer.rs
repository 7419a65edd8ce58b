//! RFC 4028 session timers with Kamailio in front of Chorus (Record-Route, loose routing), route `echo` of
//! `tests/dialplans/test.yaml`, SIPp calling through the proxy:
//!
//! - the caller refreshes (`Session-Expires: 90;refresher=uac`, `Supported: timer`): the 200 carries
//!   `Session-Expires: 90;refresher=uac` and `Require: timer`; an UPDATE without SDP at 30 s and a
//!   re-INVITE at 75 s, both through the route set, each get a 200 with `Session-Expires` and
//!   `Require: timer`; the call is still up at 95 s (past the 60 s BYE point and the 90 s expiry of the
//!   first interval), the echo route sends the caller's tone back all along, and the caller's BYE ends it
//!   (`caller_bye`);
//! - a caller that never refreshes is sent BYE by Chorus at 90 - min(32, 90/3) = 60 s, through the proxy
//!   (`session_expired`);
//! - `refresher=uas`: Chorus sends UPDATE with `Session-Expires` at 45 s and 90 s, following the route set,
//!   so SIPp receives each from Kamailio (its Via on top, Chorus's under it); SIPp answers and the call
//!   outlives 90 s.
//!
//! SIPp does the signalling; the caller's media is the test's own socket (the SDP's port, `-key rtp_port`),
//! which sends a 1 kHz tone every 20 ms for the whole call, so RTP flows as from a real phone and nothing
//! but the session timer (not an RTP timeout) can end a call.
//!
//! Each call takes one to one and a half minutes, so they run at once: the first two share a test (two
//! threads) and the third is the other test of this binary, which libtest runs beside it (95 s in all).

mod common;
#[path = "common/kamailio.rs"]
mod kamailio;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::rtp::{packet, parse, ulaw_decode, ulaw_encode};
use common::sip::Msg;
use common::{sipp, Chorus, SippRun, Transport};
use kamailio::{Kamailio, Upstream};

const DIALPLAN: &str = "tests/dialplans/test.yaml";

/// The caller's media, played by the test on a socket of its own: once Chorus's first RTP packet shows
/// where it sends from (it sends from the answer on), a 1 kHz µ-law tone to that address every 20 ms,
/// and every packet that comes back, with when it came.
struct Media {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Heard>>,
}

/// What the media socket saw.
#[derive(Debug, Default)]
struct Heard {
    /// Chorus's RTP address.
    from: Option<SocketAddr>,
    /// Packets sent.
    sent: u32,
    /// (arrival since the start, decoded samples) of each PCMU packet from Chorus.
    frames: Vec<(Duration, Vec<i16>)>,
}

impl Media {
    fn start() -> Media {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || media_loop(sock, &flag));
        Media {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sending and returns what came in.
    fn finish(mut self) -> Heard {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Media {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn media_loop(sock: UdpSocket, stop: &AtomicBool) -> Heard {
    let start = Instant::now();
    let mut heard = Heard::default();
    let mut next_send: Option<Instant> = None;
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    while !stop.load(Ordering::SeqCst) {
        if let (Some(to), Some(at)) = (heard.from, next_send.as_mut()) {
            while Instant::now() >= *at {
                let n = heard.sent as usize;
                let payload: Vec<u8> = (0..160)
                    .map(|i| {
                        let t = (n * 160 + i) as f64 / 8000.0;
                        ulaw_encode(
                            (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16,
                        )
                    })
                    .collect();
                let p = packet(0, n as u16, 160 * n as u32, 0x5e55_1011, n == 0, &payload);
                let _ = sock.send_to(&p, to);
                heard.sent += 1;
                *at += Duration::from_millis(20);
            }
        }
        if let Ok((n, src)) = sock.recv_from(&mut buf) {
            if heard.from.is_none() {
                heard.from = Some(src);
                next_send = Some(Instant::now());
            }
            if Some(src) == heard.from {
                if let Some((0, payload)) = parse(&buf[..n]) {
                    let pcm = payload.iter().map(|b| ulaw_decode(*b)).collect();
                    heard.frames.push((start.elapsed(), pcm));
                }
            }
        }
    }
    heard
}

impl Heard {
    /// The echo of our tone between `from` and `to` seconds after the start: (frames that carried it,
    /// frames received). A frame carries it when it is loud and the tone dominates it.
    fn tone_frames(&self, from: f64, to: f64) -> (usize, usize) {
        let frames: Vec<&Vec<i16>> = self
            .frames
            .iter()
            .filter(|(at, _)| (from..to).contains(&at.as_secs_f64()))
            .map(|(_, f)| f)
            .collect();
        let tone = frames
            .iter()
            .filter(|f| {
                common::audio::rms(f) > 1000.0
                    && common::audio::tone_dominance(f, 8000, 1000.0) > 10.0
            })
            .count();
        (tone, frames.len())
    }
}

/// One SIPp call through a Kamailio in front of a Chorus of its own, with the test's media.
struct Call {
    chorus: Chorus,
    proxy: Kamailio,
    run: SippRun,
    took: Duration,
    media: Heard,
}

fn call_through_the_proxy(scenario: &str, timeout: Duration) -> Call {
    let chorus = Chorus::start(DIALPLAN);
    let proxy = Kamailio::start(Upstream::One(chorus.sip_addr()));
    let media = Media::start();
    let started = Instant::now();
    let run = sipp(
        scenario,
        proxy.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &["-key", "rtp_port", &media.port.to_string()],
        timeout,
    );
    let took = started.elapsed();
    let media = media.finish();
    Call {
        chorus,
        proxy,
        run,
        took,
        media,
    }
}

/// The messages SIPp received, in order, with the second they arrived (from the `-trace_msg` log, whose
/// entries start with a dashed line carrying a date and time).
fn received(run: &SippRun) -> Vec<(f64, Msg)> {
    let mut out = Vec::new();
    for entry in run
        .messages
        .split("----------------------------------------------- ")
    {
        let Some((stamp, rest)) = entry.split_once('\n') else {
            continue;
        };
        if !rest.contains("message received") {
            continue;
        }
        // "2026-12-02      08:21:58.123456" (SIPp pads the gap): the time of day in seconds.
        let Some(secs) = stamp.split_whitespace().nth(1).and_then(time_of_day) else {
            continue;
        };
        // The message follows the "... message received [N] bytes :" line and a blank line.
        let Some(start) = rest.find(" bytes :") else {
            continue;
        };
        let text = rest[start + 8..].trim_start_matches(['\r', '\n']);
        let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
        if let Some(m) = Msg::parse(text.as_bytes()) {
            out.push((secs, m));
        }
    }
    out
}

/// `08:21:58.123456` as seconds since midnight.
fn time_of_day(s: &str) -> Option<f64> {
    let mut parts = s.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let sec: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + sec)
}

/// Seconds from the call log's `answered_at` to its `ended_at`.
fn call_seconds(line: &serde_json::Value) -> f64 {
    let at = |k: &str| common::recording::rfc3339_seconds(line[k].as_str().unwrap_or(""));
    at("ended_at").unwrap_or(0.0) - at("answered_at").unwrap_or(f64::MAX)
}

/// The top Via of `m` names `addr` (the hop it came from).
fn top_via_is(m: &Msg, addr: SocketAddr) -> bool {
    m.header("Via")
        .is_some_and(|v| v.starts_with(&format!("SIP/2.0/UDP {addr}")))
}

/// The call's one call-log line, after the common checks: route echo, answered 200, RTP both ways (Chorus
/// got at least 95 % of what the test sent).
fn call_log_line(call: &Call) -> serde_json::Value {
    let log = call.chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log.len(), 1, "{log:#?}");
    let line = log[0].clone();
    eprintln!("SIPp ran {:?}; call log: {line}", call.took);
    assert_eq!(line["route"], "echo", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["rtp"]["codec"], "PCMU", "{line}");
    let sent = u64::from(call.media.sent);
    let got = line["rtp"]["packets_received"].as_u64().unwrap_or(0);
    assert!(
        sent > 0 && got * 100 >= sent * 95,
        "the test's RTP reached Chorus: sent {sent}, Chorus counted {got}: {line}\n(media from {:?})",
        call.media.from
    );
    line
}

/// (a) The caller refreshes through the proxy by UPDATE and re-INVITE and stays up for 95 s.
fn caller_refreshes() {
    let call = call_through_the_proxy(
        "../kamailio/uac_session_refresh_proxy.xml",
        Duration::from_secs(130),
    );
    let Call {
        chorus,
        proxy,
        run,
        took,
        media,
    } = &call;
    run.assert_success(
        "refreshes by UPDATE and re-INVITE through kamailio, each answered with Session-Expires",
    );
    assert!(
        *took >= Duration::from_secs(95),
        "the scenario holds the call 95 s, SIPp ran {took:?}:\n{run}"
    );
    let line = call_log_line(&call);
    assert_eq!(
        line["end_reason"], "caller_bye",
        "the refreshed call must end with the caller's BYE: {line}"
    );
    let secs = call_seconds(&line);
    assert!(
        secs >= 94.0,
        "the call outlived its first session interval (90 s): it lasted {secs} s: {line}"
    );
    assert!(
        !chorus.log_text().contains("session timer expired"),
        "{}",
        chorus.log_text()
    );

    // The echo route sent the tone back after the answer, after the UPDATE (30 s), after the re-INVITE
    // (75 s) and past the first interval's expiry (90 s): two seconds each, 100 frames.
    for (from, what) in [
        (2.0, "after the answer"),
        (32.0, "after the UPDATE refresh"),
        (77.0, "after the re-INVITE refresh"),
        (91.0, "past the first interval"),
    ] {
        let (tone, frames) = media.tone_frames(from, from + 2.0);
        eprintln!("echo {what}: {tone} of {frames} frames carry the tone");
        assert!(
            tone >= 90,
            "echo {what} ({from}-{} s): {tone} of {frames} frames carry the 1 kHz tone",
            from + 2.0
        );
    }

    // Every in-dialog request of the caller went through the proxy's route set; none came from Chorus.
    let call_id = line["call_id"].as_str().unwrap().to_string();
    for (method, n) in [("UPDATE", 1), ("INVITE", 1), ("ACK", 2), ("BYE", 1)] {
        let routed = proxy.lines_with(&[&format!("in-dialog {method} from"), &call_id]);
        assert_eq!(
            routed.len(),
            n,
            "kamailio loose-routed {n} {method} of the caller: {:#?}",
            proxy.test_lines()
        );
    }
    let from_chorus = format!("from {}", chorus.sip_addr());
    assert!(
        proxy.lines_with(&["in-dialog", &from_chorus]).is_empty(),
        "Chorus sent nothing in the dialog (no BYE, no refresh): {:#?}",
        proxy.test_lines()
    );
    assert!(
        proxy.lines_with(&["without a route"]).is_empty(),
        "{:#?}",
        proxy.test_lines()
    );
    // The 200s to both refreshes came back with Session-Expires and Require: timer.
    let oks: Vec<Msg> = received(run)
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| m.status() == Some(200))
        .collect();
    for cseq in ["2 UPDATE", "3 INVITE"] {
        let refresh_ok = oks
            .iter()
            .find(|m| m.header("CSeq").map(str::trim) == Some(cseq))
            .unwrap_or_else(|| panic!("no 200 to {cseq} in:\n{run}"));
        assert!(
            refresh_ok
                .header("Session-Expires")
                .is_some_and(|v| v.replace(' ', "") == "90;refresher=uac"),
            "200 to the {cseq} refresh: {refresh_ok:#?}"
        );
        assert!(
            refresh_ok
                .header("Require")
                .is_some_and(|v| v.contains("timer")),
            "{refresh_ok:#?}"
        );
    }
}

/// (c) A caller that never refreshes: Chorus sends BYE through the proxy at 60 s.
fn silent_caller_is_hung_up() {
    let call = call_through_the_proxy(
        "../kamailio/uac_session_expire_proxy.xml",
        Duration::from_secs(85),
    );
    let Call {
        chorus,
        proxy,
        run,
        took,
        ..
    } = &call;
    run.assert_success("BYE through kamailio when the refresh never comes");
    assert!(
        *took >= Duration::from_secs(58) && *took <= Duration::from_secs(66),
        "BYE expected 60 s after the 200 (90 - min(32, 30)), SIPp ran {took:?}"
    );
    let line = call_log_line(&call);
    assert_eq!(line["end_reason"], "session_expired", "{line}");
    let secs = call_seconds(&line);
    assert!(
        (58.0..=63.0).contains(&secs),
        "Chorus ended the call 60 s after the answer, not {secs} s: {line}"
    );
    assert!(
        chorus.log_text().contains("session timer expired"),
        "{}",
        chorus.log_text()
    );

    // The BYE followed the route set: Kamailio loose-routed it from Chorus, and SIPp got it from Kamailio.
    let call_id = line["call_id"].as_str().unwrap().to_string();
    let from_chorus = format!("in-dialog BYE from {}", chorus.sip_addr());
    assert_eq!(
        proxy.lines_with(&[&from_chorus, &call_id]).len(),
        1,
        "kamailio loose-routed chorus's BYE once: {:#?}",
        proxy.test_lines()
    );
    let msgs = received(run);
    let byes: Vec<&Msg> = msgs
        .iter()
        .map(|(_, m)| m)
        .filter(|m| m.method() == Some("BYE"))
        .collect();
    assert!(!byes.is_empty(), "SIPp got no BYE:\n{run}");
    for bye in byes {
        assert!(
            top_via_is(bye, proxy.sip_addr()),
            "the BYE did not come through the proxy: {bye:#?}"
        );
        assert!(
            bye.header_all("Via")
                .iter()
                .any(|v| v.contains(&chorus.sip_addr().to_string())),
            "{bye:#?}"
        );
    }
}

#[test]
fn caller_refreshes_and_a_silent_caller_is_hung_up() {
    // Two independent calls (each with its own Chorus and Kamailio) at once, to keep the wall time at the
    // longer one's 95 s. A failure in either thread fails the test after both finish.
    std::thread::scope(|s| {
        let a = std::thread::Builder::new()
            .name("caller_refreshes".into())
            .spawn_scoped(s, caller_refreshes)
            .unwrap();
        let c = std::thread::Builder::new()
            .name("silent_caller_is_hung_up".into())
            .spawn_scoped(s, silent_caller_is_hung_up)
            .unwrap();
        let (a, c) = (a.join(), c.join());
        assert!(
            a.is_ok() && c.is_ok(),
            "caller_refreshes ok: {}, silent_caller_is_hung_up ok: {} (their panics are above)",
            a.is_ok(),
            c.is_ok()
        );
    });
}

/// (b) refresher=uas: Chorus refreshes with UPDATE at 45 s and 90 s, through the proxy.
#[test]
fn chorus_refreshes_through_the_proxy() {
    let call = call_through_the_proxy(
        "../kamailio/uac_session_uas_refresh_proxy.xml",
        Duration::from_secs(125),
    );
    let Call {
        chorus,
        proxy,
        run,
        took,
        ..
    } = &call;
    run.assert_success("two UPDATE refreshes from Chorus through kamailio");
    assert!(
        *took >= Duration::from_secs(90) && *took <= Duration::from_secs(97),
        "UPDATEs expected 45 s and 90 s after the 200, then our BYE; SIPp ran {took:?}"
    );
    let line = call_log_line(&call);
    assert_eq!(line["end_reason"], "caller_bye", "{line}");
    let secs = call_seconds(&line);
    assert!(secs >= 90.0, "the call outlived 90 s: {secs} s: {line}");
    let call_id = line["call_id"].as_str().unwrap().to_string();

    // Kamailio loose-routed both of Chorus's UPDATEs, to SIPp's Contact.
    let from_chorus = format!("in-dialog UPDATE from {}", chorus.sip_addr());
    let routed = proxy.lines_with(&[&from_chorus, &call_id]);
    assert_eq!(
        routed.len(),
        2,
        "kamailio loose-routed two UPDATEs from chorus: {:#?}",
        proxy.test_lines()
    );
    for l in &routed {
        assert!(l.contains("to sip:sipp@127.0.0.1:"), "{l}");
    }

    // SIPp got each UPDATE from the proxy: Kamailio's Via on top, Chorus's below it, no Route left (the
    // proxy consumed its own), Session-Expires with refresher=uac (Chorus is the UAC of its UPDATE and stays the refresher); 45 s apart, CSeq going up. Only two: no
    // retransmission, so SIPp's 200s went back to Chorus through the proxy.
    let msgs = received(run);
    let updates: Vec<&(f64, Msg)> = msgs
        .iter()
        .filter(|(_, m)| m.method() == Some("UPDATE"))
        .collect();
    assert_eq!(updates.len(), 2, "two UPDATEs:\n{run}");
    let mut seqs = Vec::new();
    for (_, u) in &updates {
        let vias = u.header_all("Via");
        assert!(
            top_via_is(u, proxy.sip_addr()),
            "UPDATE not from the proxy: {u:#?}"
        );
        assert!(
            vias.len() >= 2 && vias[1].contains(&chorus.sip_addr().to_string()),
            "Chorus's Via under the proxy's: {u:#?}"
        );
        assert!(u.header("Route").is_none(), "{u:#?}");
        assert!(
            u.header("Session-Expires")
                .is_some_and(|v| v.replace(' ', "") == "90;refresher=uac"),
            "{u:#?}"
        );
        assert!(u.start.starts_with("UPDATE sip:sipp@127.0.0.1:"), "{u:#?}");
        seqs.push(
            u.header("CSeq")
                .and_then(|c| c.split_whitespace().next()?.parse::<u32>().ok())
                .unwrap_or(0),
        );
    }
    assert!(seqs[0] < seqs[1], "CSeq {seqs:?}");
    let gap = (updates[1].0 - updates[0].0).rem_euclid(86400.0); // (across midnight too)
    eprintln!("Chorus's UPDATEs reached SIPp {gap:.2} s apart");
    assert!(
        (43.0..=47.0).contains(&gap),
        "the refreshes are half an interval (45 s) apart, not {gap} s"
    );
}
