//! SR/RR + SDES compound reports survive marshal and unmarshal (through the rtcp crate and
//! through a peer session), SR only after sending, reports about us recorded, BYE seen.

use std::time::{Duration, Instant, SystemTime};

use chorus_rtp::rtcp::{is_rtcp, RtcpConfig, RtcpSession};
use rtcp::receiver_report::ReceiverReport;
use rtcp::sender_report::SenderReport;
use rtcp::source_description::SourceDescription;

const A: u32 = 0xA0A0_A0A0;
const B: u32 = 0xB0B0_B0B0;

fn pair(t0: Instant) -> (RtcpSession, RtcpSession) {
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    (
        RtcpSession::new(RtcpConfig::new(A, "a@example.net", 8000, 1), t0, wall),
        RtcpSession::new(RtcpConfig::new(B, "b@example.net", 8000, 2), t0, wall),
    )
}

/// The next report `s` sends, at its own deadline.
fn next_report(s: &mut RtcpSession) -> (Instant, Vec<u8>) {
    let at = s.poll_timeout().unwrap();
    (at, s.handle_timeout(at).expect("a report is due"))
}

#[test]
fn receiver_only_sends_rr_and_sdes() {
    let t0 = Instant::now();
    let (mut a, _) = pair(t0);
    let (_, bytes) = next_report(&mut a);
    assert!(is_rtcp(&bytes));
    let packets = rtcp::packet::unmarshal(&mut &bytes[..]).unwrap();
    assert_eq!(packets.len(), 2);
    let rr = packets[0]
        .as_any()
        .downcast_ref::<ReceiverReport>()
        .unwrap();
    assert_eq!(rr.ssrc, A);
    assert!(rr.reports.is_empty(), "nothing received, nothing to report");
    let sdes = packets[1]
        .as_any()
        .downcast_ref::<SourceDescription>()
        .unwrap();
    assert_eq!(sdes.chunks[0].source, A);
    assert_eq!(&sdes.chunks[0].items[0].text[..], b"a@example.net");
}

#[test]
fn sender_report_carries_counts_and_reception_block() {
    let t0 = Instant::now();
    let (mut a, mut b) = pair(t0);
    // A sends 100 packets (one lost on the way), B sends 50.
    for i in 0..100u32 {
        let at = t0 + Duration::from_millis(20 * u64::from(i));
        a.on_rtp_sent(at, 1000 + 160 * i, 160);
        if i != 50 {
            b.on_rtp_received(
                at + Duration::from_millis(30),
                i as u16,
                1000 + 160 * i,
                A,
                160,
            );
        }
        if i < 50 {
            b.on_rtp_sent(at, 77 + 160 * i, 160);
            a.on_rtp_received(
                at + Duration::from_millis(30),
                500 + i as u16,
                77 + 160 * i,
                B,
                160,
            );
        }
    }
    let (at, bytes) = next_report(&mut a);
    assert!(at >= t0 + Duration::from_millis(1250) && at < t0 + Duration::from_millis(3750));
    let packets = rtcp::packet::unmarshal(&mut &bytes[..]).unwrap();
    let sr = packets[0].as_any().downcast_ref::<SenderReport>().unwrap();
    assert_eq!((sr.ssrc, sr.packet_count, sr.octet_count), (A, 100, 16_000));
    assert_eq!(sr.reports.len(), 1);
    assert_eq!(sr.reports[0].ssrc, B);
    assert_eq!(sr.reports[0].last_sequence_number, 549);
    // RTP time follows the sample clock from the last packet sent (99 * 20 ms).
    let elapsed = at - (t0 + Duration::from_millis(20 * 99));
    let want = 1000 + 160 * 99 + (elapsed.as_secs_f64() * 8000.0) as u32;
    assert!(sr.rtp_time.abs_diff(want) <= 1);

    // B takes A's SR and reports on A's stream: loss 1 of 99 expected, fraction 2/256.
    b.handle_packet(at + Duration::from_millis(30), &bytes)
        .unwrap();
    assert_eq!(b.remote_cname(), Some("a@example.net"));
    let (at_b, bytes_b) = next_report(&mut b);
    let at_b = at_b.max(at + Duration::from_millis(30));
    a.handle_packet(at_b + Duration::from_millis(30), &bytes_b)
        .unwrap();
    let r = a.remote_report().expect("B reported on A");
    assert_eq!(r.block.ssrc, A);
    assert_eq!(r.block.total_lost, 1);
    assert_eq!(r.block.fraction_lost, 2);
    assert!((r.fraction_lost - 2.0 / 256.0).abs() < 1e-6);
    assert_eq!(a.remote_cname(), Some("b@example.net"));
    let summary = a.call_stats();
    assert_eq!((summary.packets_sent, summary.bytes_sent), (100, 16_000));
    assert_eq!(
        (summary.packets_received, summary.bytes_received),
        (50, 8_000)
    );
    assert_eq!(summary.packets_lost, 0);
    assert!((summary.remote_reported_loss - 2.0 / 256.0).abs() < 1e-6);
}

#[test]
fn rr_after_sender_stops() {
    let t0 = Instant::now();
    let (mut a, _) = pair(t0);
    a.on_rtp_sent(t0, 0, 160);
    let (_, first) = next_report(&mut a);
    assert_eq!(first[1], 200, "SR while sending");
    let (_, second) = next_report(&mut a);
    assert_eq!(second[1], 201, "RR once we stopped");
}

#[test]
fn bye_ends_the_timer_and_reaches_the_peer() {
    let t0 = Instant::now();
    let (mut a, mut b) = pair(t0);
    let bytes = a.bye(t0).unwrap();
    assert_eq!(a.poll_timeout(), None);
    assert_eq!(a.handle_timeout(t0 + Duration::from_secs(100)), None);
    assert!(!b.remote_bye());
    b.handle_packet(t0, &bytes).unwrap();
    assert!(b.remote_bye());
    assert_eq!(b.stats().malformed, 0);
}
