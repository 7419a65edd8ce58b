//! DTMF on the media path: the vocabulary shared by the RFC 4733 receiver and sender ([`rfc4733`]), the
//! in-band tone detector ([`inband`]), and SIP INFO (parsed in chorus-sip, converted by the server), plus
//! the per-call stream that reports each key press exactly once whatever the peer sends ([`DtmfStream`]),
//! and the player of digits we send, as events or tones ([`send`]).

use std::time::{Duration, Instant};

pub mod inband;
pub mod rfc4733;
pub mod send;

/// How a digit reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DtmfSource {
    /// RTP telephone-event (RFC 4733).
    Rfc4733,
    /// SIP INFO (`application/dtmf-relay` or `application/dtmf`).
    Info,
    /// Tones in the audio (Goertzel detector).
    InBand,
}

/// One key press.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfEvent {
    /// `0`-`9`, `*`, `#`, `A`-`D`.
    pub digit: char,
    /// When the press began (our clock).
    pub start: Instant,
    /// How long it lasted (as reported by the sender, or measured).
    pub duration: Duration,
    /// Where it came from.
    pub source: DtmfSource,
}

/// The RFC 4733 event code of a digit (§3.2: 0-9 are 0-9, `*` 10, `#` 11, A-D 12-15).
pub fn digit_to_code(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// The digit of an RFC 4733 event code 0-15; other codes (flash, tones) are not digits.
pub fn code_to_digit(code: u8) -> Option<char> {
    match code {
        0..=9 => Some((b'0' + code) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + code - 12) as char),
        _ => None,
    }
}

/// How far apart the starts of one press may be as seen by two methods (an INFO crosses proxies and
/// is stamped on arrival; an RFC 4733 start is estimated back from its duration field).
pub const DEFAULT_DEDUPE_WINDOW: Duration = Duration::from_millis(400);
/// Presses remembered for matching; far more than can fall within one window.
const HISTORY: usize = 32;
/// Digits kept for the call log; a call that sends more keeps its first ones.
const MAX_DIGITS: usize = 1024;

/// A press already reported, and the methods that have delivered it so far.
#[derive(Clone, Copy, Debug)]
struct Press {
    digit: char,
    start: Instant,
    /// Bit per [`DtmfSource`] that delivered this press.
    sources: u8,
}

fn source_bit(s: DtmfSource) -> u8 {
    match s {
        DtmfSource::Rfc4733 => 1,
        DtmfSource::Info => 2,
        DtmfSource::InBand => 4,
    }
}

/// One call's key presses from every method, each press once.
///
/// A peer may signal one press both as RFC 4733 and as SIP INFO. Each detector already reports its
/// own presses once, so an event is a duplicate only when it comes from a method that has not yet
/// delivered a press of the same digit starting within the window; it is then matched to the nearest
/// such press. Two presses of the same digit by one method are therefore always two.
#[derive(Debug)]
pub struct DtmfStream {
    window: Duration,
    history: std::collections::VecDeque<Press>,
    digits: String,
}

impl Default for DtmfStream {
    fn default() -> DtmfStream {
        DtmfStream::new()
    }
}

impl DtmfStream {
    /// A stream with [`DEFAULT_DEDUPE_WINDOW`].
    pub fn new() -> DtmfStream {
        DtmfStream::with_window(DEFAULT_DEDUPE_WINDOW)
    }

    /// A stream that takes presses whose starts differ by at most `window` as one.
    pub fn with_window(window: Duration) -> DtmfStream {
        DtmfStream {
            window,
            history: std::collections::VecDeque::with_capacity(HISTORY),
            digits: String::new(),
        }
    }

    /// Offers an event from any method: returns it when it is a new press (deliver it to the
    /// application), `None` when another method already reported this press.
    #[must_use]
    pub fn push(&mut self, ev: DtmfEvent) -> Option<DtmfEvent> {
        let bit = source_bit(ev.source);
        let digit = ev.digit.to_ascii_uppercase();
        let apart = |p: &Press| {
            if p.start > ev.start {
                p.start - ev.start
            } else {
                ev.start - p.start
            }
        };
        let matched = self
            .history
            .iter_mut()
            .filter(|p| p.digit == digit && p.sources & bit == 0)
            .filter(|p| apart(p) <= self.window)
            .min_by_key(|p| apart(p));
        if let Some(p) = matched {
            p.sources |= bit;
            return None;
        }
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(Press {
            digit,
            start: ev.start,
            sources: bit,
        });
        if self.digits.len() < MAX_DIGITS {
            self.digits.push(digit);
        }
        Some(DtmfEvent { digit, ..ev })
    }

    /// Every digit reported so far, in order (the call log's `dtmf`).
    pub fn digits(&self) -> &str {
        &self.digits
    }
}
