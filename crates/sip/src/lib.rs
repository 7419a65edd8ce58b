//! chorus-sip: the endpoint user agent of Chorus.
//!
//! Everything here is sans-IO except [`transport`]: the [`endpoint::Endpoint`] takes datagrams and stream
//! frames with the time they arrived, and hands back messages to send, events for the application and the
//! next deadline. The shell's loop is:
//!
//! ```text
//! loop {
//!     select! { input = socket.recv() => ep.handle_input(now, input),
//!               _ = sleep_until(ep.poll_timeout()) => ep.handle_timeout(now),
//!               cmd = app.recv() => ep.answer(..) / ep.hangup(..) }
//!     while let Some(t) = ep.poll_transmit() { socket.send(t) }
//!     while let Some(e) = ep.poll_event() { app.send(e) }
//! }
//! ```
//!
//! Time is a parameter (`now: Instant`), so tests drive transactions and dialogs on virtual time.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod dtmf_info;
pub mod endpoint;
pub mod error;
pub mod framing;
pub mod message;
pub mod peer;
pub mod sdp;
mod transaction;
pub mod transport;
pub mod uri;

pub use error::ParseError;
pub use message::{CSeq, Headers, Message, Method, NameAddr, Request, Response, Transport, Via};
pub use peer::{ConnId, Peer, Transmit};
pub use uri::Uri;
