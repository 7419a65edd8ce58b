//! Round-trip time from LSR/DLSR (RFC 3550 §6.4.1) on virtual time, with asymmetric delays and
//! the peer holding our SR before it reports.

use std::time::{Duration, Instant, SystemTime};

use chorus_rtp::rtcp::{RtcpConfig, RtcpSession};

#[test]
fn rtt_from_lsr_and_dlsr() {
    let t0 = Instant::now();
    // The two sides' wall clocks disagree by an hour: RTT must not care.
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut a = RtcpSession::new(RtcpConfig::new(1, "a", 8000, 11), t0, wall);
    let mut b = RtcpSession::new(
        RtcpConfig::new(2, "b", 8000, 12),
        t0,
        wall + Duration::from_secs(3600),
    );
    let (a_to_b, b_to_a) = (Duration::from_millis(40), Duration::from_millis(25));
    for i in 0..200u32 {
        let at = t0 + Duration::from_millis(20 * u64::from(i));
        a.on_rtp_sent(at, 160 * i, 160);
        b.on_rtp_received(at + a_to_b, i as u16, 160 * i, 1, 160);
        b.on_rtp_sent(at, 160 * i, 160);
        a.on_rtp_received(at + b_to_a, i as u16, 160 * i, 2, 160);
    }
    assert_eq!(a.rtt(), None);
    let sr_at = a.poll_timeout().unwrap();
    let sr = a.handle_timeout(sr_at).unwrap();
    b.handle_packet(sr_at + a_to_b, &sr).unwrap();
    // B reports at its own (later) deadline; DLSR covers the wait.
    let mut rr_at = b.poll_timeout().unwrap();
    while rr_at < sr_at + a_to_b {
        let _ = b.handle_timeout(rr_at);
        rr_at = b.poll_timeout().unwrap();
    }
    let rr = b.handle_timeout(rr_at).unwrap();
    a.handle_packet(rr_at + b_to_a, &rr).unwrap();
    let rtt = a.rtt().expect("B echoed our SR");
    let want = a_to_b + b_to_a;
    let err = rtt.as_secs_f64() - want.as_secs_f64();
    assert!(err.abs() < 2.0 / 65536.0, "rtt {rtt:?}, want {want:?}");
    let ms = a.call_stats().rtt_ms.unwrap();
    assert!((ms - 65.0).abs() < 0.1);
}

#[test]
fn report_without_lsr_gives_no_rtt() {
    let t0 = Instant::now();
    let mut a = RtcpSession::new(
        RtcpConfig::new(1, "a", 8000, 11),
        t0,
        SystemTime::UNIX_EPOCH,
    );
    let mut b = RtcpSession::new(
        RtcpConfig::new(2, "b", 8000, 12),
        t0,
        SystemTime::UNIX_EPOCH,
    );
    for i in 0..10u32 {
        b.on_rtp_received(t0, i as u16, 160 * i, 1, 160);
    }
    let at = b.poll_timeout().unwrap();
    let rr = b.handle_timeout(at).unwrap();
    a.handle_packet(at, &rr).unwrap();
    assert!(a.remote_report().is_some());
    assert_eq!(a.rtt(), None, "B never got an SR from us");
}
