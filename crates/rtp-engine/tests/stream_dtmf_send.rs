//! Two real streams over 127.0.0.1: digits queued on one come out of the other exactly once each, as
//! RFC 4733 events when both sides have telephone-event, as in-band tones (heard by the detector on the
//! decoded audio) when they do not, for G.711 and for G.722 at 16 kHz.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use chorus_rtp::codec::Codec;
use chorus_rtp::dtmf::{DtmfEvent, DtmfSource};
use chorus_rtp::ports::PortAllocator;
use chorus_rtp::stream::{MediaEvent, MediaStream};
use support::config;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const KEYS: &str = "1234#";

async fn send_keys(codec: Codec, pt: u8, events: bool, lo: u16) -> (Vec<DtmfEvent>, u64) {
    let pool = PortAllocator::new(lo, lo + 9).expect("range");
    let (sa, sb) = (
        pool.bind(LOCALHOST).expect("a"),
        pool.bind(LOCALHOST).expect("b"),
    );
    let pb = sb.port();
    let mut cfg_a = config(Some(SocketAddr::new(LOCALHOST, pb)));
    cfg_a.codec = codec;
    cfg_a.payload_type = pt;
    if !events {
        cfg_a.telephone_event_pt = None;
    }
    let mut cfg_b = cfg_a;
    cfg_b.ssrc = 0x3333_4444;
    cfg_b.remote = Some(SocketAddr::new(LOCALHOST, sa.port()));
    let now = Instant::now();
    let mut a = MediaStream::new(sa, cfg_a, now);
    let mut b = MediaStream::new(sb, cfg_b, now);
    assert_eq!(a.sends_dtmf_events(), events);
    let ms = Duration::from_millis;
    for k in KEYS.chars() {
        a.queue_dtmf(k, ms(100), ms(100)).expect("a key");
    }
    let silence = vec![0i16; a.samples_per_frame()];
    let mut got = Vec::new();
    let mut frames_after = 0;
    let run = async {
        // Five keys of 200 ms, then 300 ms more for the last one to be reported.
        while frames_after < 15 {
            tokio::select! {
                ev = a.next() => match ev.expect("a socket") {
                    MediaEvent::Tick => {
                        if !a.is_sending_dtmf() {
                            frames_after += 1;
                        }
                        a.send_frame(&silence).await.expect("send a");
                    }
                    MediaEvent::Audio(_) => {}
                    MediaEvent::Dtmf(d) => panic!("a heard {d:?}"),
                },
                ev = b.next() => match ev.expect("b socket") {
                    MediaEvent::Tick => {
                        let n = b.samples_per_frame();
                        b.send_frame(&vec![0; n]).await.expect("send b");
                    }
                    MediaEvent::Audio(_) => {}
                    MediaEvent::Dtmf(d) => got.push(d),
                },
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("keys cross within 10 s");
    (got, a.stats().packets_sent)
}

fn check(got: &[DtmfEvent], source: DtmfSource) {
    assert_eq!(
        got.iter().map(|e| e.digit).collect::<String>(),
        KEYS,
        "{got:?}"
    );
    for e in got {
        assert_eq!(e.source, source);
        let ms = e.duration.as_millis();
        assert!((90..=110).contains(&ms), "{e:?}");
    }
    for w in got.windows(2) {
        let apart = w[1].start.duration_since(w[0].start).as_millis();
        assert!((180..=220).contains(&apart), "keys 200 ms apart: {got:?}");
    }
}

#[tokio::test]
async fn events_cross_loopback_once_each() {
    let (got, sent) = send_keys(Codec::Pcmu, 0, true, 31500).await;
    check(&got, DtmfSource::Rfc4733);
    // 8 event packets and 2 audio frames per key, then 15 frames of audio: one packet per frame.
    assert_eq!(sent, 5 * 10 + 15);
}

#[tokio::test]
async fn tones_cross_loopback_without_telephone_event() {
    let (got, sent) = send_keys(Codec::Pcmu, 0, false, 31520).await;
    check(&got, DtmfSource::InBand);
    assert_eq!(sent, 5 * 10 + 15);
}

#[tokio::test]
async fn tones_cross_loopback_in_g722() {
    let (got, _) = send_keys(Codec::G722, 9, false, 31540).await;
    check(&got, DtmfSource::InBand);
}
