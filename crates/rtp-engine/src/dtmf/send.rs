//! Digits we send, sans-IO: RFC 4733 telephone-events when the peer negotiated them (§2.5.1: events
//! replace the audio, in the same SSRC and sequence space), in-band tone pairs (ITU-T Q.23) otherwise.
//!
//! [`DigitPlayer`] is a tap on a call's outgoing frame path, driven by the 20 ms media clock. For every
//! frame the stream is about to send it calls [`DigitPlayer::on_frame`] with the time that frame is due
//! on the media clock and the RTP timestamp the frame would carry, sends the frame's audio unless told
//! [`FrameAction::Withhold`], and sends the packets [`DigitPlayer::poll_packet`] gives. It never reads a
//! clock: the same frames in give the same packets out.
//!
//! ```
//! # use chorus_rtp::dtmf::send::{DigitPlayer, FrameAction};
//! # use std::time::{Duration, Instant};
//! let ms = Duration::from_millis;
//! let mut player = DigitPlayer::events(8000, 101, ms(20));
//! player.queue('5', ms(100), ms(100)).unwrap();
//! let t0 = Instant::now();
//! let mut frame = [0i16; 160];
//! let mut packets = Vec::new();
//! for n in 0..10u32 {
//!     let action = player.on_frame(t0 + ms(20) * n, 1000 + 160 * n, &mut frame);
//!     // Frames 0-7 carry the event (the last three are its end packets), 8-9 are the gap's audio.
//!     assert_eq!(action == FrameAction::Withhold, n < 8);
//!     packets.extend(std::iter::from_fn(|| player.poll_packet()));
//! }
//! assert_eq!(packets.len(), 8);
//! assert!(packets.iter().all(|p| p.timestamp == 1000));
//! assert!(!player.is_busy());
//! ```
//!
//! # Timing
//! Each digit sounds for its duration, then its gap follows; the next digit starts on the first frame
//! at or after the previous one's start + duration + gap.
//! - **Events**: the first packet carries the marker bit and the timestamp of the frame it replaces;
//!   an update with the duration so far goes out every frame (the packetization time), all with that
//!   same timestamp; at the end, three packets with the E bit and the final duration, one frame apart
//!   (§2.5.1). Audio is withheld from the event's first packet to its last end packet, while
//!   the stream's timestamp clock keeps running, so audio resumes where it would have been. A gap of
//!   at least two frames keeps the next event clear of the end packets; a shorter one delays it.
//! - **Tones**: the frame's samples are replaced by the key's row and column tones, each at
//!   [`TONE_LEVEL_DBM0`], for exactly the duration's samples, then by silence for the gap's samples;
//!   the next digit follows at once, mid-frame if need be.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::inband::{dbm0_amplitude, tone_pair};
use super::rfc4733::{EventPacket, SendError, Sender};

/// Level of each of the two tones of an in-band digit, in dBm0: a usual sending level, well above what
/// receivers need (Q.24: about -25 dBm0), and the pair's peaks stay 4 dB below full scale.
pub const TONE_LEVEL_DBM0: f32 = -7.0;
/// Volume written in the event blocks, in -dBm0 (§2.3: the level a tone generator would play).
pub const EVENT_VOLUME: u8 = 7;
/// Longest digit accepted: it fits the 16-bit duration field at every clock up to 65.5 kHz.
pub const MAX_DURATION: Duration = Duration::from_secs(1);
/// Longest gap accepted after a digit.
pub const MAX_GAP: Duration = Duration::from_secs(60);
/// Digits that may wait to be played.
pub const MAX_QUEUE: usize = 64;

/// What to do with the audio of the frame passed to [`DigitPlayer::on_frame`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameAction {
    /// Send the frame as audio (possibly rewritten with tones).
    Send,
    /// Send no audio for this frame (an event takes its place); the timestamp clock still advances.
    Withhold,
}

/// A digit waiting to be played.
#[derive(Clone, Copy, Debug)]
struct Digit {
    key: char,
    duration: Duration,
    gap: Duration,
}

/// The in-band digit being written: its two tones and how far into its samples we are.
#[derive(Clone, Copy, Debug)]
struct ToneDigit {
    /// Angular step per sample of the row and column tones (f64: a second of phase stays exact).
    w: (f64, f64),
    /// Sample index within the digit.
    n: u64,
    /// Samples of tone, then the end of the gap.
    on: u64,
    total: u64,
}

#[derive(Debug)]
enum Mode {
    Events {
        sender: Sender,
        frame: Duration,
        /// Earliest start of the next digit: the previous one's start + duration + gap.
        next_start: Option<Instant>,
        /// When the frame last passed to `on_frame` was due.
        last_frame: Option<Instant>,
        /// Packets of the current frame not yet polled (at most an end and a start).
        out: VecDeque<EventPacket>,
    },
    Tones {
        rate: u32,
        amplitude: f64,
        current: Option<ToneDigit>,
    },
}

/// Plays digits into a call's outgoing frames (see the [module docs](self)).
#[derive(Debug)]
pub struct DigitPlayer {
    mode: Mode,
    queue: VecDeque<Digit>,
}

impl DigitPlayer {
    /// A player sending RFC 4733 events with `payload_type` at `clock_rate` (the audio codec's RTP
    /// clock, §2.1) on a media clock of one frame every `ptime`.
    pub fn events(clock_rate: u32, payload_type: u8, ptime: Duration) -> DigitPlayer {
        let ptime = ptime.max(Duration::from_millis(1));
        DigitPlayer {
            mode: Mode::Events {
                sender: Sender::new(clock_rate, payload_type)
                    .with_update_interval(ptime)
                    .with_gap(Duration::ZERO),
                frame: ptime,
                next_start: None,
                last_frame: None,
                out: VecDeque::with_capacity(4),
            },
            queue: VecDeque::with_capacity(MAX_QUEUE),
        }
    }

    /// A player writing tone pairs into audio at `sample_rate` Hz.
    pub fn tones(sample_rate: u32) -> DigitPlayer {
        DigitPlayer {
            mode: Mode::Tones {
                rate: sample_rate.max(1),
                amplitude: f64::from(dbm0_amplitude(TONE_LEVEL_DBM0)) * f64::from(i16::MAX),
                current: None,
            },
            queue: VecDeque::with_capacity(MAX_QUEUE),
        }
    }

    /// Whether this player sends events (else tones).
    pub fn sends_events(&self) -> bool {
        matches!(self.mode, Mode::Events { .. })
    }

    /// Queues `digit` (`0`-`9`, `*`, `#`, `A`-`D`) to sound for `duration` (at most [`MAX_DURATION`])
    /// and be followed by `gap` (at most [`MAX_GAP`]), after the digits already queued.
    pub fn queue(
        &mut self,
        digit: char,
        duration: Duration,
        gap: Duration,
    ) -> Result<(), SendError> {
        let key = digit.to_ascii_uppercase();
        if tone_pair(key).is_none() {
            return Err(SendError::NotADigit(digit));
        }
        if duration.is_zero() || duration > MAX_DURATION {
            return Err(SendError::TooLong(duration));
        }
        if gap > MAX_GAP {
            return Err(SendError::GapTooLong(gap));
        }
        if self.queue.len() >= MAX_QUEUE {
            return Err(SendError::QueueFull);
        }
        self.queue.push_back(Digit { key, duration, gap });
        Ok(())
    }

    /// Digits queued, not yet started.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether frames after the last one passed to [`DigitPlayer::on_frame`] still belong to a digit:
    /// digits are queued, one is sounding, or its gap has not run out. Keep sending frames until false.
    pub fn is_busy(&self) -> bool {
        if !self.queue.is_empty() {
            return true;
        }
        match &self.mode {
            Mode::Events {
                sender,
                frame,
                next_start,
                last_frame,
                out,
            } => {
                sender.pending() > 0
                    || !out.is_empty()
                    || match (next_start, last_frame) {
                        (Some(end), Some(last)) => *end > *last + *frame,
                        _ => false,
                    }
            }
            Mode::Tones { current, .. } => current.is_some(),
        }
    }

    /// Drops every queued digit and stops the one playing (no end packets: for a stream that is going
    /// away).
    pub fn clear(&mut self) {
        self.queue.clear();
        match &mut self.mode {
            Mode::Events {
                sender,
                next_start,
                out,
                ..
            } => {
                sender.clear();
                *next_start = None;
                out.clear();
            }
            Mode::Tones { current, .. } => *current = None,
        }
    }

    /// Handles one outgoing frame, due at `now` on the media clock, whose audio would carry RTP
    /// `timestamp`. Call for every frame, sent or not, in order. Tones: rewrites `frame` where a digit
    /// or its gap falls. Events: leaves `frame` alone and says whether to withhold it; then call
    /// [`DigitPlayer::poll_packet`] until `None`.
    pub fn on_frame(&mut self, now: Instant, timestamp: u32, frame: &mut [i16]) -> FrameAction {
        match &mut self.mode {
            Mode::Events {
                sender,
                next_start,
                last_frame,
                out,
                ..
            } => {
                *last_frame = Some(now);
                out.clear();
                // An ending event's last packet goes out before the next event's first.
                while let Some(p) = sender.poll_packet(now, timestamp) {
                    out.push_back(p);
                }
                let due = next_start.is_none_or(|t| now >= t);
                if sender.pending() == 0 && due {
                    if let Some(d) = self.queue.pop_front() {
                        // queue() checked the key; only a clock above 65.5 kHz, where MAX_DURATION
                        // overflows the duration field, refuses it, and then the digit is skipped.
                        if sender.start(now, d.key, d.duration, EVENT_VOLUME).is_ok() {
                            *next_start = now.checked_add(d.duration + d.gap);
                        }
                        while let Some(p) = sender.poll_packet(now, timestamp) {
                            out.push_back(p);
                        }
                    }
                }
                if sender.is_active() || !out.is_empty() {
                    FrameAction::Withhold
                } else {
                    FrameAction::Send
                }
            }
            Mode::Tones {
                rate,
                amplitude,
                current,
            } => {
                let mut i = 0;
                while i < frame.len() {
                    let cur = match current {
                        Some(c) => c,
                        None => {
                            let Some(d) = self.queue.pop_front() else {
                                break;
                            };
                            current.insert(start_tone(*rate, d))
                        }
                    };
                    let take = (frame.len() - i)
                        .min(usize::try_from(cur.total - cur.n).unwrap_or(usize::MAX));
                    for s in &mut frame[i..i + take] {
                        *s = if cur.n < cur.on {
                            let n = cur.n as f64;
                            let v = *amplitude * ((cur.w.0 * n).sin() + (cur.w.1 * n).sin());
                            v as i16
                        } else {
                            0
                        };
                        cur.n += 1;
                    }
                    i += take;
                    if cur.n >= cur.total {
                        *current = None;
                    }
                }
                FrameAction::Send
            }
        }
    }

    /// The next event packet of the frame last passed to [`DigitPlayer::on_frame`]; call until
    /// `None`. Always `None` for tones.
    pub fn poll_packet(&mut self) -> Option<EventPacket> {
        match &mut self.mode {
            Mode::Events { out, .. } => out.pop_front(),
            Mode::Tones { .. } => None,
        }
    }
}

fn start_tone(rate: u32, d: Digit) -> ToneDigit {
    // queue() accepted only keys with a pair.
    let (lo, hi) = tone_pair(d.key).unwrap_or((0.0, 0.0));
    let samples = |t: Duration| (t.as_nanos() * u128::from(rate) / 1_000_000_000) as u64;
    let step = |f: f32| 2.0 * std::f64::consts::PI * f64::from(f) / f64::from(rate);
    let on = samples(d.duration).max(1);
    ToneDigit {
        w: (step(lo), step(hi)),
        n: 0,
        on,
        total: on + samples(d.gap),
    }
}
