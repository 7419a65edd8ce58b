//! The in-band DTMF detector on one 20 ms frame, at 8 kHz and 16 kHz. It runs on every decoded frame of
//! every call whose peer offers no telephone-event, so its cost per frame bounds calls per core.
//!
//! Three inputs: silence (the early exit), a DTMF tone (every check, plus the frequency check when a
//! press starts) and speech-like noise (all filters run, the checks fail: the usual case).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chorus_rtp::dtmf::inband::Detector;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// One second of audio at `rate`: `kind` is "silence", "tone" ('5' at -10 dBm0 per tone, 100 ms on,
/// 100 ms off) or "noise" (white noise at about -15 dBm0).
fn signal(kind: &str, rate: u32) -> Vec<i16> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..rate)
        .map(|i| match kind {
            "tone" if (i * 5 / rate).is_multiple_of(2) => {
                let t = f64::from(i) / f64::from(rate);
                let a = 7200.0;
                (a * (2.0 * std::f64::consts::PI * 770.0 * t).sin()
                    + a * (2.0 * std::f64::consts::PI * 1336.0 * t).sin()) as i16
            }
            "noise" => rng.gen_range(-5000..=5000),
            _ => 0,
        })
        .collect()
}

fn dtmf_inband(c: &mut Criterion) {
    let mut group = c.benchmark_group("dtmf_inband");
    // One element = one 20 ms frame.
    group.throughput(Throughput::Elements(1));
    for rate in [8000u32, 16000] {
        let frame_len = rate as usize / 50;
        for kind in ["silence", "tone", "noise"] {
            let audio = signal(kind, rate);
            let frames: Vec<&[i16]> = audio.chunks(frame_len).collect();
            let mut det = Detector::new(rate).expect("a supported rate");
            let t0 = Instant::now();
            let mut i = 0usize;
            group.bench_function(format!("frame_20ms_{}k_{kind}", rate / 1000), |b| {
                b.iter(|| {
                    let now = t0 + Duration::from_millis(20 * i as u64);
                    det.process(now, black_box(frames[i % frames.len()]));
                    i += 1;
                    let mut n = 0;
                    while let Some(ev) = det.poll_event() {
                        n += ev.digit as u32;
                    }
                    black_box(n)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, dtmf_inband);
criterion_main!(benches);
