//! Conference mixer cost per 20 ms tick (issue 5): rooms of 3, 10, 100 and 500 members.
//!
//! One tick = push every member's frame, mix, read every member's output (as the room task does).
//! Two loads: `all_talk` (every member loud: the worst case, every member gets its own mix-minus and
//! resampling) and `three_talk` (three talkers, the rest silent: a real meeting; non-talkers share
//! one mix). Members alternate 8 kHz and 16 kHz. Target: a 500-member room under 1 ms per tick.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

use chorus_rtp::conference::{MemberId, Mixer, MixerConfig};

fn tone(rate: u32, freq: f32, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            (6000.0 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin()) as i16
        })
        .collect()
}

/// A member's id, its talking frame and its quiet frame.
type MemberFrames = (MemberId, Vec<i16>, Vec<i16>);

fn room(members: usize) -> (Mixer, Vec<MemberFrames>) {
    let mut mixer = Mixer::new(MixerConfig::default());
    let mut frames = Vec::new();
    for i in 0..members {
        let rate = if i % 2 == 0 { 8000 } else { 16000 };
        let id = MemberId(i as u64);
        mixer.add_member(id, rate).expect("valid member");
        let n = rate as usize / 50;
        let loud = tone(rate, 300.0 + (i % 20) as f32 * 150.0, n);
        let quiet = vec![0i16; n];
        frames.push((id, loud, quiet));
    }
    (mixer, frames)
}

fn tick(
    mixer: &mut Mixer,
    frames: &[(MemberId, Vec<i16>, Vec<i16>)],
    talkers: usize,
    out: &mut [i16],
) {
    for (k, (id, loud, quiet)) in frames.iter().enumerate() {
        let f = if k < talkers { loud } else { quiet };
        let _ = mixer.push(*id, f);
    }
    mixer.tick();
    for (id, _, _) in frames {
        if let Some(o) = mixer.output(*id) {
            out[..o.len()].copy_from_slice(o);
            black_box(&out);
        }
    }
    black_box(mixer.mix());
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mixer_tick");
    for members in [3usize, 10, 100, 500] {
        for (name, talkers) in [("all_talk", members), ("three_talk", 3)] {
            let (mut mixer, frames) = room(members);
            let mut out = vec![0i16; 320];
            // Warm up: hangovers, resampler states.
            for _ in 0..20 {
                tick(&mut mixer, &frames, talkers, &mut out);
            }
            g.bench_with_input(BenchmarkId::new(name, members), &members, |b, _| {
                b.iter(|| tick(&mut mixer, &frames, talkers, &mut out))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
