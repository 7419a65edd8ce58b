//! Errors of the SIP layer. Peer misbehaviour (a message we cannot accept) is kept apart from local faults.

/// A message that could not be parsed. When enough of a request was understood to answer it, the endpoint
/// answers 400 with [`ParseError::reason`] as the reason phrase; otherwise the datagram is dropped.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The message is larger than the configured limit (64 KiB by default).
    #[error("message too large")]
    TooLarge,
    /// The datagram or stream segment holds no message at all.
    #[error("empty message")]
    Empty,
    /// The header section is not terminated by an empty line.
    #[error("incomplete header section")]
    Incomplete,
    /// The first line is neither a request line nor a status line.
    #[error("bad start line")]
    BadStartLine,
    /// A header line has no colon or an invalid name.
    #[error("bad header line")]
    BadHeaderLine,
    /// More header lines than the configured limit.
    #[error("too many headers")]
    TooManyHeaders,
    /// The message is not valid UTF-8 in its start line or headers.
    #[error("invalid utf-8 in header section")]
    NotUtf8,
    /// Content-Length is not a number or larger than the data present.
    #[error("bad content-length")]
    BadContentLength,
    /// A URI could not be parsed.
    #[error("bad uri: {0}")]
    BadUri(&'static str),
    /// A mandatory header is missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header's value does not follow its grammar.
    #[error("bad {0} header")]
    BadHeader(&'static str),
}

impl ParseError {
    /// A reason phrase for a 400 response that names the fault.
    pub fn reason(&self) -> String {
        let text = self.to_string();
        let mut chars = text.chars();
        match chars.next() {
            Some(c) => format!("Bad Request ({}{})", c.to_ascii_uppercase(), chars.as_str()),
            None => "Bad Request".to_string(),
        }
    }
}

/// A TCP (stream) byte sequence that cannot be cut into messages (RFC 3261 §18.3). Every variant is peer
/// misbehaviour and ends the connection: after one, the framer's position in the stream is lost.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// More bytes than the header limit arrived without the empty line that ends a header section.
    #[error("header section longer than {0} bytes")]
    HeaderTooLarge(usize),
    /// Header section plus the announced body exceed the message limit.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    MessageTooLarge {
        /// Header section plus Content-Length.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A stream message must carry Content-Length (RFC 3261 §18.3, §20.14).
    #[error("stream message without content-length")]
    MissingContentLength,
    /// Content-Length is not a number, or two Content-Length headers disagree.
    #[error("bad content-length")]
    BadContentLength,
}
