//! DTMF carried in SIP INFO bodies: `application/dtmf-relay` (`Signal=5` / `Duration=160` lines, the
//! de-facto Cisco format) and `application/dtmf` (the digit alone).
//!
//! This crate knows nothing of media: [`parse`] returns an [`InfoDigit`], and the server turns it into
//! the media path's DTMF event, stamped with the INFO's arrival time.

use std::time::Duration;

/// A key press reported in one INFO body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InfoDigit {
    /// `0`-`9`, `*`, `#`, `A`-`D` (letters upper case).
    pub digit: char,
    /// The `Duration=` in milliseconds, when the body gives one.
    pub duration: Option<Duration>,
}

/// Longest body considered; real ones are a few dozen bytes.
const MAX_BODY: usize = 1024;

/// Parses an INFO body given its `Content-Type` header value (parameters allowed); `None` for other
/// content types and for bodies without a valid digit. Never panics on any input.
pub fn parse(content_type: &str, body: &[u8]) -> Option<InfoDigit> {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if body.len() > MAX_BODY {
        return None;
    }
    let body = std::str::from_utf8(body).ok()?;
    if mime.eq_ignore_ascii_case("application/dtmf-relay") {
        parse_relay(body)
    } else if mime.eq_ignore_ascii_case("application/dtmf") {
        let digit = signal(body.trim())?;
        Some(InfoDigit {
            digit,
            duration: None,
        })
    } else {
        None
    }
}

fn parse_relay(body: &str) -> Option<InfoDigit> {
    let mut digit = None;
    let mut duration = None;
    for line in body.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        if key.eq_ignore_ascii_case("signal") {
            if digit.is_none() {
                digit = Some(signal(value)?);
            }
        } else if key.eq_ignore_ascii_case("duration") {
            duration = value.parse::<u64>().ok().map(Duration::from_millis);
        }
    }
    Some(InfoDigit {
        digit: digit?,
        duration,
    })
}

/// A digit written as itself, or as its RFC 4733 event code (some phones send `10` for `*`, `11`
/// for `#`).
fn signal(value: &str) -> Option<char> {
    let mut chars = value.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return match c.to_ascii_uppercase() {
            c @ ('0'..='9' | '*' | '#' | 'A'..='D') => Some(c),
            _ => None,
        };
    }
    match value.parse::<u8>().ok()? {
        c @ 0..=9 => Some((b'0' + c) as char),
        10 => Some('*'),
        11 => Some('#'),
        c @ 12..=15 => Some((b'A' + c - 12) as char),
        _ => None,
    }
}
