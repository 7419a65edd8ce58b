//! The per-packet media path: encode + packetize one 20 ms frame, and parse + decode one packet,
//! for every codec. Both run once per call every 20 ms, so they bound calls per core.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use chorus_rtp::codec::Codec;
use chorus_rtp::session::{Payload, RtpSession, SessionConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn config(codec: Codec) -> SessionConfig {
    SessionConfig {
        ssrc: 0x1234_5678,
        initial_seq: 1,
        initial_timestamp: 0,
        codec,
        payload_type: codec.static_payload_type().unwrap_or(111),
        telephone_event_pt: Some(101),
        remote: None,
        ptime_ms: 20,
    }
}

/// One 20 ms frame of a 1 kHz tone at the codec's sample rate.
fn frame(codec: Codec) -> Vec<i16> {
    let rate = f64::from(codec.sample_rate());
    (0..codec.samples_per_frame(20))
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / rate).sin()) as i16)
        .collect()
}

fn rtp_path(c: &mut Criterion) {
    let from = SocketAddr::from(([127, 0, 0, 1], 40000));
    let mut group = c.benchmark_group("rtp_path");
    group.throughput(Throughput::Elements(1));
    for codec in Codec::ALL {
        let pcm = frame(codec);
        let mut tx = RtpSession::new(config(codec));
        let mut packet = Vec::with_capacity(12 + 2 * pcm.len());
        group.bench_function(format!("encode_packetize_{}", codec.name()), |b| {
            b.iter(|| {
                tx.packetize(black_box(&pcm), &mut packet);
                black_box(packet.len())
            })
        });

        let mut rx = RtpSession::new(config(codec));
        let now = Instant::now();
        group.bench_function(format!("parse_decode_{}", codec.name()), |b| {
            b.iter(|| match rx.handle_datagram(now, from, black_box(&packet)) {
                Some(r) => match r.payload {
                    Payload::Audio(out) => black_box(out.len()),
                    Payload::TelephoneEvent(_) => 0,
                },
                None => 0,
            })
        });
        assert!(
            rx.stats().packets_received > 0,
            "benchmark packets were accepted"
        );
    }
    group.finish();
}

criterion_group!(benches, rtp_path);
criterion_main!(benches);
