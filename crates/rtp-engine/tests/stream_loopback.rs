//! Two real streams over 127.0.0.1: a 1 kHz tone goes out as G.711 or G.722 and comes back as the same
//! tone, at the codec's sample rate.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use chorus_rtp::codec::Codec;
use chorus_rtp::ports::PortAllocator;
use chorus_rtp::stream::{MediaEvent, MediaStream};
use rtp::packet::Packet;
use support::{config, goertzel_at, tone_at};
use tokio::net::UdpSocket;
use webrtc_util::Unmarshal;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const FRAMES: usize = 15;

async fn tone_crosses_loopback(codec: Codec, payload_type: u8, lo: u16) {
    let pool = PortAllocator::new(lo, lo + 9).expect("range");
    let (sa, sb) = (
        pool.bind(LOCALHOST).expect("a"),
        pool.bind(LOCALHOST).expect("b"),
    );
    let (pa, pb) = (sa.port(), sb.port());
    let mut cfg_a = config(Some(SocketAddr::new(LOCALHOST, pb)));
    cfg_a.codec = codec;
    cfg_a.payload_type = payload_type;
    let mut cfg_b = cfg_a;
    cfg_b.ssrc = 0x3333_4444;
    // B knows no address: it must latch onto A.
    cfg_b.remote = None;
    let now = Instant::now();
    let mut a = MediaStream::new(sa, cfg_a, now);
    let mut b = MediaStream::new(sb, cfg_b, now);
    let (n, rate) = (codec.samples_per_frame(20), codec.sample_rate());
    assert_eq!(a.samples_per_frame(), n);
    assert_eq!(b.sample_rate(), rate);
    assert_eq!(a.local_port(), pa);

    let mut sent_a = Vec::new();
    let mut heard_b: Vec<i16> = Vec::new();
    let mut heard_a: Vec<i16> = Vec::new();
    let mut last_b = vec![0i16; n];
    let run = async {
        while heard_b.len() < FRAMES * n || heard_a.len() < 5 * n {
            tokio::select! {
                ev = a.next() => match ev.expect("a socket") {
                    MediaEvent::Tick => {
                        if sent_a.len() < FRAMES * n {
                            let frame = tone_at(rate, 1000.0, 8000.0, sent_a.len(), n);
                            a.send_frame(&frame).await.expect("send a");
                            sent_a.extend_from_slice(&frame);
                        }
                    }
                    MediaEvent::Audio(pcm) => heard_a.extend_from_slice(pcm),
                    MediaEvent::Dtmf(_) => panic!("no events sent"),
                },
                ev = b.next() => match ev.expect("b socket") {
                    // B echoes what it heard last, to wherever it latched.
                    MediaEvent::Tick => b.send_frame(&last_b).await.expect("send b"),
                    MediaEvent::Audio(pcm) => {
                        heard_b.extend_from_slice(pcm);
                        last_b.copy_from_slice(pcm);
                    }
                    MediaEvent::Dtmf(_) => panic!("no events sent"),
                },
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("tone crosses within 10 s");

    // Loopback neither loses nor reorders: B heard as much as A sent.
    heard_b.truncate(FRAMES * n);
    assert_eq!(heard_b.len(), sent_a.len());
    if codec.sample_rate() == 8000 {
        // G.711 is sample for sample, within its quantization error.
        for (i, (s, h)) in sent_a.iter().zip(&heard_b).enumerate() {
            assert!(
                (i32::from(*s) - i32::from(*h)).abs() <= 260,
                "sample {i}: {s} vs {h}"
            );
        }
    }
    // And by content, at the codec's rate: a 1 kHz tone, nothing at 2 kHz (past the codec's start-up).
    let b_body = &heard_b[n..];
    assert!(goertzel_at(rate, b_body, 1000.0) > 1000.0 * goertzel_at(rate, b_body, 2000.0));
    assert!(goertzel_at(rate, &heard_a, 1000.0) > 100.0 * goertzel_at(rate, &heard_a, 2000.0));

    assert_eq!(b.send_target(), Some(SocketAddr::new(LOCALHOST, pa)));
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.packets_sent, FRAMES as u64);
    assert_eq!(sb.packets_received, FRAMES as u64);
    assert_eq!(sa.send_errors, 0);
    assert!(sa.packets_received >= 5);
    assert_eq!(sb.dropped_foreign + sb.dropped_invalid, 0);

    drop((a, b));
    assert_eq!(pool.in_use(), 0);
}

#[tokio::test]
async fn pcmu_tone_crosses_loopback() {
    tone_crosses_loopback(Codec::Pcmu, 0, 31200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcma_tone_crosses_loopback() {
    tone_crosses_loopback(Codec::Pcma, 8, 31220).await;
}

/// G.722: 320 samples of 16 kHz audio per 20 ms frame, on payload type 9.
#[tokio::test]
async fn g722_tone_crosses_loopback_at_16k() {
    tone_crosses_loopback(Codec::G722, 9, 31320).await;
}

/// Opus on a dynamic payload type: the tone comes back at 16 kHz.
#[tokio::test]
async fn opus_tone_crosses_loopback_at_16k() {
    tone_crosses_loopback(Codec::Opus, 111, 31340).await;
}

/// Hold stops packets but not the RTP clock; resuming marks the first packet (RFC 3550 §5.1).
#[tokio::test]
async fn hold_keeps_timestamps_on_the_sample_clock() {
    let pool = PortAllocator::new(31240, 31249).expect("range");
    let peer = UdpSocket::bind((LOCALHOST, 0)).await.expect("peer");
    let peer_addr = peer.local_addr().expect("peer addr");
    let socket = pool.bind(LOCALHOST).expect("port");
    let cfg = config(Some(peer_addr));
    let mut s = MediaStream::new(socket, cfg, Instant::now());
    let frame = [0i16; 160];
    let mut sent = 0;
    while sent < 6 {
        if let MediaEvent::Tick = s.next().await.expect("stream") {
            s.set_sending(!(2..5).contains(&sent));
            s.send_frame(&frame).await.expect("send");
            sent += 1;
        }
    }
    let mut buf = [0u8; 2048];
    let mut headers = Vec::new();
    for _ in 0..3 {
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), peer.recv_from(&mut buf))
            .await
            .expect("packet in time")
            .expect("recv");
        assert_eq!(from.port(), s.local_port());
        let mut data = &buf[..n];
        headers.push(Packet::unmarshal(&mut data).expect("rtp").header);
    }
    let t0 = cfg.initial_timestamp;
    let got: Vec<_> = headers
        .iter()
        .map(|h| (h.sequence_number, h.timestamp, h.marker))
        .collect();
    assert_eq!(
        got,
        [
            (65_534, t0, true),
            (65_535, t0.wrapping_add(160), false),
            (0, t0.wrapping_add(5 * 160), true),
        ]
    );
    assert_eq!(s.stats().frames_skipped, 3);
    assert!(s.is_sending());
    assert_eq!(s.stats().packets_sent, 3);
}

/// A peer whose port is closed answers with ICMP port unreachable; the call must go on.
#[tokio::test]
async fn closed_peer_port_does_not_end_the_stream() {
    let pool = PortAllocator::new(31260, 31269).expect("range");
    let closed = {
        let s = std::net::UdpSocket::bind((LOCALHOST, 0)).expect("probe");
        s.local_addr().expect("probe addr")
    };
    let socket = pool.bind(LOCALHOST).expect("port");
    let mut s = MediaStream::new(socket, config(Some(closed)), Instant::now());
    let mut ticks = 0;
    while ticks < 10 {
        match s.next().await.expect("no error from an unreachable peer") {
            MediaEvent::Tick => {
                s.send_frame(&[0i16; 160])
                    .await
                    .expect("send never fails the call");
                ticks += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let st = s.stats();
    assert_eq!(st.packets_sent + st.send_errors, 10);
}

/// A stream made outside any runtime (as a sync constructor may be) registers its socket on first use.
#[test]
fn stream_made_outside_a_runtime_works_inside_one() {
    let pool = PortAllocator::new(31280, 31289).expect("range");
    let socket = pool.bind(LOCALHOST).expect("port");
    let mut s = MediaStream::new(socket, config(None), Instant::now());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        assert_eq!(s.next().await.expect("tick"), MediaEvent::Tick);
        // No target yet: nothing sent, clock still advances.
        s.send_frame(&[0i16; 160]).await.expect("send");
    });
    assert_eq!(s.stats().frames_skipped, 1);
    assert_eq!(
        s.session().next_timestamp(),
        config(None).initial_timestamp.wrapping_add(160)
    );
}

/// `next()` inside `select!` loses nothing when the other branch wins: ticks stay due, packets queued.
#[tokio::test]
async fn next_is_cancel_safe() {
    let pool = PortAllocator::new(31300, 31309).expect("range");
    let socket = pool.bind(LOCALHOST).expect("port");
    let port = socket.port();
    let start = Instant::now();
    let mut s = MediaStream::new(socket, config(None), start);
    let peer = UdpSocket::bind((LOCALHOST, 0)).await.expect("peer");
    let mut ticks = 0u32;
    let mut audio = 0u32;
    let mut cancelled = 0u32;
    let mut sent = 0u16;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(400);
    while tokio::time::Instant::now() < deadline {
        // Cancel `next()` often with a timer shorter than a frame.
        tokio::select! {
            ev = s.next() => match ev.expect("stream") {
                MediaEvent::Tick => ticks += 1,
                MediaEvent::Audio(_) => audio += 1,
                MediaEvent::Dtmf(_) => {}
            },
            () = tokio::time::sleep(Duration::from_millis(3)) => {
                cancelled += 1;
                // One packet per 20 ms of audio, as a peer sends them: the jitter buffer plays one
                // frame per tick, so a faster burst would (rightly) overflow its window.
                if sent < 20 && u32::from(sent) * 20 <= start.elapsed().as_millis() as u32 {
                    peer.send_to(&support::pcmu(sent, 9), (LOCALHOST, port)).await.expect("send");
                    sent += 1;
                }
            }
        }
    }
    // Drain what is still due or queued without cancelling.
    // Bounded: the jitter buffer's 60 ms of delay plus margin, in events.
    for _ in 0..100 {
        if audio >= u32::from(sent) {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(50), s.next()).await {
            Ok(Ok(MediaEvent::Audio(_))) => audio += 1,
            Ok(Ok(MediaEvent::Tick)) => ticks += 1,
            _ => {}
        }
    }
    assert!(cancelled > 20, "select cancelled next() {cancelled} times");
    assert_eq!(audio, u32::from(sent), "every packet came out once");
    let elapsed = start.elapsed().as_millis() as u32;
    // One tick per 20 ms frame since start (frame 0 at start), none lost to cancellation; frames
    // skipped by a stall (a loaded test machine) count as their ticks.
    let frames = ticks + s.stats().frames_skipped as u32;
    assert!(
        frames + 2 >= elapsed / 20,
        "{frames} frames in {elapsed} ms"
    );
    assert!(
        frames <= elapsed / 20 + 1,
        "{frames} frames in {elapsed} ms"
    );
}
