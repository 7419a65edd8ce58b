//! The receive jitter buffer, sans-IO: reorders packets within a bounded window, drops duplicates and
//! late packets, reports loss for concealment, and resynchronises when the stream restarts
//! (RFC 3550 §5.1 timestamps and §8.2 SSRC changes; serial arithmetic as in RFC 1982).
//!
//! The buffer is codec-agnostic: it stores encoded payloads, one frame of
//! [`JitterConfig::frame_samples`] timestamp units per packet, keyed by RTP timestamp. It owns a
//! playout clock that advances one frame per [`JitterBuffer::pop`], which the caller makes once per
//! media tick:
//!
//! ```
//! # use std::time::{Duration, Instant};
//! # use chorus_rtp::jitter::{JitterBuffer, JitterConfig, Playout, conceal};
//! let mut jb = JitterBuffer::new(JitterConfig::default());
//! let t0 = Instant::now();
//! let (mut last, mut out, mut lost_run) = (vec![0i16; 160], vec![0i16; 160], 0);
//! for tick in 0..10u32 {
//!     let now = t0 + Duration::from_millis(20 * u64::from(tick));
//!     // Every datagram that arrived since the last tick:
//!     let _ = jb.push(now, tick as u16, tick * 160, 0x1234, tick == 0, &[0xFF; 160]);
//!     match jb.pop(now) {
//!         Some(Playout::Frame { payload, .. }) => { lost_run = 0; /* decode into `last` */ }
//!         Some(Playout::Lost { .. }) => { lost_run += 1; conceal(&last, &mut out, lost_run); }
//!         Some(Playout::Empty) | None => { /* play silence or comfort noise */ }
//!     }
//! }
//! ```
//!
//! Time model: the playout delay is fixed at the configured depth (rounded up to whole frames) from
//! the first packet of a stream, and re-taken at the start of each talkspurt (a packet with the
//! marker bit set arriving while the buffer is empty), which also absorbs clock drift between the
//! peer and our media clock across silences. It is not adaptive within a talkspurt; drift inside a
//! long talkspurt ends in packets arriving too early (a resync) or too late (dropped, and a resync
//! after a run of them).
//!
//! Telephone-event packets (RFC 4733) reuse one timestamp for a whole event, so they do not belong
//! in this buffer: split them off before it (the RFC 4733 receiver tolerates reordering itself).

use std::time::{Duration, Instant};

/// Largest payload stored; every slot is allocated at this size up front, so pushing never
/// allocates. 20 ms of L16 stereo at 16 kHz is 1280 bytes.
pub const MAX_PAYLOAD: usize = 1280;
/// Deepest buffer accepted: a larger configured depth is clamped to it, so memory stays bounded.
pub const MAX_DEPTH: Duration = Duration::from_secs(1);
/// Lost frames [`conceal`] fades over before it plays silence.
pub const CONCEAL_FRAMES: u32 = 3;

/// How a jitter buffer is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock rate of the stream, in Hz (8000 for G.711, 8000 for G.722's RTP clock too).
    pub clock_rate: u32,
    /// RTP timestamp units per packet: one frame (160 for 20 ms at 8 kHz).
    pub frame_samples: u32,
    /// Playout delay and reordering window; clamped to `frame ..= MAX_DEPTH`.
    pub depth: Duration,
}

impl Default for JitterConfig {
    /// 8 kHz, 20 ms frames, 60 ms deep.
    fn default() -> Self {
        JitterConfig {
            clock_rate: 8000,
            frame_samples: 160,
            depth: Duration::from_millis(60),
        }
    }
}

/// What [`JitterBuffer::push`] did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum PushResult {
    /// Stored for playout.
    Accepted,
    /// Already stored or already played: dropped.
    Duplicate,
    /// Its playout time has passed: dropped.
    Late,
    /// The stream restarted (new SSRC, a timestamp jump, or a packet far outside the window): the
    /// buffer was flushed and playout starts again from this packet, which was stored.
    Resync,
    /// Empty or larger than [`MAX_PAYLOAD`]: dropped.
    Invalid,
}

/// What to play at this tick, from [`JitterBuffer::pop`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Playout<'a> {
    /// The next frame in order.
    Frame {
        /// The encoded payload, as received.
        payload: &'a [u8],
        /// Its RTP timestamp.
        timestamp: u32,
        /// Its RTP sequence number.
        seq: u16,
    },
    /// The next frame is missing while later ones arrived: the caller conceals it (see
    /// [`conceal`]).
    Lost {
        /// RTP timestamp the missing frame would have had.
        timestamp: u32,
    },
    /// Nothing is buffered (the peer is silent, or a loss longer than the buffer): an underrun, not
    /// counted as loss.
    Empty,
}

/// Counters of one buffer, for the call log and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets stored (accepted or resyncing).
    pub received: u64,
    /// Packets dropped as duplicates.
    pub duplicates: u64,
    /// Packets dropped because their playout time had passed.
    pub late: u64,
    /// Frames reported [`Playout::Lost`].
    pub lost: u64,
    /// Pops that found nothing buffered after playout started.
    pub underruns: u64,
    /// Times the buffer flushed and restarted.
    pub resyncs: u64,
    /// Packets dropped as [`PushResult::Invalid`].
    pub invalid: u64,
    /// Most packets buffered at once.
    pub max_depth: usize,
}

#[derive(Debug)]
struct Slot {
    full: bool,
    seq: u16,
    timestamp: u32,
    len: usize,
    data: Box<[u8]>,
}

/// Where the playout clock stands.
#[derive(Clone, Copy, Debug)]
struct Clock {
    ssrc: u32,
    /// Timestamp of the frame the next pop plays.
    play_ts: u32,
    /// Pops still to wait before playout starts (the fixed delay).
    prefill: u32,
    /// Whether playout has started since the last resync (underruns count only then).
    started: bool,
}

/// The jitter buffer of one received stream. See the [module docs](self).
#[derive(Debug)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    frame: u32,
    /// Frames of playout delay.
    delay_frames: u32,
    /// Largest timestamp distance from the playout clock still taken as the same stream.
    max_jump: u32,
    slots: Vec<Slot>,
    /// Slot of `play_ts`; slot of the frame `k` ahead is `(head + k) % slots.len()`.
    head: usize,
    buffered: usize,
    clock: Option<Clock>,
    /// Bit `i` set: the frame `i + 1` frames before `play_ts` was played from a received packet.
    played: u64,
    /// Consecutive late packets; a long run means our clock fell behind the peer's.
    late_run: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    /// The configuration it was made with.
    pub fn config(&self) -> JitterConfig {
        self.cfg
    }

    /// An empty buffer with all its slots allocated.
    pub fn new(cfg: JitterConfig) -> JitterBuffer {
        // Bounded so that frame arithmetic stays in i32 whatever the caller passes.
        let clock_rate = cfg.clock_rate.clamp(1, 1 << 24);
        let frame = cfg.frame_samples.clamp(1, 1 << 20);
        let depth = cfg.depth.min(MAX_DEPTH);
        let depth_units = (depth.as_nanos() * u128::from(clock_rate)).div_ceil(1_000_000_000);
        let delay_frames = u32::try_from(depth_units.div_ceil(u128::from(frame)))
            .unwrap_or(u32::MAX)
            .clamp(1, 1000);
        // Room for the delay plus as much again of reordering and arrival jitter ahead of it.
        let capacity = 2 * delay_frames as usize + 2;
        let slots = (0..capacity)
            .map(|_| Slot {
                full: false,
                seq: 0,
                timestamp: 0,
                len: 0,
                data: vec![0; MAX_PAYLOAD].into_boxed_slice(),
            })
            .collect();
        JitterBuffer {
            cfg,
            frame,
            delay_frames,
            max_jump: clock_rate,
            slots,
            head: 0,
            buffered: 0,
            clock: None,
            played: 0,
            late_run: 0,
            stats: JitterStats::default(),
        }
    }

    /// Number of slots: the most packets this buffer ever holds.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Packets buffered now.
    pub fn len(&self) -> usize {
        self.buffered
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buffered == 0
    }

    /// The playout delay, in frames.
    pub fn delay_frames(&self) -> u32 {
        self.delay_frames
    }

    /// The counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Forgets everything buffered; the next packet starts a stream as the first one did.
    pub fn reset(&mut self) {
        self.flush();
        self.clock = None;
    }

    /// Hands the buffer one received RTP packet's fields and payload (copied into a slot).
    /// `now` is the arrival time; the fixed-delay model does not need it, but an adaptive one will.
    pub fn push(
        &mut self,
        _now: Instant,
        seq: u16,
        timestamp: u32,
        ssrc: u32,
        marker: bool,
        payload: &[u8],
    ) -> PushResult {
        if payload.is_empty() || payload.len() > MAX_PAYLOAD {
            self.stats.invalid += 1;
            return PushResult::Invalid;
        }
        let Some(clock) = self.clock else {
            self.start(seq, timestamp, ssrc, payload);
            return PushResult::Accepted;
        };
        if clock.ssrc != ssrc {
            return self.resync(seq, timestamp, ssrc, payload);
        }
        // Serial arithmetic (RFC 1982): the signed distance from the playout clock.
        let offset = timestamp.wrapping_sub(clock.play_ts) as i32;
        if offset.unsigned_abs() > self.max_jump {
            return self.resync(seq, timestamp, ssrc, payload);
        }
        if offset % self.frame as i32 != 0 {
            // Off the frame grid: the peer restarted its timestamps or changed its framing.
            return self.resync(seq, timestamp, ssrc, payload);
        }
        let mut ahead = offset / self.frame as i32;
        if ahead < 0 && !clock.started && self.extend_back(ahead.unsigned_abs()) {
            // Still filling: a packet that overtook earlier ones anchored the clock; move it back.
            ahead = 0;
        }
        if ahead < 0 {
            let back = ahead.unsigned_abs();
            if (1..=64).contains(&back) && self.played & (1u64 << (back - 1)) != 0 {
                self.stats.duplicates += 1;
                return PushResult::Duplicate;
            }
            self.late_run += 1;
            if self.late_run as usize > self.slots.len() {
                // A run longer than the buffer: our clock fell behind the peer's for good.
                return self.resync(seq, timestamp, ssrc, payload);
            }
            self.stats.late += 1;
            return PushResult::Late;
        }
        self.late_run = 0;
        if ahead as usize >= self.slots.len() {
            // Too early for the window: the peer jumped ahead, or its clock outran ours.
            return self.resync(seq, timestamp, ssrc, payload);
        }
        if marker && self.buffered == 0 && clock.started {
            // A talkspurt starts: take the playout delay again from this packet.
            self.start(seq, timestamp, ssrc, payload);
            return PushResult::Accepted;
        }
        let idx = (self.head + ahead as usize) % self.slots.len();
        if self.slots[idx].full {
            self.stats.duplicates += 1;
            return PushResult::Duplicate;
        }
        self.store(idx, seq, timestamp, payload);
        PushResult::Accepted
    }

    /// What to play at this media tick; call exactly once per tick (every frame's duration), since
    /// each call advances the playout clock by one frame.
    ///
    /// `None` until playout starts: no packet yet (or since a resync), or the playout delay is
    /// still filling. Then one [`Playout`] per tick.
    pub fn pop(&mut self, _now: Instant) -> Option<Playout<'_>> {
        let clock = self.clock.as_mut()?;
        if clock.prefill > 0 {
            clock.prefill -= 1;
            return None;
        }
        clock.started = true;
        let ts = clock.play_ts;
        clock.play_ts = ts.wrapping_add(self.frame);
        let idx = self.head;
        self.head = (self.head + 1) % self.slots.len();
        self.played <<= 1;
        if self.slots[idx].full {
            self.slots[idx].full = false;
            self.buffered -= 1;
            self.played |= 1;
            let slot = &self.slots[idx];
            return Some(Playout::Frame {
                payload: &slot.data[..slot.len],
                timestamp: slot.timestamp,
                seq: slot.seq,
            });
        }
        if self.buffered > 0 {
            self.stats.lost += 1;
            Some(Playout::Lost { timestamp: ts })
        } else {
            self.stats.underruns += 1;
            Some(Playout::Empty)
        }
    }

    /// Moves the playout clock `back` frames earlier if the buffer still spans its window after.
    fn extend_back(&mut self, back: u32) -> bool {
        let n = self.slots.len();
        let Some(clock) = self.clock.as_mut() else {
            return false;
        };
        let span = (0..n)
            .rev()
            .find(|k| self.slots[(self.head + k) % n].full)
            .map_or(0, |k| k + 1);
        if back as usize + span > n {
            return false;
        }
        clock.play_ts = clock.play_ts.wrapping_sub(back.wrapping_mul(self.frame));
        self.head = (self.head + n - back as usize) % n;
        true
    }

    fn resync(&mut self, seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> PushResult {
        self.stats.resyncs += 1;
        self.start(seq, timestamp, ssrc, payload);
        PushResult::Resync
    }

    /// Flushes and anchors the playout clock on this packet, which plays after the delay.
    fn start(&mut self, seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) {
        self.flush();
        self.clock = Some(Clock {
            ssrc,
            play_ts: timestamp,
            prefill: self.delay_frames,
            started: false,
        });
        self.store(self.head, seq, timestamp, payload);
    }

    fn flush(&mut self) {
        for slot in &mut self.slots {
            slot.full = false;
        }
        self.buffered = 0;
        self.played = 0;
        self.late_run = 0;
    }

    fn store(&mut self, idx: usize, seq: u16, timestamp: u32, payload: &[u8]) {
        let slot = &mut self.slots[idx];
        slot.full = true;
        slot.seq = seq;
        slot.timestamp = timestamp;
        slot.len = payload.len();
        slot.data[..payload.len()].copy_from_slice(payload);
        self.buffered += 1;
        self.stats.received += 1;
        self.stats.max_depth = self.stats.max_depth.max(self.buffered);
    }
}

/// Fills `out` with a concealment frame for the `n_lost`-th consecutive lost frame (1 for the
/// first), from `prev`, the last frame decoded: `prev` repeated with a linear fade that reaches
/// silence after [`CONCEAL_FRAMES`] frames (60 ms at 20 ms frames), then silence.
///
/// Repeating the last frame hides a single loss well; fading keeps a longer loss from buzzing.
pub fn conceal(prev: &[i16], out: &mut [i16], n_lost: u32) {
    if prev.is_empty() || n_lost == 0 || n_lost > CONCEAL_FRAMES {
        out.fill(0);
        return;
    }
    let total = (CONCEAL_FRAMES as usize * out.len()).max(1) as i64;
    let done = (n_lost as usize - 1) * out.len();
    for (i, (o, &p)) in out.iter_mut().zip(prev.iter().cycle()).enumerate() {
        let remaining = total - (done + i) as i64;
        *o = (i64::from(p) * remaining / total) as i16;
    }
}
