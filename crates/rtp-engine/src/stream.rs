//! The tokio shell of one call's media: the RTP and RTCP sockets driving the sans-IO cores of the call.
//!
//! Receive path: datagram -> RTCP demux ([`crate::rtcp::is_rtcp`]) -> [`RtpSession::receive`]
//! (validation, latching) -> telephone-events to the [`rfc4733::Receiver`], audio into the
//! [`JitterBuffer`] -> at each 20 ms tick one frame out, decoded (or concealed) -> the in-band
//! [`inband::Detector`] tap (only when no telephone-event was negotiated) -> [`MediaEvent::Audio`].
//! Digits come out as [`MediaEvent::Dtmf`]. RTCP reports go out on the odd port (or the RTP port with
//! rtcp-mux) on the [`RtcpSession`] timer.
//!
//! Send path: [`MediaStream::send_frame`] -> the [`DigitPlayer`] tap (digits queued with
//! [`MediaStream::queue_dtmf`]: RFC 4733 events in place of the frame when telephone-event was
//! negotiated, tones written into it otherwise) -> [`RtpSession::packetize`] -> socket. The player is
//! clocked by the frame's due time on the media clock, not by when the task got round to sending it.
//!
//! [`MediaStream::next`] is the only place that waits; it is cancel-safe, so a call task can
//! `tokio::select!` it against its signalling channel without losing a tick or a packet.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use crate::codec::Codec;
use crate::dtmf::send::{DigitPlayer, FrameAction};
use crate::dtmf::{inband, rfc4733, DtmfEvent};
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
use crate::pacer::Pacer;
use crate::ports::MediaSocket;
use crate::rtcp::{is_rtcp, CallRtpStats, RtcpConfig, RtcpSession};
use crate::session::{RtpSession, SessionConfig, Stats};

/// Playout delay of the jitter buffer (issue 3: 60 ms by default, never unbounded).
pub const JITTER_DEPTH: Duration = Duration::from_millis(60);

/// Largest datagram read; RTP for 20 ms of any codec here is far below it.
const RECV_BUF: usize = 2048;

/// What [`MediaStream::next`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum MediaEvent<'a> {
    /// The next frame is due: the caller sends one with [`MediaStream::send_frame`].
    Tick,
    /// One frame of the peer's audio, decoded to PCM at [`MediaStream::sample_rate`]: out of the
    /// jitter buffer at the frame clock (concealed when lost), or as it arrives when the peer's
    /// packetization does not fit the buffer's frame.
    Audio(&'a [i16]),
    /// A key press (RFC 4733 or in-band), reported once.
    Dtmf(DtmfEvent),
}

/// What a re-INVITE or UPDATE negotiated for a running stream ([`MediaStream::renegotiate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Renegotiation {
    /// The codec to send and expect.
    pub codec: Codec,
    /// Its payload type.
    pub payload_type: u8,
    /// The telephone-event payload type, if negotiated.
    pub telephone_event_pt: Option<u8>,
    /// The peer's RTP address from the new SDP (`None` on hold with `c=0.0.0.0`).
    pub remote: Option<SocketAddr>,
    /// RTCP multiplexed on the RTP port.
    pub rtcp_mux: bool,
    /// The peer's RTCP address when not multiplexed.
    pub remote_rtcp: Option<SocketAddr>,
}

/// A renegotiated codec the stream cannot switch to in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot switch from {from:?} to {to:?} in place: another sample rate or frame size")]
pub struct CodecSwitchError {
    /// The stream's codec.
    pub from: Codec,
    /// The one asked for.
    pub to: Codec,
}

enum Wake {
    Timer,
    Recv(io::Result<(usize, SocketAddr)>),
    Rtcp(io::Result<(usize, SocketAddr)>),
}

/// One call's RTP stream over a socket from the pool.
pub struct MediaStream {
    // Field order is drop order: the socket closes before `_port` returns its port to the pool.
    socket: Socket,
    _port: MediaSocket,
    rtcp_socket: Option<Socket>,
    session: RtpSession,
    pacer: Pacer,
    local_port: u16,
    samples_per_frame: usize,
    sending: bool,
    /// Ticks found due and not yet returned.
    pending_ticks: u32,
    /// The frame of the pending tick was played out of the jitter buffer already.
    played: bool,
    /// `None` once the peer's packets turned out not to be one frame each (then audio goes straight
    /// through as it arrives).
    jitter: Option<JitterBuffer>,
    /// Timestamp units of one of our frames.
    frame_units: u32,
    /// Last audio packet's (seq, timestamp), to spot packetization that does not fit the buffer.
    last_audio: Option<(u16, u32)>,
    /// The last frame played (for concealment) and the frame handed out.
    frame: Vec<i16>,
    /// Scratch for concealment: the frame before the loss.
    prev_frame: Vec<i16>,
    lost_run: u32,
    dtmf_rx: rfc4733::Receiver,
    inband: Option<inband::Detector>,
    digits: VecDeque<DtmfEvent>,
    rtcp: RtcpSession,
    rtcp_mux: bool,
    /// The peer's RTCP address from its SDP (`a=rtcp`, else RTP port + 1), and its RTP address there.
    remote_rtcp: Option<SocketAddr>,
    sdp_rtp: Option<SocketAddr>,
    recv_buf: Vec<u8>,
    rtcp_buf: Vec<u8>,
    send_buf: Vec<u8>,
    /// Digits we send: events or tones, as negotiated.
    dtmf_tx: DigitPlayer,
    /// The frame being sent, when the player rewrites it (reused).
    tx_frame: Vec<i16>,
    /// The last frame went out as `tx_frame` (rewritten by the digit player), not as given.
    tx_rewritten: bool,
    /// When the next frame we send is due on the media clock (frame `n` at start + n * ptime).
    frame_due: Instant,
    ptime: Duration,
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
        let rtcp_socket = socket.take_rtcp_socket().map(|s| {
            let mut s = Socket::Std(s);
            s.register();
            s
        });
        let samples_per_frame = cfg.codec.samples_per_frame(cfg.ptime_ms);
        let frame_units = cfg.codec.timestamp_units(samples_per_frame);
        let jitter = JitterBuffer::new(JitterConfig {
            clock_rate: cfg.codec.clock_rate(),
            frame_samples: frame_units,
            depth: JITTER_DEPTH,
        });
        // The in-band detector is a tap for peers without telephone-event only (talk-off risk and
        // cost are pointless when the peer signals digits out of band).
        let inband = match cfg.telephone_event_pt {
            Some(_) => None,
            None => inband::Detector::new(cfg.codec.sample_rate()).ok(),
        };
        let ptime = Pacer::new(now, cfg.ptime_ms).ptime();
        let dtmf_tx = match cfg.telephone_event_pt {
            Some(pt) => DigitPlayer::events(cfg.codec.clock_rate(), pt, ptime),
            None => DigitPlayer::tones(cfg.codec.sample_rate()),
        };
        let rtcp = RtcpSession::new(
            RtcpConfig::new(
                cfg.ssrc,
                format!("chorus@{local_port}"),
                cfg.codec.clock_rate(),
                u64::from(cfg.ssrc) ^ u64::from(cfg.initial_timestamp) << 32,
            ),
            now,
            SystemTime::now(),
        );
        MediaStream {
            socket: tokio_socket,
            _port: socket,
            rtcp_socket,
            session: RtpSession::new(cfg),
            pacer: Pacer::new(now, cfg.ptime_ms),
            local_port,
            samples_per_frame,
            sending: true,
            pending_ticks: 0,
            played: false,
            jitter: Some(jitter),
            frame_units,
            last_audio: None,
            frame: vec![0; samples_per_frame],
            prev_frame: vec![0; samples_per_frame],
            lost_run: 0,
            dtmf_rx: rfc4733::Receiver::new(cfg.codec.clock_rate()),
            inband,
            digits: VecDeque::new(),
            rtcp,
            rtcp_mux: false,
            remote_rtcp: None,
            sdp_rtp: cfg.remote,
            recv_buf: vec![0; RECV_BUF],
            rtcp_buf: vec![0; RECV_BUF],
            // L16 is the largest payload: two bytes a sample.
            send_buf: Vec::with_capacity(12 + 2 * samples_per_frame),
            dtmf_tx,
            tx_frame: Vec::with_capacity(samples_per_frame),
            tx_rewritten: false,
            frame_due: now,
            ptime,
        }
    }

    /// Waits for the next event: a due frame ([`MediaEvent::Tick`], one per frame, preceded by that
    /// frame's [`MediaEvent::Audio`] from the jitter buffer when there is one), a key press, or audio
    /// that bypasses the buffer. Cancel-safe. Errors only when the socket itself is unusable.
    pub async fn next(&mut self) -> io::Result<MediaEvent<'_>> {
        loop {
            if let Some(d) = self.digits.pop_front() {
                return Ok(MediaEvent::Dtmf(d));
            }
            if self.pending_ticks > 0 {
                if !self.played {
                    self.played = true;
                    let now = tokio::time::Instant::now().into_std();
                    if self.play_out(now) {
                        // Digits the tap finds come out on the next calls, before the Tick.
                        self.tap(now);
                        return Ok(MediaEvent::Audio(&self.frame));
                    }
                }
                self.pending_ticks -= 1;
                self.played = false;
                return Ok(MediaEvent::Tick);
            }
            let mut deadline = self.pacer.next_deadline();
            for t in [self.rtcp.poll_timeout(), self.dtmf_rx.poll_timeout()]
                .into_iter()
                .flatten()
            {
                deadline = deadline.min(t);
            }
            let deadline = tokio::time::Instant::from_std(deadline);
            let socket = self.socket.usable()?;
            let rtcp_socket = match self.rtcp_socket.as_mut() {
                Some(s) => s.usable().ok(),
                None => None,
            };
            // All futures are cancel-safe, and all state changes happen after one completes.
            let wake = tokio::select! {
                biased;
                () = tokio::time::sleep_until(deadline) => Wake::Timer,
                r = socket.recv_from(&mut self.recv_buf) => Wake::Recv(r),
                r = recv_opt(rtcp_socket, &mut self.rtcp_buf) => Wake::Rtcp(r),
            };
            // tokio's clock, so that paused time in tests moves the media clock too.
            let now = tokio::time::Instant::now().into_std();
            match wake {
                Wake::Timer => {
                    if self.pacer.next_deadline() <= now {
                        self.pending_ticks += self.pacer.on_tick(now);
                        for _ in 0..self.pacer.take_skipped() {
                            self.session.skip(self.samples_per_frame);
                            self.frame_due += self.ptime;
                        }
                    }
                    self.dtmf_rx.handle_timeout(now);
                    self.collect_rfc4733();
                    if let Some(report) = self.rtcp.handle_timeout(now) {
                        self.send_rtcp(&report);
                    }
                }
                Wake::Recv(Ok((n, from))) => {
                    if self.on_datagram(now, from, n) {
                        return Ok(MediaEvent::Audio(&self.frame));
                    }
                }
                Wake::Rtcp(Ok((n, _from))) => {
                    if let Err(e) = self.rtcp.handle_packet(now, &self.rtcp_buf[..n]) {
                        tracing::trace!(error = %e, "rtcp: bad packet");
                    }
                }
                Wake::Recv(Err(e)) | Wake::Rtcp(Err(e)) if is_transient(&e) => {
                    tracing::trace!(error = %e, "rtp recv: transient error");
                }
                Wake::Recv(Err(e)) => return Err(e),
                Wake::Rtcp(Err(e)) => {
                    tracing::debug!(error = %e, "rtcp socket failed; rtcp off");
                    self.rtcp_socket = None;
                }
            }
        }
    }

    /// Handles one RTP-port datagram of `n` bytes; true when it produced audio to hand out now (the
    /// jitter buffer is bypassed).
    fn on_datagram(&mut self, now: Instant, from: SocketAddr, n: usize) -> bool {
        let data = &self.recv_buf[..n];
        if is_rtcp(data) {
            // rtcp-mux (RFC 5761): reports on the RTP port.
            self.rtcp_mux = true;
            if let Err(e) = self.rtcp.handle_packet(now, data) {
                tracing::trace!(error = %e, "rtcp: bad packet");
            }
            return false;
        }
        let Some(raw) = self.session.receive(now, from, data) else {
            return false;
        };
        self.rtcp
            .on_rtp_received(now, raw.seq, raw.timestamp, raw.ssrc, raw.payload.len());
        if raw.is_event {
            self.dtmf_rx
                .handle_packet(now, raw.timestamp, raw.marker, raw.payload);
            self.collect_rfc4733();
            return false;
        }
        // A peer whose packets are not one of our frames each (ptime 30, say) cannot go through a
        // buffer that plays one packet per tick: its audio goes straight through instead.
        if let Some((seq, ts)) = self.last_audio {
            let in_order = raw.seq == seq.wrapping_add(1);
            let step = raw.timestamp.wrapping_sub(ts);
            if in_order && step != self.frame_units && self.jitter.is_some() && step < 48_000 {
                tracing::debug!(
                    step,
                    frame = self.frame_units,
                    "rtp: packetization differs; jitter buffer off"
                );
                self.jitter = None;
            }
        }
        self.last_audio = Some((raw.seq, raw.timestamp));
        if let Some(jb) = self.jitter.as_mut() {
            let _ = jb.push(
                now,
                raw.seq,
                raw.timestamp,
                raw.ssrc,
                raw.marker,
                raw.payload,
            );
            return false;
        }
        let payload = raw.payload;
        let pcm = self.session.decode(payload);
        self.frame.clear();
        self.frame.extend_from_slice(pcm);
        self.tap(now);
        true
    }

    /// Takes the due frame out of the jitter buffer into `self.frame`: decoded, or concealed when
    /// lost. False when there is nothing to play (not started, or an underrun).
    fn play_out(&mut self, now: Instant) -> bool {
        let Some(jb) = self.jitter.as_mut() else {
            return false;
        };
        match jb.pop(now) {
            Some(Playout::Frame { payload, .. }) => {
                let pcm = self.session.decode(payload);
                self.frame.clear();
                self.frame.extend_from_slice(pcm);
                self.lost_run = 0;
                true
            }
            Some(Playout::Lost { .. }) => {
                self.lost_run += 1;
                let n = self.samples_per_frame;
                let pcm = self.session.conceal(n);
                if pcm.len() == n && pcm.iter().any(|&s| s != 0) {
                    self.frame.clear();
                    self.frame.extend_from_slice(pcm);
                } else {
                    // Fade the last frame out from a copy kept in `prev_frame` (no allocation).
                    std::mem::swap(&mut self.frame, &mut self.prev_frame);
                    self.frame.resize(n, 0);
                    crate::jitter::conceal(&self.prev_frame, &mut self.frame, self.lost_run);
                }
                true
            }
            Some(Playout::Empty) | None => false,
        }
    }

    /// Runs the in-band detector over the frame about to be handed out.
    fn tap(&mut self, now: Instant) {
        if let Some(det) = self.inband.as_mut() {
            det.process(now, &self.frame);
            while let Some(ev) = det.poll_event() {
                self.digits.push_back(ev);
            }
        }
    }

    fn collect_rfc4733(&mut self) {
        while let Some(ev) = self.dtmf_rx.poll_event() {
            self.digits.push_back(ev);
        }
    }

    fn send_rtcp(&mut self, report: &[u8]) {
        let Some(target) = self.session.send_target() else {
            return;
        };
        let result = if self.rtcp_mux {
            self.socket
                .usable()
                .and_then(|s| s.try_send_to(report, target))
        } else {
            // The SDP's RTCP address while RTP goes where the SDP said; past a NAT (latched elsewhere),
            // the port above the latched one.
            let to = match self.remote_rtcp {
                Some(rtcp) if self.sdp_rtp.is_none_or(|sdp| sdp == target) => rtcp,
                _ => SocketAddr::new(target.ip(), target.port().wrapping_add(1)),
            };
            match self.rtcp_socket.as_mut() {
                Some(s) => s.usable().and_then(|s| s.try_send_to(report, to)),
                None => return,
            }
        };
        if let Err(e) = result {
            tracing::trace!(error = %e, "rtcp send failed");
        }
    }

    /// The call's RTP summary (packets, loss and jitter per RFC 3550, the peer's reports) for the
    /// call log.
    pub fn call_stats(&self) -> CallRtpStats {
        self.rtcp.call_stats()
    }

    /// The jitter buffer's counters (zero when it was bypassed from the start).
    pub fn jitter_stats(&self) -> JitterStats {
        self.jitter.as_ref().map(|j| j.stats()).unwrap_or_default()
    }

    /// Ends the stream politely: an RTCP BYE (RFC 3550 §6.6), and any in-band digit still sounding.
    pub fn close(&mut self) -> Option<DtmfEvent> {
        let now = tokio::time::Instant::now().into_std();
        if let Some(bye) = self.rtcp.bye(now) {
            self.send_rtcp(&bye);
        }
        let det = self.inband.as_mut()?;
        det.flush();
        det.poll_event()
    }

    /// Encodes `pcm` as one packet and sends it to the peer. Without a peer address, or with sending
    /// off, nothing is sent but the RTP timestamp still advances, so resuming is seamless. A refused
    /// send is counted, not returned: a peer closing its port must not end the call.
    ///
    /// While digits queued with [`MediaStream::queue_dtmf`] play, the frame goes out with their tones
    /// in it, or telephone-events go out in its place.
    pub async fn send_frame(&mut self, pcm: &[i16]) -> io::Result<()> {
        let due = self.frame_due;
        self.frame_due += self.ptime;
        self.tx_rewritten = self.dtmf_tx.is_busy();
        if self.tx_rewritten {
            let mut frame = std::mem::take(&mut self.tx_frame);
            frame.clear();
            frame.extend_from_slice(pcm);
            let result = self.send_with_digits(due, &mut frame);
            self.tx_frame = frame;
            return result;
        }
        self.send_audio(pcm)
    }

    /// What the last [`MediaStream::send_frame`] sent when it was not the frame it was given: the frame
    /// with in-band DTMF tones written into it (the whole-call recording records what the caller hears).
    /// None when the frame went out as given.
    pub fn last_rewritten_frame(&self) -> Option<&[i16]> {
        self.tx_rewritten.then_some(self.tx_frame.as_slice())
    }

    /// Sends one frame through the digit player: its event packets, then the audio unless withheld.
    fn send_with_digits(&mut self, due: Instant, frame: &mut [i16]) -> io::Result<()> {
        self.socket.usable()?;
        let timestamp = self.session.next_timestamp();
        let action = self.dtmf_tx.on_frame(due, timestamp, frame);
        let target = self.session.send_target().filter(|_| self.sending);
        while let Some(ev) = self.dtmf_tx.poll_packet() {
            // On hold or without a peer the events are lost like the audio; the schedule goes on.
            let Some(target) = target else { continue };
            self.session.packetize_event(&ev, &mut self.send_buf);
            // The media clock's timestamp, not the event's start: RTCP maps it to `now`.
            self.transmit(target, timestamp)?;
        }
        match action {
            FrameAction::Withhold => {
                self.session.advance(frame.len());
                Ok(())
            }
            FrameAction::Send => self.send_audio(frame),
        }
    }

    /// Sends `pcm` as one audio packet (see [`MediaStream::send_frame`]).
    fn send_audio(&mut self, pcm: &[i16]) -> io::Result<()> {
        self.socket.usable()?;
        let target = match self.session.send_target() {
            Some(t) if self.sending => t,
            _ => {
                self.session.skip(pcm.len());
                return Ok(());
            }
        };
        let timestamp = self.session.next_timestamp();
        self.session.packetize(pcm, &mut self.send_buf);
        self.transmit(target, timestamp)
    }

    /// Sends the packet in `send_buf` to `target` and counts it for the session and RTCP (`timestamp`:
    /// the media clock's RTP timestamp of this frame). A refused send is counted, not returned.
    fn transmit(&mut self, target: SocketAddr, timestamp: u32) -> io::Result<()> {
        let socket = self.socket.usable()?;
        // try_send_to: a UDP send either fits the socket buffer now or the packet is late anyway.
        match socket.try_send_to(&self.send_buf, target) {
            Ok(n) => {
                self.session.on_sent(n);
                let now = tokio::time::Instant::now().into_std();
                self.rtcp
                    .on_rtp_sent(now, timestamp, self.send_buf.len().saturating_sub(12));
            }
            Err(e) => {
                tracing::trace!(error = %e, %target, "rtp send failed");
                self.session.on_send_error();
            }
        }
        Ok(())
    }

    /// Queues `digit` to be sent for `duration`, followed by `gap`, after the digits already queued: as
    /// RFC 4733 events when telephone-event was negotiated, as in-band tones otherwise (see
    /// [`crate::dtmf::send`]). It plays as frames are sent; keep sending frames (silence, say) while
    /// [`MediaStream::is_sending_dtmf`].
    pub fn queue_dtmf(
        &mut self,
        digit: char,
        duration: Duration,
        gap: Duration,
    ) -> Result<(), rfc4733::SendError> {
        self.dtmf_tx.queue(digit, duration, gap)
    }

    /// Whether queued digits, or the gap after the last, still need frames.
    pub fn is_sending_dtmf(&self) -> bool {
        self.dtmf_tx.is_busy()
    }

    /// Whether digits go out as RFC 4733 events (telephone-event was negotiated) rather than tones.
    pub fn sends_dtmf_events(&self) -> bool {
        self.dtmf_tx.sends_events()
    }

    /// Sets the jitter buffer's playout delay and reordering window (clamped to one frame ..=
    /// [`crate::jitter::MAX_DEPTH`]). Call before media flows: the buffer starts over empty.
    pub fn set_jitter_depth(&mut self, depth: Duration) {
        if let Some(jb) = self.jitter.as_mut() {
            *jb = JitterBuffer::new(JitterConfig {
                depth,
                ..jb.config()
            });
        }
    }

    /// How RTCP goes to the peer, as negotiated: multiplexed on the RTP port (RFC 5761; also adopted on
    /// its own when the peer's reports arrive there), or to `remote` (its `a=rtcp`, RFC 3605, or the RTP
    /// port + 1).
    pub fn set_rtcp(&mut self, mux: bool, remote: Option<SocketAddr>) {
        self.rtcp_mux |= mux;
        self.remote_rtcp = remote;
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

    /// Replaces the peer's SDP address (re-INVITE); see [`RtpSession::set_remote`].
    pub fn set_remote(&mut self, remote: Option<SocketAddr>) {
        self.session.set_remote(remote);
    }

    /// Applies what a re-INVITE or UPDATE negotiated, the stream going on (same SSRC, sequence and
    /// timestamps): the peer's address (a new one is followed and latched again), the codec and payload
    /// types, and where RTCP goes. A new codec must have the stream's sample rate, clock rate and frame
    /// size (G.711 µ-law and A-law swap in place); the jitter buffer then starts over, since what it
    /// holds was coded the old way. Whether keys are sent as events or tones, and whether the in-band
    /// detector listens, follows telephone-event coming or going. Nothing changes on an error.
    pub fn renegotiate(&mut self, r: Renegotiation) -> Result<(), CodecSwitchError> {
        let cfg = *self.session.config();
        let old = cfg.codec;
        if r.codec != old
            && (r.codec.sample_rate() != old.sample_rate()
                || r.codec.clock_rate() != old.clock_rate()
                || r.codec.samples_per_frame(cfg.ptime_ms) != self.samples_per_frame)
        {
            return Err(CodecSwitchError {
                from: old,
                to: r.codec,
            });
        }
        if r.codec != old || r.payload_type != cfg.payload_type {
            if let Some(jb) = self.jitter.as_mut() {
                jb.reset();
            }
            self.last_audio = None;
        }
        if r.telephone_event_pt != cfg.telephone_event_pt {
            self.inband = match r.telephone_event_pt {
                Some(_) => None,
                None => inband::Detector::new(r.codec.sample_rate()).ok(),
            };
            self.dtmf_tx = match r.telephone_event_pt {
                Some(pt) => DigitPlayer::events(r.codec.clock_rate(), pt, self.ptime),
                None => DigitPlayer::tones(r.codec.sample_rate()),
            };
        }
        self.session
            .set_codec(r.codec, r.payload_type, r.telephone_event_pt);
        self.session.set_remote(r.remote);
        self.sdp_rtp = r.remote;
        self.set_rtcp(r.rtcp_mux, r.remote_rtcp);
        Ok(())
    }
}

/// Receives on the RTCP socket when there is one; never completes otherwise.
async fn recv_opt(
    socket: Option<&tokio::net::UdpSocket>,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
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
