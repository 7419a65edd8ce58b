//! RFC 4733 telephone-event receiver and sender, sans-IO (§2.3 payload, §2.5 sender and receiver rules).
//!
//! The [`Receiver`] turns the raw event payloads that [`crate::session::RtpSession`] surfaces into one
//! [`DtmfEvent`] per key press. Presses are keyed on (RTP timestamp, event code), never on the marker
//! bit, which some senders omit or repeat. A press is reported once, at its first end packet, or when
//! its packets stop for [`Receiver::end_timeout`] (a lost end); the end retransmissions and any late
//! packet of a reported press are ignored. A long press split into segments (§2.5.1.3) is merged back
//! into one, and a 16-bit duration field that wraps instead is unwrapped.
//!
//! The [`Sender`] produces the payloads of digits we play: a first packet with the marker bit, a
//! continuation every 50 ms (or every frame, [`Sender::with_update_interval`]), and three end packets
//! carrying the final duration (§2.5.1.2, §2.5.1.4). It never builds RTP headers: the stream puts each
//! [`EventPacket`] into a packet with the audio's SSRC and sequence numbers, and sends no audio while
//! [`Sender::is_active`]. [`crate::dtmf::send::DigitPlayer`] drives it from a call's frame clock.
//!
//! ```
//! # use chorus_rtp::dtmf::rfc4733::{Receiver, Sender};
//! # use std::time::{Duration, Instant};
//! let t0 = Instant::now();
//! let mut tx = Sender::new(8000, 101);
//! let mut rx = Receiver::new(8000);
//! tx.start(t0, '5', Duration::from_millis(100), 10).unwrap();
//! let mut now = t0;
//! while let Some(deadline) = tx.poll_timeout() {
//!     now = now.max(deadline);
//!     while let Some(p) = tx.poll_packet(now, 1234) {
//!         rx.handle_packet(now, p.timestamp, p.marker, &p.payload);
//!     }
//! }
//! let ev = rx.poll_event().unwrap();
//! assert_eq!((ev.digit, ev.duration), ('5', Duration::from_millis(100)));
//! assert!(rx.poll_event().is_none());
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{code_to_digit, digit_to_code, DtmfEvent, DtmfSource};

/// How long a press may go without packets before it is ended without an end packet. Senders repeat
/// a continuation at least every 50 ms (§2.5.1.2), so this allows three lost packets plus jitter.
pub const DEFAULT_END_TIMEOUT: Duration = Duration::from_millis(200);
/// Keys of reported presses remembered, so their end retransmissions and late packets are ignored.
const FINISHED_KEYS: usize = 16;
/// Presses followed at once; more only appear when a peer misbehaves, and the oldest is then ended.
const MAX_ACTIVE: usize = 4;
/// Events kept for a caller that does not poll; the oldest is dropped beyond this.
const MAX_READY: usize = 64;
/// A new event with a timestamp this far (in seconds of the clock) behind the last reported press is a
/// stale packet; anything further behind is taken as a restarted stream.
const STALE_WINDOW_SECS: i64 = 10;
/// Largest value of the 16-bit duration field; a long event's segments are this long (§2.5.1.3).
const MAX_FIELD: u32 = 0xFFFF;

/// One 4-byte telephone-event block (§2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventBlock {
    /// Event code (0-15 are the DTMF digits, §3.2).
    pub code: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0, 0-63 (ignored on receive).
    pub volume: u8,
    /// Duration so far, in units of the RTP clock.
    pub duration: u16,
}

impl EventBlock {
    /// Parses the first block of a telephone-event payload; `None` when shorter than 4 bytes.
    ///
    /// Further blocks (RFC 2833-style stacking of events) are ignored: the first block is the event
    /// the packet's timestamp refers to.
    pub fn parse(payload: &[u8]) -> Option<EventBlock> {
        let b = payload.get(..4)?;
        Some(EventBlock {
            code: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The block on the wire (R bit zero, volume masked to 6 bits).
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.code,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// A press whose end has not been seen yet.
#[derive(Debug)]
struct Active {
    code: u8,
    /// RTP timestamp of the current segment.
    ts: u32,
    /// RTP timestamp of the first segment: the press's place in the stream, for ordering.
    first_ts: u32,
    /// Clock units of the earlier segments of the same press.
    prior: u64,
    /// Times the duration field wrapped in this segment (senders that do not segment).
    epoch: u64,
    /// Highest duration field seen in the current epoch.
    last_field: u16,
    /// Longest unwrapped duration seen in this segment.
    max_ext: u64,
    /// When the press began on our clock (arrival of the first packet seen, minus its duration).
    start: Instant,
    /// Arrival of the last packet, for the end timeout.
    last_packet: Instant,
}

impl Active {
    /// Unwraps a duration field against what this segment has seen so far.
    fn extend(&mut self, field: u16) -> u64 {
        const HALF: u16 = 0x8000;
        if field < self.last_field && self.last_field - field > HALF {
            // Wrapped forward: a sender that lets the field roll over instead of segmenting.
            self.epoch += 1;
            self.last_field = field;
        } else if field > self.last_field && field - self.last_field > HALF && self.epoch > 0 {
            // A late packet from before the wrap.
            return (self.epoch - 1) * 0x1_0000 + u64::from(field);
        } else if field > self.last_field {
            self.last_field = field;
        }
        self.epoch * 0x1_0000 + u64::from(field)
    }

    fn update(&mut self, now: Instant, field: u16) {
        let ext = self.extend(field);
        self.max_ext = self.max_ext.max(ext);
        self.last_packet = now;
    }
}

/// An ended press waiting for older presses to end, so digits come out in stream order.
#[derive(Debug)]
struct Done {
    first_ts: u32,
    event: DtmfEvent,
}

/// `a` is before `b` in RTP timestamp order (serial arithmetic, RFC 3550 §5.1 wrap-around).
fn ts_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// Receives RFC 4733 telephone-events and reports each key press once, with its duration.
///
/// Feed it every telephone-event payload with [`Receiver::handle_packet`], call
/// [`Receiver::handle_timeout`] at [`Receiver::poll_timeout`], and drain [`Receiver::poll_event`] after
/// each of those calls.
#[derive(Debug)]
pub struct Receiver {
    clock_rate: u32,
    end_timeout: Duration,
    active: Vec<Active>,
    finished: VecDeque<(u32, u8)>,
    done: Vec<Done>,
    ready: VecDeque<DtmfEvent>,
    last_reported_ts: Option<u32>,
}

impl Receiver {
    /// A receiver for telephone-event negotiated at `clock_rate` Hz: the audio codec's RTP clock
    /// (§2.1), so 8000 beside G.711 and 16000 beside wideband codecs such as G.722.
    pub fn new(clock_rate: u32) -> Receiver {
        Receiver {
            clock_rate: clock_rate.max(1),
            end_timeout: DEFAULT_END_TIMEOUT,
            active: Vec::with_capacity(MAX_ACTIVE),
            finished: VecDeque::with_capacity(FINISHED_KEYS),
            done: Vec::with_capacity(MAX_ACTIVE),
            ready: VecDeque::new(),
            last_reported_ts: None,
        }
    }

    /// The same receiver with another end timeout (how long a press may go silent before it is ended).
    pub fn with_end_timeout(mut self, timeout: Duration) -> Receiver {
        self.end_timeout = timeout;
        self
    }

    /// The end timeout in use.
    pub fn end_timeout(&self) -> Duration {
        self.end_timeout
    }

    /// The RTP clock rate of the events.
    pub fn clock_rate(&self) -> u32 {
        self.clock_rate
    }

    /// Handles one telephone-event payload that arrived at `now` in an RTP packet with `timestamp`
    /// and `marker`.
    ///
    /// Payloads shorter than 4 bytes and events that are not digits (codes above 15) are ignored.
    /// The marker bit is not used: presses are told apart by timestamp, since senders differ in how
    /// they set it.
    pub fn handle_packet(&mut self, now: Instant, timestamp: u32, marker: bool, payload: &[u8]) {
        let _ = marker;
        self.expire(now);
        let Some(block) = EventBlock::parse(payload) else {
            return;
        };
        if code_to_digit(block.code).is_none() {
            return;
        }
        let code = block.code;
        if self.finished.contains(&(timestamp, code)) {
            return;
        }
        if let Some(i) = self
            .active
            .iter()
            .position(|a| a.ts == timestamp && a.code == code)
        {
            self.active[i].update(now, block.duration);
            if block.end {
                self.finish_with_older(i);
            }
            self.release();
            return;
        }
        if self.is_stale(timestamp) {
            return;
        }
        // §2.5.1.3: a long press continues as a new segment whose timestamp is one full duration
        // field later. Allow 100 ms of slack for senders that step the duration coarsely.
        let slack = self.clock_rate / 10;
        if let Some(i) = self.active.iter().position(|a| {
            let delta = timestamp.wrapping_sub(a.ts);
            a.code == code
                && delta >= MAX_FIELD - slack.min(MAX_FIELD)
                && delta <= MAX_FIELD + slack
        }) {
            let a = &mut self.active[i];
            let old_key = (a.ts, a.code);
            a.prior += u64::from(timestamp.wrapping_sub(a.ts));
            a.ts = timestamp;
            a.epoch = 0;
            a.last_field = 0;
            a.max_ext = 0;
            a.update(now, block.duration);
            self.remember(old_key);
            if block.end {
                self.finish_with_older(i);
            }
            self.release();
            return;
        }
        if self.active.len() >= MAX_ACTIVE {
            if let Some(oldest) = self.oldest_active() {
                self.finish(oldest);
            }
        }
        let mut a = Active {
            code,
            ts: timestamp,
            first_ts: timestamp,
            prior: 0,
            epoch: 0,
            last_field: 0,
            max_ext: 0,
            start: now,
            last_packet: now,
        };
        a.update(now, block.duration);
        // The first packet seen may be a continuation or the end (lost start): the press began
        // `duration` before it.
        a.start = now.checked_sub(self.to_duration(a.max_ext)).unwrap_or(now);
        self.active.push(a);
        if block.end {
            self.finish_with_older(self.active.len() - 1);
        }
        self.release();
    }

    /// The next reported key press, in stream order. Call after every `handle_*` until `None`.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.ready.pop_front()
    }

    /// When [`Receiver::handle_timeout`] must next be called: the end timeout of the press that went
    /// silent first. `None` while no press is open.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.active
            .iter()
            .map(|a| a.last_packet + self.end_timeout)
            .min()
    }

    /// Ends the presses whose packets stopped for the end timeout (their end packets were lost).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    /// Forgets every press in progress and every remembered key (the peer restarted its stream with
    /// a new SSRC, so timestamps start over). Events already reported stay queued.
    pub fn reset(&mut self) {
        self.active.clear();
        self.finished.clear();
        for d in self.done.drain(..) {
            self.ready.push_back(d.event);
        }
        self.last_reported_ts = None;
    }

    fn expire(&mut self, now: Instant) {
        while let Some(i) = self
            .active
            .iter()
            .position(|a| a.last_packet + self.end_timeout <= now)
        {
            self.finish(i);
        }
        self.release();
    }

    /// A new event older than the last reported press: reporting it now would break digit order,
    /// and it is most likely a duplicate whose key was already forgotten.
    fn is_stale(&self, timestamp: u32) -> bool {
        let Some(last) = self.last_reported_ts else {
            return false;
        };
        let d = i64::from(timestamp.wrapping_sub(last) as i32);
        d < 0 && d > -(STALE_WINDOW_SECS * i64::from(self.clock_rate))
    }

    fn oldest_active(&self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, a) in self.active.iter().enumerate() {
            match best {
                Some(b) if !ts_before(a.first_ts, self.active[b].first_ts) => {}
                _ => best = Some(i),
            }
        }
        best
    }

    fn remember(&mut self, key: (u32, u8)) {
        if self.finished.len() >= FINISHED_KEYS {
            self.finished.pop_front();
        }
        self.finished.push_back(key);
    }

    /// Ends press `i` on its end packet, and every older press still open: a sender plays one event
    /// at a time, so those ended before this one and only their end packets were lost.
    fn finish_with_older(&mut self, i: usize) {
        let ts = self.active[i].first_ts;
        self.finish(i);
        while let Some(j) = self.active.iter().position(|a| ts_before(a.first_ts, ts)) {
            self.finish(j);
        }
    }

    fn finish(&mut self, i: usize) {
        let a = self.active.swap_remove(i);
        self.remember((a.ts, a.code));
        // code_to_digit succeeded when the press was opened; '?' is unreachable.
        let digit = code_to_digit(a.code).unwrap_or('?');
        self.done.push(Done {
            first_ts: a.first_ts,
            event: DtmfEvent {
                digit,
                start: a.start,
                duration: self.to_duration(a.prior + a.max_ext),
                source: DtmfSource::Rfc4733,
            },
        });
    }

    /// Moves ended presses to the output once no older press is still open.
    fn release(&mut self) {
        loop {
            let mut oldest: Option<usize> = None;
            for (i, d) in self.done.iter().enumerate() {
                match oldest {
                    Some(o) if !ts_before(d.first_ts, self.done[o].first_ts) => {}
                    _ => oldest = Some(i),
                }
            }
            let Some(o) = oldest else { return };
            let ts = self.done[o].first_ts;
            if self.active.iter().any(|a| ts_before(a.first_ts, ts)) {
                return;
            }
            let d = self.done.swap_remove(o);
            if self.ready.len() >= MAX_READY {
                self.ready.pop_front();
            }
            self.ready.push_back(d.event);
            self.last_reported_ts = Some(match self.last_reported_ts {
                Some(last) if ts_before(ts, last) => last,
                _ => ts,
            });
        }
    }

    fn to_duration(&self, units: u64) -> Duration {
        let nanos = u128::from(units) * 1_000_000_000 / u128::from(self.clock_rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Why a digit could not be queued for sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The character is not a DTMF digit (`0`-`9`, `*`, `#`, `A`-`D`).
    #[error("not a dtmf digit: {0:?}")]
    NotADigit(char),
    /// The duration does not fit the 16-bit duration field at this clock rate.
    #[error("dtmf duration {0:?} too long for one event")]
    TooLong(Duration),
    /// The volume is outside 0-63 (-dBm0).
    #[error("dtmf volume {0} outside 0-63")]
    Volume(u8),
    /// Too many digits are already waiting.
    #[error("dtmf send queue full")]
    QueueFull,
    /// The pause asked for after a digit is longer than a player accepts.
    #[error("dtmf gap {0:?} too long")]
    GapTooLong(Duration),
}

/// One telephone-event packet to send, without its RTP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventPacket {
    /// The negotiated telephone-event payload type.
    pub payload_type: u8,
    /// RTP marker bit: set on the first packet of an event only.
    pub marker: bool,
    /// RTP timestamp: the media timestamp at the event's start, the same in all its packets.
    pub timestamp: u32,
    /// The event block.
    pub payload: [u8; 4],
    /// This is one of the three end packets.
    pub end: bool,
}

/// Default interval between continuation packets (§2.5.1.2 suggests 50 ms).
pub const CONTINUATION_INTERVAL: Duration = Duration::from_millis(50);
/// Default spacing of the three end packets, so that one burst of loss does not take all of them.
pub const END_INTERVAL: Duration = Duration::from_millis(20);
/// Default pause after an event's last end packet before the next queued digit starts.
pub const INTER_DIGIT_GAP: Duration = Duration::from_millis(50);
/// Number of end packets per event (§2.5.1.4).
const END_PACKETS: u32 = 3;
/// Digits that may wait to be sent.
const MAX_QUEUE: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Queued {
    code: u8,
    duration: Duration,
    volume: u8,
}

#[derive(Clone, Copy, Debug)]
struct Playing {
    ev: Queued,
    started: Instant,
    timestamp: u32,
    /// Continuation packets already sent (the first packet counts as number 0).
    next_continuation: u32,
    ends_sent: u32,
}

/// Plays digits as RFC 4733 telephone-events, sans-IO.
///
/// Queue digits with [`Sender::start`]; call [`Sender::poll_packet`] at [`Sender::poll_timeout`] (and
/// on every media tick) until it returns `None`, and send each packet. Packet durations follow the
/// queued durations and a fixed schedule from the event's start, not the times the caller polls at.
#[derive(Debug)]
pub struct Sender {
    clock_rate: u32,
    payload_type: u8,
    queue: VecDeque<Queued>,
    playing: Option<Playing>,
    /// Earliest start of the next queued digit: when it was queued, or the gap after the previous one.
    next_start: Option<Instant>,
    /// Between continuation packets.
    update_interval: Duration,
    /// Between the end packets.
    end_interval: Duration,
    /// After the last end packet, before the next digit.
    gap: Duration,
}

impl Sender {
    /// A sender for telephone-event at `clock_rate` Hz with payload type `payload_type`.
    pub fn new(clock_rate: u32, payload_type: u8) -> Sender {
        Sender {
            clock_rate: clock_rate.max(1),
            payload_type,
            queue: VecDeque::new(),
            playing: None,
            next_start: None,
            update_interval: CONTINUATION_INTERVAL,
            end_interval: END_INTERVAL,
            gap: INTER_DIGIT_GAP,
        }
    }

    /// The same sender sending a continuation every `interval` and its end packets `interval` apart
    /// (§2.5.1: at the interval used for updates). A stream that sends events in place of its audio
    /// uses its packetization time, so that one packet goes out per frame. Zero is taken as 1 ms.
    pub fn with_update_interval(mut self, interval: Duration) -> Sender {
        let interval = interval.max(Duration::from_millis(1));
        self.update_interval = interval;
        self.end_interval = interval;
        self
    }

    /// The same sender waiting `gap` after an event's last end packet before it starts the next queued
    /// digit ([`INTER_DIGIT_GAP`] by default). Zero lets a caller that schedules digits itself start
    /// one on the frame of the previous one's last end packet.
    pub fn with_gap(mut self, gap: Duration) -> Sender {
        self.gap = gap;
        self
    }

    /// Queues `digit` at `now`, to be played for `duration` at `volume` (-dBm0, 0-63; 10 is usual)
    /// after the digits already queued.
    pub fn start(
        &mut self,
        now: Instant,
        digit: char,
        duration: Duration,
        volume: u8,
    ) -> Result<(), SendError> {
        let code = digit_to_code(digit).ok_or(SendError::NotADigit(digit))?;
        if volume > 63 {
            return Err(SendError::Volume(volume));
        }
        if self.units(duration) > u64::from(MAX_FIELD) {
            return Err(SendError::TooLong(duration));
        }
        if self.queue.len() >= MAX_QUEUE {
            return Err(SendError::QueueFull);
        }
        if self.playing.is_none() && self.queue.is_empty() {
            self.next_start = Some(self.next_start.map_or(now, |t| t.max(now)));
        }
        self.queue.push_back(Queued {
            code,
            duration,
            volume,
        });
        Ok(())
    }

    /// Drops the queued digits and the event being played, without its end packets (for a stream
    /// that stops).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.playing = None;
        self.next_start = None;
    }

    /// An event is being played: the stream sends no audio meanwhile (§2.5.1.1).
    pub fn is_active(&self) -> bool {
        self.playing.is_some()
    }

    /// Digits queued or playing.
    pub fn pending(&self) -> usize {
        self.queue.len() + usize::from(self.playing.is_some())
    }

    /// The packet due at `now`, if any; `media_timestamp` is the RTP timestamp the audio would carry
    /// at `now`, and becomes the event's timestamp when an event starts. Call until `None`.
    ///
    /// A caller that polls late gets the latest continuation due, not every one it missed.
    #[must_use]
    pub fn poll_packet(&mut self, now: Instant, media_timestamp: u32) -> Option<EventPacket> {
        let Some(mut p) = self.playing else {
            if self.next_start.is_some_and(|t| now < t) {
                return None;
            }
            let ev = self.queue.pop_front()?;
            let p = Playing {
                ev,
                started: now,
                timestamp: media_timestamp,
                next_continuation: 1,
                ends_sent: 0,
            };
            self.playing = Some(p);
            return Some(self.make(&p, true, 0, false));
        };
        let end_at = p.started + p.ev.duration;
        if now >= end_at {
            let due = end_at + self.end_interval * p.ends_sent;
            if now < due {
                return None;
            }
            p.ends_sent += 1;
            if p.ends_sent >= END_PACKETS {
                self.playing = None;
                self.next_start = Some(due + self.gap);
            } else {
                self.playing = Some(p);
            }
            return Some(self.make(&p, false, self.units(p.ev.duration), true));
        }
        let elapsed = now.saturating_duration_since(p.started);
        let k = u32::try_from(elapsed.as_nanos() / self.update_interval.as_nanos()).ok()?;
        if k < p.next_continuation {
            return None;
        }
        p.next_continuation = k + 1;
        self.playing = Some(p);
        Some(self.make(&p, false, self.units(self.update_interval * k), false))
    }

    /// When [`Sender::poll_packet`] next has something to send; `None` when idle with nothing queued.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.playing {
            Some(p) => {
                let end_at = p.started + p.ev.duration;
                let next = p.started + self.update_interval * p.next_continuation;
                if next < end_at {
                    Some(next)
                } else {
                    Some(end_at + self.end_interval * p.ends_sent)
                }
            }
            None if self.queue.is_empty() => None,
            None => self.next_start,
        }
    }

    fn make(&self, p: &Playing, marker: bool, units: u64, end: bool) -> EventPacket {
        EventPacket {
            payload_type: self.payload_type,
            marker,
            timestamp: p.timestamp,
            payload: EventBlock {
                code: p.ev.code,
                end,
                volume: p.ev.volume,
                // start() refused durations beyond the field.
                duration: u16::try_from(units).unwrap_or(u16::MAX),
            }
            .to_bytes(),
            end,
        }
    }

    fn units(&self, d: Duration) -> u64 {
        let u = d.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000;
        u64::try_from(u).unwrap_or(u64::MAX)
    }
}
