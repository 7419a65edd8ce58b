//! Cutting a SIP byte stream (TCP, later TLS) into messages, sans-IO (RFC 3261 §18.3, RFC 5626 §3.5.1).
//!
//! A stream message ends `Content-Length` bytes after the empty line that closes its header section, so a
//! stream message without Content-Length is an error. CRLFs between messages are keepalives: a double CRLF
//! is an RFC 5626 ping, which the edge answers with a single CRLF (the pong); see
//! [`StreamFramer::take_ping`].
//!
//! ```
//! use chorus_sip::framing::StreamFramer;
//! let mut f = StreamFramer::new();
//! f.push(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\nhi");
//! let msg = f.next_message().unwrap().unwrap();
//! assert!(msg.ends_with(b"\r\n\r\nhi"));
//! assert!(f.take_ping()); // answer with b"\r\n"
//! assert_eq!(f.next_message().unwrap(), None);
//! ```

use bytes::{Buf, BytesMut};

pub use crate::error::FramingError;
use crate::message::MAX_MESSAGE_SIZE;

/// Longest header section accepted before its terminating empty line.
pub const MAX_HEADER_SIZE: usize = 64 * 1024;

/// Accumulates stream bytes and hands out whole messages.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    /// Bytes of `buf` already searched for the end of the header section, so a slow peer sending one byte
    /// at a time costs linear, not quadratic, time.
    scanned: usize,
    /// `(header end incl. the empty line, content length)` once the current header section is complete.
    pending: Option<(usize, usize)>,
    /// Line ends skipped since the last message: two in a row make a ping.
    blank_lines: u8,
    pings: usize,
    max_header: usize,
    max_message: usize,
    failed: Option<FramingError>,
}

impl Default for StreamFramer {
    fn default() -> Self {
        StreamFramer::new()
    }
}

impl StreamFramer {
    /// A framer with the default limits: 64 KiB of header section, [`MAX_MESSAGE_SIZE`] per message.
    pub fn new() -> StreamFramer {
        StreamFramer::with_limits(MAX_HEADER_SIZE, MAX_MESSAGE_SIZE)
    }

    /// A framer with explicit limits: the longest header section and the largest whole message.
    pub fn with_limits(max_header: usize, max_message: usize) -> StreamFramer {
        StreamFramer {
            buf: BytesMut::with_capacity(4096),
            scanned: 0,
            pending: None,
            blank_lines: 0,
            pings: 0,
            max_header,
            max_message,
            failed: None,
        }
    }

    /// Appends bytes read from the stream. Call [`StreamFramer::next_message`] until it returns `Ok(None)`.
    pub fn push(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(data);
        }
    }

    /// The next whole message, `Ok(None)` when more bytes are needed. After an error the stream cannot be
    /// resynchronised: every later call returns the same error and the connection should be closed.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.cut() {
            Err(e) => {
                self.failed = Some(e.clone());
                self.buf.clear();
                Err(e)
            }
            ok => ok,
        }
    }

    /// True once for every call after at least one RFC 5626 ping (CRLFCRLF between messages) was seen;
    /// the edge answers it with a single CRLF. Check it after draining [`StreamFramer::next_message`].
    pub fn take_ping(&mut self) -> bool {
        let seen = self.pings > 0;
        self.pings = 0;
        seen
    }

    /// Bytes held that are not yet part of a returned message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn cut(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        if self.pending.is_none() {
            self.skip_keepalives();
            if self.buf.is_empty() {
                return Ok(None);
            }
            let Some(head_end) = self.find_header_end() else {
                if self.buf.len() > self.max_header {
                    return Err(FramingError::HeaderTooLarge(self.max_header));
                }
                return Ok(None);
            };
            if head_end > self.max_header {
                return Err(FramingError::HeaderTooLarge(self.max_header));
            }
            let len =
                content_length(&self.buf[..head_end])?.ok_or(FramingError::MissingContentLength)?;
            let size = head_end.saturating_add(len);
            if size > self.max_message {
                return Err(FramingError::MessageTooLarge {
                    size,
                    limit: self.max_message,
                });
            }
            self.pending = Some((head_end, len));
        }
        let Some((head_end, len)) = self.pending else {
            return Ok(None);
        };
        let total = head_end + len;
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        self.pending = None;
        self.scanned = 0;
        self.blank_lines = 0;
        Ok(Some(self.buf.split_to(total).to_vec()))
    }

    /// Drops CR and LF before a start line, counting pings.
    fn skip_keepalives(&mut self) {
        let mut n = 0;
        for &b in self.buf.iter() {
            match b {
                b'\n' => {
                    self.blank_lines += 1;
                    if self.blank_lines == 2 {
                        self.pings += 1;
                        self.blank_lines = 0;
                    }
                }
                b'\r' => {}
                _ => break,
            }
            n += 1;
        }
        if n > 0 {
            self.buf.advance(n);
            self.scanned = 0;
        }
    }

    /// End of the header section including its empty line (CRLFCRLF, or LFLF from sloppy peers).
    fn find_header_end(&mut self) -> Option<usize> {
        // Resume three bytes back so a terminator split across pushes is found.
        let from = self.scanned.saturating_sub(3);
        let hay = &self.buf[from..];
        let mut i = 0;
        while i < hay.len() {
            if hay[i] == b'\n' {
                if hay.get(i + 1) == Some(&b'\n') {
                    return Some(from + i + 2);
                }
                if hay.get(i + 1) == Some(&b'\r') && hay.get(i + 2) == Some(&b'\n') {
                    return Some(from + i + 3);
                }
            }
            i += 1;
        }
        self.scanned = self.buf.len();
        None
    }
}

/// The Content-Length of a header section (long or compact `l` name, folded lines allowed); `None` when
/// absent. Two different values are an error: the framing would be ambiguous (a smuggling vector).
fn content_length(head: &[u8]) -> Result<Option<usize>, FramingError> {
    let mut found: Option<usize> = None;
    let mut lines = head.split(|&b| b == b'\n').peekable();
    lines.next(); // start line
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim(&line[..colon]);
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let mut value = trim(&line[colon + 1..]).to_vec();
        while let Some(next) = lines.peek() {
            if !next.starts_with(b" ") && !next.starts_with(b"\t") {
                break;
            }
            let cont = next.strip_suffix(b"\r").unwrap_or(next);
            value.extend_from_slice(trim(cont));
            lines.next();
        }
        if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
            return Err(FramingError::BadContentLength);
        }
        let n = value.iter().fold(0usize, |acc, &d| {
            acc.saturating_mul(10).saturating_add(usize::from(d - b'0'))
        });
        match found {
            Some(prev) if prev != n => return Err(FramingError::BadContentLength),
            _ => found = Some(n),
        }
    }
    Ok(found)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_forms() {
        let h = b"X y z\r\nl: 12\r\n\r\n";
        assert_eq!(content_length(h), Ok(Some(12)));
        let h = b"X y z\r\nContent-Length:\r\n  7\r\n\r\n";
        assert_eq!(content_length(h), Ok(Some(7)));
        let h = b"X y z\r\nContent-Length: 1\r\nl: 2\r\n\r\n";
        assert_eq!(content_length(h), Err(FramingError::BadContentLength));
        let h = b"X y z\r\nContent-Length: -1\r\n\r\n";
        assert_eq!(content_length(h), Err(FramingError::BadContentLength));
        assert_eq!(content_length(b"X y z\r\nTo: a\r\n\r\n"), Ok(None));
    }
}
