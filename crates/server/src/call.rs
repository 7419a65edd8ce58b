//! One call's task: owns its RTP socket and stream, runs the dialplan route against them through
//! [`CallMedia`], and talks to the SIP task only by [`Command`] and [`Signal`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chorus_dialplan::{interpreter, CallMedia, Dialplan, MediaError, Outcome, Prompt, PromptCache};
use chorus_rtp::codec::Codec;
use chorus_rtp::ports::MediaSocket;
use chorus_rtp::session::SessionConfig;
use chorus_rtp::stream::{MediaEvent, MediaStream};
use chorus_sip::endpoint::CallHandle;
use chorus_sip::sdp::{Direction, Negotiated};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::server::{Command, Signal};

/// How long a call that answered without an offer waits for the ACK's answer.
const LATE_ANSWER_WAIT: Duration = Duration::from_secs(32);
/// Most audio the echo holds back; beyond it the oldest is dropped so delay cannot grow.
const ECHO_MAX_BUFFER_MS: usize = 120;

/// Everything a call task starts with.
pub struct CallSetup {
    /// The call.
    pub handle: CallHandle,
    /// For logs.
    pub call_id: String,
    /// The dialplan the call runs on (a reload does not change a call in progress).
    pub plan: Arc<Dialplan>,
    /// Index of the matched route in `plan.routes`.
    pub route_index: usize,
    /// Shared decoded prompts.
    pub prompts: Arc<PromptCache>,
    /// The call's RTP socket pair; dropping it returns the ports.
    pub socket: MediaSocket,
    /// Media negotiated from the INVITE's offer (None: the offer is ours, the answer comes with the ACK).
    pub negotiated: Option<Negotiated>,
    /// To the SIP task.
    pub commands: mpsc::Sender<Command>,
    /// From the SIP task.
    pub signals: mpsc::UnboundedReceiver<Signal>,
    /// Our SSRC.
    pub ssrc: u32,
    /// First RTP sequence number.
    pub initial_seq: u16,
    /// First RTP timestamp.
    pub initial_timestamp: u32,
}

/// Runs one call to its end.
pub async fn run(setup: CallSetup) {
    let call_id = setup.call_id.clone();
    let plan = setup.plan.clone();
    let prompts = setup.prompts.clone();
    let route = &plan.routes[setup.route_index];
    let mut call = RtpCall::new(setup);
    let outcome = interpreter::run(route, &prompts, &mut call).await;
    match &outcome {
        Outcome::Failed(reason) => tracing::warn!(%call_id, %reason, "call failed"),
        other => tracing::debug!(%call_id, outcome = ?other, "dialplan done"),
    }
    if let Some(stream) = &call.stream {
        let s = stream.stats();
        tracing::debug!(%call_id, stats = ?s, "rtp");
    }
}

struct RtpCall {
    handle: CallHandle,
    commands: mpsc::Sender<Command>,
    signals: mpsc::UnboundedReceiver<Signal>,
    socket: Option<MediaSocket>,
    negotiated: Option<Negotiated>,
    stream: Option<MediaStream>,
    ids: (u32, u16, u32),
    answered: bool,
    ended: bool,
    held: bool,
    /// Received audio not yet echoed.
    rx: VecDeque<i16>,
    /// The frame being sent (reused).
    frame: Vec<i16>,
}

impl RtpCall {
    fn new(s: CallSetup) -> RtpCall {
        RtpCall {
            handle: s.handle,
            commands: s.commands,
            signals: s.signals,
            socket: Some(s.socket),
            negotiated: s.negotiated,
            stream: None,
            ids: (s.ssrc, s.initial_seq, s.initial_timestamp),
            answered: false,
            ended: false,
            held: false,
            rx: VecDeque::new(),
            frame: Vec::new(),
        }
    }

    fn codec(&self) -> Codec {
        self.negotiated
            .as_ref()
            .and_then(|n| Codec::from_name(&n.codec.name))
            .unwrap_or(Codec::Pcmu)
    }

    /// Starts the media stream once the codec and the peer's address are known.
    fn start_stream(&mut self) -> Result<(), MediaError> {
        let (Some(n), Some(socket)) = (self.negotiated.as_ref(), self.socket.take()) else {
            return Err(MediaError::Failed("no negotiated media".into()));
        };
        let codec = Codec::from_name(&n.codec.name)
            .ok_or_else(|| MediaError::Failed(format!("codec {} not supported", n.codec.name)))?;
        let cfg = SessionConfig {
            ssrc: self.ids.0,
            initial_seq: self.ids.1,
            initial_timestamp: self.ids.2,
            codec,
            payload_type: n.payload_type,
            telephone_event_pt: n.telephone_event_pt,
            remote: n.remote_rtp,
            ptime_ms: 20,
        };
        let held = matches!(n.direction, Direction::RecvOnly | Direction::Inactive);
        let mut stream = MediaStream::new(socket, cfg, std::time::Instant::now());
        stream.set_sending(!held && !self.held);
        self.held |= held;
        self.frame = vec![0; stream.samples_per_frame()];
        self.stream = Some(stream);
        Ok(())
    }

    async fn command(&mut self, cmd: Command) -> Result<(), MediaError> {
        if self.ended {
            return Err(MediaError::HungUp);
        }
        self.commands.send(cmd).await.map_err(|_| {
            self.ended = true;
            MediaError::HungUp
        })
    }

    /// Waits for the next 20 ms tick of the media clock; audio arriving meanwhile is kept for echo when
    /// `capture` is set.
    async fn tick(&mut self, capture: bool) -> Result<(), MediaError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(MediaError::Failed("media not started".into()));
        };
        let max_buffer = stream.sample_rate() as usize * ECHO_MAX_BUFFER_MS / 1000;
        loop {
            tokio::select! {
                sig = self.signals.recv() => apply_signal(sig, stream, &mut self.held, &mut self.ended)?,
                ev = stream.next() => match ev {
                    Ok(MediaEvent::Tick) => return Ok(()),
                    Ok(MediaEvent::Audio(pcm)) => {
                        if capture {
                            self.rx.extend(pcm.iter().copied());
                            let excess = self.rx.len().saturating_sub(max_buffer);
                            self.rx.drain(..excess);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Err(MediaError::Failed(format!("rtp socket: {e}"))),
                }
            }
        }
    }

    async fn send_frame(&mut self) -> Result<(), MediaError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(MediaError::Failed("media not started".into()));
        };
        stream
            .send_frame(&self.frame)
            .await
            .map_err(|e| MediaError::Failed(format!("rtp send: {e}")))
    }

    /// Waits without media (before the answer), still noticing the end of the call.
    async fn idle(&mut self, d: Duration) -> Result<(), MediaError> {
        let end = Instant::now() + d;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(end) => return Ok(()),
                sig = self.signals.recv() => match sig {
                    Some(Signal::Hold(on)) => self.held = on,
                    Some(Signal::Confirmed(Some(n))) => self.negotiated = Some(n),
                    Some(Signal::Confirmed(None)) => {}
                    Some(Signal::Ended) | None => {
                        self.ended = true;
                        return Err(MediaError::HungUp);
                    }
                },
            }
        }
    }
}

fn apply_signal(
    sig: Option<Signal>,
    stream: &mut MediaStream,
    held: &mut bool,
    ended: &mut bool,
) -> Result<(), MediaError> {
    match sig {
        Some(Signal::Hold(on)) => {
            *held = on;
            stream.set_sending(!on);
            Ok(())
        }
        Some(Signal::Confirmed(_)) => Ok(()),
        Some(Signal::Ended) | None => {
            *ended = true;
            Err(MediaError::HungUp)
        }
    }
}

impl CallMedia for RtpCall {
    async fn answer(&mut self) -> Result<(), MediaError> {
        if self.answered {
            return Ok(());
        }
        self.command(Command::Answer(self.handle)).await?;
        self.answered = true;
        if self.negotiated.is_none() {
            // We offered in the 200 OK; the answer arrives with the ACK.
            let deadline = Instant::now() + LATE_ANSWER_WAIT;
            while self.negotiated.is_none() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(MediaError::Failed("no sdp answer in ack".into()));
                }
                self.idle(left.min(Duration::from_millis(100))).await?;
            }
        }
        self.start_stream()
    }

    async fn ring(&mut self) -> Result<(), MediaError> {
        self.command(Command::Ring(self.handle)).await
    }

    async fn play(&mut self, prompt: &Prompt) -> Result<(), MediaError> {
        let samples = prompt.samples.clone();
        let n = self.frame.len().max(1);
        for chunk in samples.chunks(n) {
            self.tick(false).await?;
            self.frame[..chunk.len()].copy_from_slice(chunk);
            self.frame[chunk.len()..].fill(0);
            self.send_frame().await?;
        }
        Ok(())
    }

    async fn echo(&mut self, max: Option<Duration>) -> Result<(), MediaError> {
        let end = max.map(|d| Instant::now() + d);
        self.rx.clear();
        let n = self.frame.len();
        loop {
            if end.is_some_and(|e| Instant::now() >= e) {
                return Ok(());
            }
            self.tick(true).await?;
            if self.rx.len() >= n {
                for (dst, src) in self.frame.iter_mut().zip(self.rx.drain(..n)) {
                    *dst = src;
                }
            } else {
                self.frame.fill(0);
            }
            self.send_frame().await?;
        }
    }

    async fn pause(&mut self, d: Duration) -> Result<(), MediaError> {
        if self.stream.is_none() {
            return self.idle(d).await;
        }
        let end = Instant::now() + d;
        self.frame.fill(0);
        while Instant::now() < end {
            self.tick(false).await?;
            self.send_frame().await?;
        }
        Ok(())
    }

    async fn hangup(&mut self) {
        if !self.ended {
            let _ = self.commands.send(Command::Hangup(self.handle)).await;
            self.ended = true;
        }
    }

    fn is_answered(&self) -> bool {
        self.answered
    }

    fn sample_rate(&self) -> u32 {
        self.stream
            .as_ref()
            .map(|s| s.sample_rate())
            .unwrap_or_else(|| self.codec().sample_rate())
    }
}
