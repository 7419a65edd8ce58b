//! The per-packet receive path of a call and the per-frame codec cost (issue 3).
//!
//! `receive_path_<codec>` is what the call's media stream does with every audio datagram and at every
//! 20 ms tick, minus the socket and RTCP: [`RtpSession::receive`] (parse, payload-type and latch checks),
//! the telephone-event routing check, [`JitterBuffer::push`], [`JitterBuffer::pop`], and
//! [`RtpSession::decode`] of the frame played out, copied into the call's frame buffer. The packets are a
//! real stream: consecutive sequence numbers and timestamps, one per tick, so every pop plays a frame.
//!
//! `rfc4733_event_packet` is a telephone-event datagram through `receive`, the same routing check and
//! [`Receiver::handle_packet`], draining [`Receiver::poll_event`]: a stream of key presses of eight
//! packets each (start, four updates, three end packets, as RFC 4733 §2.5.1.4 repeats the end).
//!
//! `codec_20ms_<codec>` encodes one 20 ms frame with [`Codec::encoder`] and decodes the payload with
//! [`Codec::decoder`], on a speech-like signal (three tones under a syllable envelope, plus noise);
//! `encode_20ms_<codec>` is the encoder alone.
//!
//! Before criterion runs, each path is also run 10,000 times under a counting allocator and the
//! allocations per packet printed: the hot path is meant not to allocate.
//!
//! `cargo bench --bench media_path -- --warm-up-time 1 --measurement-time 3`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chorus_rtp::codec::Codec;
use chorus_rtp::dtmf::rfc4733::Receiver;
use chorus_rtp::jitter::{JitterBuffer, JitterConfig, Playout};
use chorus_rtp::session::{RtpSession, SessionConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// The system allocator, counting allocations (not frees) so a path can be checked for allocating.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations per call of `f`, over `n` calls.
fn allocs_per_call(n: u64, mut f: impl FnMut()) -> f64 {
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..n {
        f();
    }
    (ALLOCS.load(Ordering::Relaxed) - before) as f64 / n as f64
}

const TELEPHONE_EVENT_PT: u8 = 101;
const PEER_SSRC: u32 = 0x5eed_0001;

fn config(codec: Codec) -> SessionConfig {
    SessionConfig {
        ssrc: 0x1234_5678,
        initial_seq: 1,
        initial_timestamp: 0,
        codec,
        payload_type: codec.static_payload_type().unwrap_or(111),
        telephone_event_pt: Some(TELEPHONE_EVENT_PT),
        remote: None,
        ptime_ms: 20,
    }
}

/// One second of speech-like audio at `rate`: 200, 700 and 2200 Hz under a 4 Hz syllable envelope,
/// plus white noise at about -40 dBm0.
fn speech(rate: u32) -> Vec<i16> {
    let mut rng = StdRng::seed_from_u64(3);
    (0..rate)
        .map(|i| {
            let t = f64::from(i) / f64::from(rate);
            let env = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * 4.0 * t).cos();
            let s: f64 = [(200.0, 6000.0), (700.0, 3000.0), (2200.0, 1000.0)]
                .iter()
                .map(|&(f, a)| a * (2.0 * std::f64::consts::PI * f * t).sin())
                .sum();
            (env * s) as i16 + rng.gen_range(-60..=60)
        })
        .collect()
}

/// An RTP packet of the peer carrying one encoded 20 ms frame of `codec` (its header is rewritten per
/// packet by [`set_header`]).
fn audio_packet(codec: Codec) -> Vec<u8> {
    let pcm = speech(codec.sample_rate());
    let mut peer = RtpSession::new(SessionConfig {
        ssrc: PEER_SSRC,
        ..config(codec)
    });
    let mut packet = Vec::new();
    peer.packetize(&pcm[..codec.samples_per_frame(20)], &mut packet);
    packet
}

/// Writes `seq`, `timestamp` and the marker bit into an RTP packet's fixed header (RFC 3550 §5.1).
fn set_header(packet: &mut [u8], seq: u16, timestamp: u32, marker: bool) {
    packet[1] = (packet[1] & 0x7F) | if marker { 0x80 } else { 0 };
    packet[2..4].copy_from_slice(&seq.to_be_bytes());
    packet[4..8].copy_from_slice(&timestamp.to_be_bytes());
}

/// The receiving side of one call: what the media stream holds for the receive path.
struct Call {
    session: RtpSession,
    jitter: JitterBuffer,
    dtmf: Receiver,
    frame: Vec<i16>,
    digits: u32,
    frames_played: u64,
}

impl Call {
    fn new(codec: Codec) -> Call {
        let spf = codec.samples_per_frame(20);
        Call {
            session: RtpSession::new(config(codec)),
            jitter: JitterBuffer::new(JitterConfig {
                clock_rate: codec.clock_rate(),
                frame_samples: codec.timestamp_units(spf),
                depth: Duration::from_millis(60),
            }),
            dtmf: Receiver::new(codec.clock_rate()),
            frame: Vec::with_capacity(spf),
            digits: 0,
            frames_played: 0,
        }
    }

    /// One datagram in, then the tick's playout: the stream's `on_datagram` and `play_out`.
    fn on_packet(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let Some(raw) = self.session.receive(now, from, data) else {
            return;
        };
        if raw.is_event {
            self.dtmf
                .handle_packet(now, raw.timestamp, raw.marker, raw.payload);
            while let Some(ev) = self.dtmf.poll_event() {
                self.digits += ev.digit as u32;
            }
            return;
        }
        let _ = self.jitter.push(
            now,
            raw.seq,
            raw.timestamp,
            raw.ssrc,
            raw.marker,
            raw.payload,
        );
        if let Some(Playout::Frame { payload, .. }) = self.jitter.pop(now) {
            let pcm = self.session.decode(payload);
            self.frame.clear();
            self.frame.extend_from_slice(pcm);
            self.frames_played += 1;
        }
    }
}

/// A continuous audio stream of `codec` from the peer: packet `i` has sequence `i`, one frame later.
struct AudioStream {
    packet: Vec<u8>,
    units: u32,
    i: u32,
    t0: Instant,
}

impl AudioStream {
    fn new(codec: Codec, t0: Instant) -> AudioStream {
        AudioStream {
            packet: audio_packet(codec),
            units: codec.timestamp_units(codec.samples_per_frame(20)),
            i: 0,
            t0,
        }
    }

    fn next(&mut self) -> (Instant, &[u8]) {
        let i = self.i;
        self.i = self.i.wrapping_add(1);
        set_header(
            &mut self.packet,
            i as u16,
            i.wrapping_mul(self.units),
            i == 0,
        );
        let now = self.t0 + Duration::from_millis(20 * u64::from(i));
        (now, &self.packet)
    }
}

/// A peer pressing keys: eight telephone-event packets per press (start with the marker, four updates,
/// the end three times), one every 25 ms, a new press every 200 ms of RTP time.
struct EventStream {
    packet: Vec<u8>,
    i: u32,
    t0: Instant,
}

impl EventStream {
    fn new(t0: Instant) -> EventStream {
        let mut packet = vec![0x80, TELEPHONE_EVENT_PT, 0, 0, 0, 0, 0, 0];
        packet.extend_from_slice(&PEER_SSRC.to_be_bytes());
        packet.extend_from_slice(&[0; 4]);
        EventStream { packet, i: 0, t0 }
    }

    fn next(&mut self) -> (Instant, &[u8]) {
        let i = self.i;
        self.i = self.i.wrapping_add(1);
        let (press, k) = (i / 8, i % 8);
        set_header(&mut self.packet, i as u16, press.wrapping_mul(1600), k == 0);
        let end = k >= 5;
        let duration = 160 * (k.min(5) + 1) as u16;
        let body = &mut self.packet[12..16];
        body[0] = (press % 10) as u8; // digits 0-9
        body[1] = if end { 0x80 } else { 0 } | 10; // E bit, volume -10 dBm0
        body[2..4].copy_from_slice(&duration.to_be_bytes());
        let now = self.t0 + Duration::from_millis(25 * u64::from(i));
        (now, &self.packet)
    }
}

fn receive_path(c: &mut Criterion) {
    let from = SocketAddr::from(([127, 0, 0, 1], 40000));
    let mut group = c.benchmark_group("media_path");
    group.throughput(Throughput::Elements(1));
    for codec in [
        Codec::Pcmu,
        Codec::Pcma,
        Codec::G722,
        Codec::L16,
        Codec::Opus,
    ] {
        let t0 = Instant::now();
        let mut call = Call::new(codec);
        let mut stream = AudioStream::new(codec, t0);
        // Fill the jitter buffer to its playout delay first, as a call does in its first 60 ms.
        for _ in 0..8 {
            let (now, p) = stream.next();
            call.on_packet(now, from, p);
        }
        let allocs = allocs_per_call(10_000, || {
            let (now, p) = stream.next();
            call.on_packet(now, from, p);
        });
        println!(
            "media_path/receive_path_{}: {allocs} allocations per packet",
            codec.name()
        );
        group.bench_function(format!("receive_path_{}", codec.name()), |b| {
            b.iter(|| {
                let (now, p) = stream.next();
                call.on_packet(now, from, black_box(p));
                black_box(call.frame.len())
            })
        });
        let played = call.frames_played;
        let received = call.session.stats().packets_received;
        assert!(
            played + 8 >= received && call.frame.len() == codec.samples_per_frame(20),
            "every packet played out: {played} frames of {received} packets"
        );
    }

    let t0 = Instant::now();
    let mut call = Call::new(Codec::Pcmu);
    let mut events = EventStream::new(t0);
    let allocs = allocs_per_call(10_000, || {
        let (now, p) = events.next();
        call.on_packet(now, from, p);
    });
    println!("media_path/rfc4733_event_packet: {allocs} allocations per packet");
    let presses = u64::from(events.i / 8);
    group.bench_function("rfc4733_event_packet", |b| {
        b.iter(|| {
            let (now, p) = events.next();
            call.on_packet(now, from, black_box(p));
            black_box(call.digits)
        })
    });
    assert!(presses > 0 && call.digits > 0, "key presses were reported");
    group.finish();
}

fn codecs(c: &mut Criterion) {
    let mut group = c.benchmark_group("media_path");
    // One element = one 20 ms frame encoded and decoded.
    group.throughput(Throughput::Elements(1));
    for codec in [
        Codec::Pcmu,
        Codec::Pcma,
        Codec::G722,
        Codec::L16,
        Codec::Opus,
    ] {
        let audio = speech(codec.sample_rate());
        let frames: Vec<&[i16]> = audio.chunks(codec.samples_per_frame(20)).collect();
        let mut enc = codec.encoder();
        let mut dec = codec.decoder();
        let mut payload = Vec::with_capacity(1500);
        let mut pcm = Vec::with_capacity(codec.samples_per_frame(20));
        let mut i = 0usize;
        let mut one = || {
            payload.clear();
            enc.encode(frames[i % frames.len()], &mut payload);
            pcm.clear();
            dec.decode(&payload, &mut pcm);
            i += 1;
            pcm.len()
        };
        assert_eq!(
            one(),
            codec.samples_per_frame(20),
            "{} decodes a whole frame",
            codec.name()
        );
        let allocs = allocs_per_call(1_000, || {
            black_box(one());
        });
        println!(
            "media_path/codec_20ms_{}: {allocs} allocations per frame",
            codec.name()
        );
        group.bench_function(format!("codec_20ms_{}", codec.name()), |b| {
            b.iter(|| black_box(one()))
        });
        // The encoder alone: the decoder's share is the difference (and `receive_path_<codec>`).
        let mut enc = codec.encoder();
        let mut j = 0usize;
        group.bench_function(format!("encode_20ms_{}", codec.name()), |b| {
            b.iter(|| {
                payload.clear();
                enc.encode(black_box(frames[j % frames.len()]), &mut payload);
                j += 1;
                black_box(payload.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, receive_path, codecs);
criterion_main!(benches);
