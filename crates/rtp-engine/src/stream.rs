//! The tokio shell of one call's media: a UDP socket driving an [`RtpSession`] and a [`Pacer`].
//!
//! [`MediaStream::next`] is the only place that waits; it is cancel-safe, so a call task can
//! `tokio::select!` it against its signalling channel without losing a tick or a packet.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use crate::pacer::Pacer;
use crate::ports::MediaSocket;
use crate::session::{Payload, RtpSession, SessionConfig, Stats};

/// Largest datagram read; RTP for 20 ms of any codec here is far below it.
const RECV_BUF: usize = 2048;

/// What [`MediaStream::next`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum MediaEvent<'a> {
    /// The next frame is due: the caller sends one with [`MediaStream::send_frame`].
    Tick,
    /// A packet of audio arrived from the peer, decoded to PCM at [`MediaStream::sample_rate`].
    Audio(&'a [i16]),
    /// An RFC 4733 telephone-event payload arrived, raw.
    TelephoneEvent(&'a [u8]),
}

enum Wake {
    Timer,
    Recv(io::Result<(usize, SocketAddr)>),
}

/// One call's RTP stream over a socket from the pool.
pub struct MediaStream {
    // Field order is drop order: the socket closes before `_port` returns its port to the pool.
    socket: Socket,
    _port: MediaSocket,
    session: RtpSession,
    pacer: Pacer,
    local_port: u16,
    samples_per_frame: usize,
    sending: bool,
    /// Ticks found due and not yet returned.
    pending_ticks: u32,
    recv_buf: Vec<u8>,
    send_buf: Vec<u8>,
    event_buf: Vec<u8>,
}

impl std::fmt::Debug for MediaStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaStream")
            .field("local_port", &self.local_port)
            .field("session", &self.session)
            .field("sending", &self.sending)
            .finish_non_exhaustive()
    }
}

impl MediaStream {
    /// A stream whose first frame is due at `now`. Must be called within a tokio runtime; if the
    /// socket cannot be registered with it, [`MediaStream::next`] returns that error.
    pub fn new(mut socket: MediaSocket, cfg: SessionConfig, now: Instant) -> MediaStream {
        let local_port = socket.port();
        let mut tokio_socket = match socket.take_socket() {
            Some(std_socket) => Socket::Std(std_socket),
            None => Socket::Failed(
                io::ErrorKind::NotConnected,
                "rtp socket already taken".into(),
            ),
        };
        tokio_socket.register();
        let samples_per_frame = cfg.codec.samples_per_frame(cfg.ptime_ms);
        MediaStream {
            socket: tokio_socket,
            _port: socket,
            session: RtpSession::new(cfg),
            pacer: Pacer::new(now, cfg.ptime_ms),
            local_port,
            samples_per_frame,
            sending: true,
            pending_ticks: 0,
            recv_buf: vec![0; RECV_BUF],
            // L16 is the largest payload: two bytes a sample.
            send_buf: Vec::with_capacity(12 + 2 * samples_per_frame),
            event_buf: Vec::with_capacity(16),
        }
    }

    /// Waits for the next event: a due frame ([`MediaEvent::Tick`], one per frame) or a packet from the
    /// peer. Cancel-safe. Errors only when the socket itself is unusable.
    pub async fn next(&mut self) -> io::Result<MediaEvent<'_>> {
        loop {
            if self.pending_ticks > 0 {
                self.pending_ticks -= 1;
                return Ok(MediaEvent::Tick);
            }
            let deadline = tokio::time::Instant::from_std(self.pacer.next_deadline());
            let socket = self.socket.usable()?;
            // Both futures are cancel-safe, and all state changes happen after one completes.
            let wake = tokio::select! {
                biased;
                () = tokio::time::sleep_until(deadline) => Wake::Timer,
                r = socket.recv_from(&mut self.recv_buf) => Wake::Recv(r),
            };
            // tokio's clock, so that paused time in tests moves the media clock too.
            let now = tokio::time::Instant::now().into_std();
            match wake {
                Wake::Timer => {
                    self.pending_ticks += self.pacer.on_tick(now);
                    for _ in 0..self.pacer.take_skipped() {
                        self.session.skip(self.samples_per_frame);
                    }
                }
                Wake::Recv(Ok((n, from))) => {
                    let is_audio =
                        match self.session.handle_datagram(now, from, &self.recv_buf[..n]) {
                            None => continue,
                            Some(r) => match r.payload {
                                Payload::Audio(_) => true,
                                Payload::TelephoneEvent(bytes) => {
                                    self.event_buf.clear();
                                    self.event_buf.extend_from_slice(bytes);
                                    false
                                }
                            },
                        };
                    return Ok(if is_audio {
                        MediaEvent::Audio(self.session.last_audio())
                    } else {
                        MediaEvent::TelephoneEvent(&self.event_buf)
                    });
                }
                Wake::Recv(Err(e)) if is_transient(&e) => {
                    tracing::trace!(error = %e, "rtp recv: transient error");
                }
                Wake::Recv(Err(e)) => return Err(e),
            }
        }
    }

    /// Encodes `pcm` as one packet and sends it to the peer. Without a peer address, or with sending
    /// off, nothing is sent but the RTP timestamp still advances, so resuming is seamless. A refused
    /// send is counted, not returned: a peer closing its port must not end the call.
    pub async fn send_frame(&mut self, pcm: &[i16]) -> io::Result<()> {
        let socket = self.socket.usable()?;
        let target = match self.session.send_target() {
            Some(t) if self.sending => t,
            _ => {
                self.session.skip(pcm.len());
                return Ok(());
            }
        };
        self.session.packetize(pcm, &mut self.send_buf);
        // try_send_to: a UDP send either fits the socket buffer now or the packet is late anyway.
        match socket.try_send_to(&self.send_buf, target) {
            Ok(n) => self.session.on_sent(n),
            Err(e) => {
                tracing::trace!(error = %e, %target, "rtp send failed");
                self.session.on_send_error();
            }
        }
        Ok(())
    }

    /// Turns sending on or off (hold). Off, frames are counted as skipped and timestamps keep time.
    pub fn set_sending(&mut self, on: bool) {
        self.sending = on;
    }

    /// Whether frames are being sent.
    pub fn is_sending(&self) -> bool {
        self.sending
    }

    /// PCM samples in one frame.
    pub fn samples_per_frame(&self) -> usize {
        self.samples_per_frame
    }

    /// PCM sample rate of the frames in and out.
    pub fn sample_rate(&self) -> u32 {
        self.session.config().codec.sample_rate()
    }

    /// The local RTP port.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Where packets currently go (the latched peer, else the SDP address).
    pub fn send_target(&self) -> Option<SocketAddr> {
        self.session.send_target()
    }

    /// The session's counters.
    pub fn stats(&self) -> Stats {
        self.session.stats()
    }

    /// The sans-IO session, for inspection.
    pub fn session(&self) -> &RtpSession {
        &self.session
    }

    /// Replaces the peer's SDP address (re-INVITE).
    pub fn set_remote(&mut self, remote: Option<SocketAddr>) {
        self.session.set_remote(remote);
    }
}

/// Receive errors that say something about one earlier datagram (ICMP errors surfacing, a signal),
/// not about the socket.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::Interrupted
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// The stream's socket, registered with tokio as soon as a runtime is at hand.
enum Socket {
    /// Not yet registered: `MediaStream::new` ran outside a runtime.
    Std(std::net::UdpSocket),
    Tokio(tokio::net::UdpSocket),
    /// Registration failed; every use reports it.
    Failed(io::ErrorKind, String),
}

impl Socket {
    /// Converts to a tokio socket if a runtime is current (`from_std` panics without one).
    fn register(&mut self) {
        if !matches!(self, Socket::Std(_)) || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let placeholder = Socket::Failed(io::ErrorKind::Other, String::new());
        if let Socket::Std(std_socket) = std::mem::replace(self, placeholder) {
            *self = match tokio::net::UdpSocket::from_std(std_socket) {
                Ok(s) => Socket::Tokio(s),
                Err(e) => Socket::Failed(e.kind(), format!("rtp socket: {e}")),
            };
        }
    }

    fn usable(&mut self) -> io::Result<&tokio::net::UdpSocket> {
        self.register();
        match self {
            Socket::Tokio(s) => Ok(s),
            Socket::Std(_) => Err(io::Error::other(
                "rtp stream polled outside a tokio runtime",
            )),
            Socket::Failed(kind, msg) => Err(io::Error::new(*kind, msg.clone())),
        }
    }
}
