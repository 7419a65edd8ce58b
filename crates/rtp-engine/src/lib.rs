//! Chorus media path: RTP sessions (RFC 3550), G.711 codecs, the 20 ms media clock and the RTP port pool.
//!
//! The protocol core, [`session::RtpSession`], and the clock, [`pacer::Pacer`], are sans-IO: they take
//! `now` and bytes, and never read a clock or touch a socket. [`stream::MediaStream`] is the thin tokio
//! shell that drives both from one UDP socket taken from a [`ports::PortAllocator`].
//!
//! Run loop of a call (one task per call):
//!
//! ```no_run
//! # use chorus_rtp::{codec::Codec, ports::PortAllocator, session::SessionConfig,
//! #     stream::{MediaEvent, MediaStream}};
//! # async fn call(ports: PortAllocator) -> std::io::Result<()> {
//! let socket = ports.bind("127.0.0.1".parse().unwrap()).expect("a free port");
//! let cfg = SessionConfig {
//!     ssrc: 0x1234_5678, initial_seq: 1000, initial_timestamp: 0, codec: Codec::Pcmu,
//!     payload_type: 0, telephone_event_pt: Some(101), remote: None, ptime_ms: 20,
//! };
//! let mut stream = MediaStream::new(socket, cfg, std::time::Instant::now());
//! let mut frame = vec![0i16; stream.samples_per_frame()];
//! loop {
//!     match stream.next().await? {
//!         // Frame n is due at start + n * 20 ms: send exactly one frame per tick.
//!         MediaEvent::Tick => stream.send_frame(&frame).await?,
//!         MediaEvent::Audio(pcm) => frame[..pcm.len().min(160)].copy_from_slice(&pcm[..pcm.len().min(160)]),
//!         MediaEvent::Dtmf(_key_press) => {}
//!     }
//! }
//! # }
//! ```
//!
//! Time model: wall time only decides *when* a frame is due; RTP timestamps advance by the samples of
//! each frame (sent or not), so they follow the sample clock and never jump with scheduling jitter.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod codec;
pub mod conference;
pub mod dtmf;
pub mod g711;
pub mod g722;
pub mod jitter;
pub mod opus;
pub mod pacer;
pub mod ports;
pub mod rtcp;
pub mod session;
pub mod stream;
