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
