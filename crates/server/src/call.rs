//! One call's task: owns its RTP socket and stream, runs the dialplan route against them through
//! [`CallMedia`], and talks to the SIP task only by [`Command`] and [`Signal`].

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chorus_dialplan::interpreter::{RecordOutcome, RecordSpec, RecordStop, RoomExit, Vars};
use chorus_dialplan::recorder::{Recorder, RecordingMeta};
use chorus_dialplan::{
    interpreter, CallMedia, Dialplan, HangupReason, MediaError, Outcome, Prompt, PromptCache,
    RecordCallControl, RoomOptions, TransferMode,
};
use chorus_rtp::codec::Codec;
use chorus_rtp::conference::room::JoinError;
use chorus_rtp::dtmf::rfc4733::SendError;
use chorus_rtp::dtmf::{DtmfEvent, DtmfStream};
use chorus_rtp::ports::MediaSocket;
use chorus_rtp::session::SessionConfig;
use chorus_rtp::stream::{MediaEvent, MediaStream, Renegotiation};
use chorus_sip::endpoint::CallHandle;
use chorus_sip::sdp::{Direction, Negotiated};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::calllog::RtpSummary;
use crate::rooms::Rooms;
use crate::server::{CallReport, Command, Signal};

/// How long a call that sent our offer (without one in the INVITE) waits for the answer: in the ACK, or
/// in the PRACK of a reliable 183.
const LATE_ANSWER_WAIT: Duration = Duration::from_secs(32);
/// How long a transfer waits for the caller's answer to our REFER (timer F is 32 s).
const TRANSFER_WAIT: Duration = Duration::from_secs(35);
/// Once the caller accepted the REFER, how long after its last progress report (a NOTIFY) a transfer waits
/// for the new call's final status: longer than a target usually rings.
const TRANSFER_RING_WAIT: Duration = Duration::from_secs(120);
/// Most audio the echo holds back; beyond it the oldest is dropped so delay cannot grow.
const ECHO_MAX_BUFFER_MS: usize = 120;
/// Feedback to a member for mute on and off: a low and a high beep.
const MUTE_ON_TONE: (f32, u32) = (400.0, 200);
const MUTE_OFF_TONE: (f32, u32) = (800.0, 200);

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
    /// The caller takes reliable provisional responses (RFC 3262): without its offer, early media can
    /// still start (our offer in a reliable 183, its answer in the PRACK).
    pub reliable_provisionals: bool,
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
    /// The route's variables so far (its regex captures).
    pub vars: Vars,
    /// Where recordings go.
    pub recordings: PathBuf,
    /// Hang up after this long without RTP (not while on hold).
    pub rtp_timeout: Option<Duration>,
    /// Jitter buffer depth.
    pub jitter: Duration,
    /// Caller and callee, for recording sidecars.
    pub from: String,
    /// The callee as addressed.
    pub to: String,
    /// The dialplan's call variables: `caller`, `caller_name`, `called`.
    pub caller: CallParties,
    /// Conference rooms, shared by every call.
    pub rooms: Rooms,
}

/// Runs one call to its end, then reports what the call log needs (digits, variables, recordings,
/// RTP figures) to the SIP task, which writes the line once the dialog is over too.
pub async fn run(setup: CallSetup) {
    let call_id = setup.call_id.clone();
    let handle = setup.handle;
    let plan = setup.plan.clone();
    let prompts = setup.prompts.clone();
    let mut vars = setup.vars.clone();
    let route = &plan.routes[setup.route_index];
    let mut call = RtpCall::new(setup);
    let outcome = interpreter::run_with_vars(route, &prompts, &mut call, &mut vars).await;
    match &outcome {
        Outcome::Failed(reason) => tracing::warn!(%call_id, %reason, "call failed"),
        other => tracing::debug!(%call_id, outcome = ?other, "dialplan done"),
    }
    if !call.ended {
        // Steps that end without hanging up (a failure) still end the call.
        call.hangup().await;
    }
    call.finish_call_recording();
    let mut rtp = None;
    let codec = call.codec();
    if let Some(stream) = call.stream.as_mut() {
        if let Some(ev) = stream.close() {
            let _ = call.dtmf.push(ev);
        }
        tracing::debug!(%call_id, stats = ?stream.stats(), jitter = ?stream.jitter_stats(), "rtp");
        rtp = Some(RtpSummary::new(
            codec.name(),
            &stream.call_stats(),
            &stream.jitter_stats(),
        ));
    }
    let report = CallReport {
        dtmf: call.dtmf.digits().to_string(),
        dtmf_sent: call.dtmf_sent.clone(),
        vars,
        recordings: std::mem::take(&mut call.recordings),
        errors: std::mem::take(&mut call.errors),
        rtp,
        failed: matches!(outcome, Outcome::Failed(_)),
    };
    let _ = call
        .commands
        .send(Command::Done(handle, Box::new(report)))
        .await;
}

struct RtpCall {
    handle: CallHandle,
    commands: mpsc::Sender<Command>,
    signals: mpsc::UnboundedReceiver<Signal>,
    socket: Option<MediaSocket>,
    negotiated: Option<Negotiated>,
    /// See [`CallSetup::reliable_provisionals`].
    reliable_provisionals: bool,
    stream: Option<MediaStream>,
    ids: (u32, u16, u32),
    answered: bool,
    /// Early media is up (183 sent, the stream started) and the call not answered yet.
    early: bool,
    ended: bool,
    held: bool,
    /// Hang up after this long without RTP (not while on hold).
    rtp_timeout: Option<Duration>,
    jitter: Duration,
    /// Since when RTP silence counts: the media start, or the end of the last hold.
    rtp_since: std::time::Instant,
    /// Received audio not yet echoed.
    rx: VecDeque<i16>,
    /// The frame being sent (reused).
    frame: Vec<i16>,
    /// Every key press once, whatever the method (RFC 4733, INFO, in-band).
    dtmf: DtmfStream,
    /// Keys not yet consumed by the dialplan, oldest first.
    keys: VecDeque<char>,
    /// Keys we sent (`send_dtmf`), in order, for the call log (bounded).
    dtmf_sent: String,
    /// The outcome of a transfer in progress.
    transfer_result: Option<bool>,
    /// Its latest progress (202 for an accepted REFER, then the new call's provisional statuses).
    transfer_progress: Option<u16>,
    recordings_dir: PathBuf,
    /// Recordings made, relative to the recordings directory.
    recordings: Vec<String>,
    /// Media failures the call survived (a recording that could not be written), for the call log.
    errors: Vec<String>,
    /// The whole-call recording, once `record_call` started it.
    call_rec: Option<CallRecording>,
    call_id: String,
    from: String,
    to: String,
    parties: CallParties,
    rooms: Rooms,
    prompts: Arc<PromptCache>,
}

/// Who called whom, as the INVITE said: the dialplan's `caller`, `caller_name` and `called`.
#[derive(Clone, Debug, Default)]
pub struct CallParties {
    /// The user part of the From URI (`+15551234567`), empty when it has none.
    pub caller: String,
    /// From's display name, empty when none.
    pub caller_name: String,
    /// The user part of the Request-URI (what the route matched).
    pub called: String,
    /// The INVITE's headers, for the `sip_h_<Name>` variables.
    pub headers: chorus_sip::message::Headers,
}

/// A whole-call recording (`record_call`, like Asterisk's MixMonitor and FreeSWITCH's record_session):
/// what the caller sends and what we send, mixed into one mono file at the call's rate, one frame per
/// tick of the media clock, until the call ends. Crash-safe like every recording (the header is
/// rewritten every second).
struct CallRecording {
    rec: Recorder,
    /// The caller's audio not yet mixed; bounded, so a burst cannot grow it or delay the mix.
    caller: VecDeque<i16>,
    /// The mixed frame (reused).
    mix: Vec<i16>,
    /// `record_call: mask`: silence goes into the file instead of the call's audio.
    masked: bool,
    /// Two channels: the caller left, what the caller hears right.
    stereo: bool,
}

impl CallRecording {
    /// Audio from the caller; at most `max` samples wait for the mix, the oldest are dropped.
    fn hear(&mut self, pcm: &[i16], max: usize) {
        self.caller.extend(pcm.iter().copied());
        let excess = self.caller.len().saturating_sub(max);
        self.caller.drain(..excess);
    }

    /// Writes one frame: `sent` (what the caller hears) and as much of the caller's audio, summed
    /// (saturating) or, in stereo, side by side.
    fn write(&mut self, sent: &[i16]) -> Result<(), chorus_dialplan::recorder::RecordError> {
        self.mix.clear();
        let n = sent.len().min(self.caller.len());
        let caller = self.caller.drain(..n).chain(std::iter::repeat(0));
        if self.masked {
            // Keep real time: the caller's audio is consumed, silence written.
            drop(caller);
            let width = if self.stereo { 2 } else { 1 };
            self.mix.resize(sent.len() * width, 0);
        } else if self.stereo {
            self.mix.extend(
                sent.iter()
                    .zip(caller)
                    .flat_map(|(ours, theirs)| [theirs, *ours]),
            );
        } else {
            self.mix
                .extend(sent.iter().zip(caller).map(|(a, b)| a.saturating_add(b)));
        }
        self.rec.write(&self.mix)
    }
}

/// A new key press from any source: kept once, and buffered for the dialplan.
fn on_digit(dtmf: &mut DtmfStream, keys: &mut VecDeque<char>, ev: DtmfEvent) {
    if let Some(ev) = dtmf.push(ev) {
        tracing::debug!(digit = %ev.digit, source = ?ev.source, ms = ev.duration.as_millis() as u64, "dtmf");
        // Bounded: a peer leaning on a key cannot grow memory.
        if keys.len() < 256 {
            keys.push_back(ev.digit);
        }
    }
}

impl RtpCall {
    /// The sidecar fields of a recording of this call that starts now.
    fn recording_meta(&self) -> RecordingMeta {
        RecordingMeta {
            call_id: self.call_id.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            room: None,
            started_at: SystemTime::now(),
        }
    }

    fn new(s: CallSetup) -> RtpCall {
        RtpCall {
            handle: s.handle,
            commands: s.commands,
            signals: s.signals,
            socket: Some(s.socket),
            negotiated: s.negotiated,
            reliable_provisionals: s.reliable_provisionals,
            stream: None,
            ids: (s.ssrc, s.initial_seq, s.initial_timestamp),
            answered: false,
            early: false,
            ended: false,
            held: false,
            rtp_timeout: s.rtp_timeout,
            jitter: s.jitter,
            rtp_since: std::time::Instant::now(),
            rx: VecDeque::new(),
            frame: Vec::new(),
            dtmf: DtmfStream::new(),
            keys: VecDeque::new(),
            dtmf_sent: String::new(),
            transfer_result: None,
            transfer_progress: None,
            recordings_dir: s.recordings,
            recordings: Vec::new(),
            errors: Vec::new(),
            call_rec: None,
            call_id: s.call_id,
            from: s.from,
            to: s.to,
            parties: s.caller,
            rooms: s.rooms,
            prompts: s.prompts,
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
        stream.set_rtcp(n.rtcp_mux, n.remote_rtcp);
        stream.set_jitter_depth(self.jitter);
        stream.set_sending(!held && !self.held);
        self.held |= held;
        self.frame = vec![0; stream.samples_per_frame()];
        self.stream = Some(stream);
        self.rtp_since = std::time::Instant::now();
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
                sig = self.signals.recv() => {
                    if let Some(Signal::Dtmf(ev)) = sig {
                        on_digit(&mut self.dtmf, &mut self.keys, ev);
                    } else if let Some(Signal::Transferred(ok)) = sig {
                        self.transfer_result = Some(ok);
                    } else if let Some(Signal::TransferProgress(status)) = sig {
                        self.transfer_progress = Some(status);
                    } else if let Some(Signal::Renegotiated(n)) = sig {
                        renegotiate(stream, &n, &self.call_id);
                        self.negotiated = Some(n);
                    } else {
                        apply_signal(sig, stream, &mut self.held, &mut self.ended)?;
                    }
                }
                ev = stream.next() => match ev {
                    Ok(MediaEvent::Tick) => break,
                    Ok(MediaEvent::Audio(pcm)) => {
                        if let Some(cr) = self.call_rec.as_mut() {
                            cr.hear(pcm, max_buffer);
                        }
                        if capture {
                            self.rx.extend(pcm.iter().copied());
                            let excess = self.rx.len().saturating_sub(max_buffer);
                            self.rx.drain(..excess);
                        }
                    }
                    Ok(MediaEvent::Dtmf(ev)) => on_digit(&mut self.dtmf, &mut self.keys, ev),
                    Err(e) => return Err(MediaError::Failed(format!("rtp socket: {e}"))),
                }
            }
        }
        self.check_rtp_timeout().await
    }

    /// Ends the call when no RTP has come for `rtp_timeout`: a caller gone without a BYE (a crashed phone,
    /// a lost BYE) must not hold a call, a port and a room seat forever. Time on hold does not count.
    async fn check_rtp_timeout(&mut self) -> Result<(), MediaError> {
        let Some(limit) = self.rtp_timeout else {
            return Ok(());
        };
        let now = std::time::Instant::now();
        // On hold, or in early media (callers rarely send RTP before the answer): the clock waits.
        if self.held || !self.answered {
            self.rtp_since = now;
            return Ok(());
        }
        let since = self.rtp_since;
        let last = self
            .stream
            .as_ref()
            .and_then(|s| s.session().last_heard())
            .map_or(since, |t| t.max(since));
        if now.duration_since(last) < limit {
            return Ok(());
        }
        tracing::warn!(call_id = %self.call_id, secs = limit.as_secs(), "no RTP; hanging up");
        if !self.ended {
            let _ = self.commands.send(Command::RtpTimeout(self.handle)).await;
            self.ended = true;
        }
        Err(MediaError::HungUp)
    }

    async fn send_frame(&mut self) -> Result<(), MediaError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(MediaError::Failed("media not started".into()));
        };
        stream
            .send_frame(&self.frame)
            .await
            .map_err(|e| MediaError::Failed(format!("rtp send: {e}")))?;
        if let Some(cr) = self.call_rec.as_mut() {
            // What the caller heard: in-band keys we send are in it.
            let sent = stream.last_rewritten_frame().unwrap_or(&self.frame);
            if let Err(e) = cr.write(sent) {
                tracing::warn!(call_id = %self.call_id, error = %e, "call recording failed; the call goes on");
                self.errors.push(format!("recording failed: {e}"));
                if let Some(cr) = self.call_rec.take() {
                    let _ = cr.rec.finish();
                }
            }
        }
        Ok(())
    }

    /// Ends the whole-call recording, if any: its header and sidecar get their final length.
    fn finish_call_recording(&mut self) {
        if let Some(cr) = self.call_rec.take() {
            if let Err(e) = cr.rec.finish() {
                tracing::warn!(call_id = %self.call_id, error = %e, "call recording not finished");
                self.errors.push(format!("recording failed: {e}"));
            }
        }
    }

    /// One tick of silence (or, before the answer, a 20 ms wait).
    async fn silent_tick(&mut self) -> Result<(), MediaError> {
        if self.stream.is_none() {
            return self.idle(Duration::from_millis(20)).await;
        }
        self.tick(false).await?;
        self.frame.fill(0);
        self.send_frame().await
    }

    /// Waits until media is negotiated (the answer to our offer), at most [`LATE_ANSWER_WAIT`].
    async fn wait_for_answer(&mut self, what: &str) -> Result<(), MediaError> {
        let deadline = Instant::now() + LATE_ANSWER_WAIT;
        while self.negotiated.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(MediaError::Failed(what.into()));
            }
            self.idle(left.min(Duration::from_millis(100))).await?;
        }
        Ok(())
    }

    /// Waits without media (before the answer), still noticing the end of the call.
    async fn idle(&mut self, d: Duration) -> Result<(), MediaError> {
        let end = Instant::now() + d;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(end) => return Ok(()),
                sig = self.signals.recv() => match sig {
                    Some(Signal::Dtmf(ev)) => on_digit(&mut self.dtmf, &mut self.keys, ev),
                    Some(Signal::Hold(on)) => self.held = on,
                    Some(Signal::Confirmed(Some(n)))
                    | Some(Signal::EarlyAnswer(n))
                    | Some(Signal::Renegotiated(n)) => self.negotiated = Some(n),
                    Some(Signal::Confirmed(None)) => {}
                    Some(Signal::Transferred(ok)) => self.transfer_result = Some(ok),
                    Some(Signal::TransferProgress(status)) => self.transfer_progress = Some(status),
                    Some(Signal::Ended) | None => {
                        self.ended = true;
                        return Err(MediaError::HungUp);
                    }
                },
            }
        }
    }
}

/// The file in the recordings directory `dir` that `name` names: the value `record ... into` gave (a path:
/// only its file name counts) or a bare name, `.wav` added when missing. `None` for a name that is not a
/// plain file name (empty, hidden, or with characters recordings never have), so a value from the
/// caller cannot reach outside the directory.
fn recording_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let file = Path::new(name).file_name()?.to_str()?;
    let stem = file.strip_suffix(".wav").unwrap_or(file);
    let plain = !stem.is_empty()
        && !stem.starts_with('.')
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    plain.then(|| dir.join(format!("{stem}.wav")))
}

/// `path` relative to `dir`, as the call log lists recordings.
fn relative_to(path: &Path, dir: &Path) -> Option<String> {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.to_str().map(str::to_string)
}

/// Applies a re-offer's result to the running stream. The SIP task only answers with codecs the stream
/// can switch to, so a refusal here is logged, not fatal.
fn renegotiate(stream: &mut MediaStream, n: &Negotiated, call_id: &str) {
    let Some(codec) = Codec::from_name(&n.codec.name) else {
        return;
    };
    let r = Renegotiation {
        codec,
        payload_type: n.payload_type,
        telephone_event_pt: n.telephone_event_pt,
        remote: n.remote_rtp,
        rtcp_mux: n.rtcp_mux,
        remote_rtcp: n.remote_rtcp,
    };
    if let Err(e) = stream.renegotiate(r) {
        tracing::warn!(%call_id, error = %e, "re-offer not applied to the media");
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
        Some(Signal::Confirmed(_))
        | Some(Signal::EarlyAnswer(_))
        | Some(Signal::Renegotiated(_))
        | Some(Signal::Dtmf(_))
        | Some(Signal::Transferred(_))
        | Some(Signal::TransferProgress(_)) => Ok(()),
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
        if self.early {
            // The stream runs since the 183; the 200 carries the same SDP.
            self.early = false;
            return Ok(());
        }
        // Without an offer in the INVITE, we offered in the 200 OK; the answer arrives with the ACK.
        self.wait_for_answer("no sdp answer in ack").await?;
        self.start_stream()
    }

    async fn ring(&mut self) -> Result<(), MediaError> {
        self.command(Command::Ring(self.handle)).await
    }

    async fn progress(&mut self) -> Result<bool, MediaError> {
        if self.answered || self.early {
            return Ok(true);
        }
        if self.negotiated.is_none() && !self.reliable_provisionals {
            // Our offer can only go in a reliable 183 (RFC 3262 §5), and this caller takes none.
            self.command(Command::Ring(self.handle)).await?;
            return Ok(false);
        }
        self.command(Command::Progress(self.handle)).await?;
        // Without an offer in the INVITE, ours went in the 183; the answer arrives with the PRACK.
        self.wait_for_answer("no sdp answer in prack").await?;
        self.start_stream()?;
        self.early = true;
        Ok(true)
    }

    fn has_media(&self) -> bool {
        self.answered || self.early
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

    async fn next_digit(&mut self, timeout: Duration) -> Result<Option<char>, MediaError> {
        if let Some(k) = self.keys.pop_front() {
            return Ok(Some(k));
        }
        if timeout.is_zero() {
            return Ok(None);
        }
        let end = Instant::now() + timeout;
        loop {
            self.silent_tick().await?;
            if let Some(k) = self.keys.pop_front() {
                return Ok(Some(k));
            }
            if Instant::now() >= end {
                return Ok(None);
            }
        }
    }

    async fn play_until_digit(&mut self, prompt: &Prompt) -> Result<Option<char>, MediaError> {
        if let Some(&k) = self.keys.front() {
            return Ok(Some(k));
        }
        if self.stream.is_none() {
            self.answer().await?;
        }
        let samples = prompt.samples.clone();
        let n = self.frame.len().max(1);
        for chunk in samples.chunks(n) {
            self.tick(false).await?;
            if let Some(&k) = self.keys.front() {
                return Ok(Some(k));
            }
            self.frame[..chunk.len()].copy_from_slice(chunk);
            self.frame[chunk.len()..].fill(0);
            self.send_frame().await?;
        }
        Ok(None)
    }

    async fn record(&mut self, spec: RecordSpec) -> Result<RecordOutcome, MediaError> {
        if self.stream.is_none() {
            self.answer().await?;
        }
        let rate = self.sample_rate();
        let meta = self.recording_meta();
        let mut rec = match Recorder::create(&self.recordings_dir, &spec.name, rate, &meta) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(call_id = %self.call_id, error = %e, "recording not started");
                self.errors.push(format!("recording failed: {e}"));
                return Ok(RecordOutcome {
                    stop: RecordStop::Failed(e.to_string()),
                    path: PathBuf::new(),
                    duration_ms: 0,
                });
            }
        };
        self.rx.clear();
        let n = self.frame.len();
        let mut chunk = vec![0i16; n];
        let stop = loop {
            if let Err(e) = self.tick(true).await {
                match e {
                    MediaError::HungUp => break RecordStop::HungUp,
                    other => {
                        let _ = rec.finish();
                        return Err(other);
                    }
                }
            }
            // One frame of the caller per tick, silence where the network brought none, so the file
            // keeps real time.
            let have = self.rx.len().min(n);
            for (dst, src) in chunk.iter_mut().zip(self.rx.drain(..have)) {
                *dst = src;
            }
            chunk[have..].fill(0);
            if let Err(e) = rec.write(&chunk) {
                tracing::warn!(call_id = %self.call_id, error = %e, "recording failed; the call goes on");
                self.errors.push(format!("recording failed: {e}"));
                break RecordStop::Failed(e.to_string());
            }
            self.frame.fill(0);
            if let Err(e) = self.send_frame().await {
                let _ = rec.finish();
                return Err(e);
            }
            if let Some(i) = self.keys.iter().position(|k| spec.terminators.contains(*k)) {
                let k = self.keys.remove(i).unwrap_or('#');
                break RecordStop::Terminator(k);
            }
            if rec.duration() >= spec.max {
                break RecordStop::MaxDuration;
            }
            if spec.silence.is_some_and(|s| rec.silent_for() >= s) {
                break RecordStop::Silence;
            }
        };
        match rec.finish() {
            Ok(info) => {
                if let Some(rel) = relative_to(&info.path, &self.recordings_dir) {
                    self.recordings.push(rel);
                }
                Ok(RecordOutcome {
                    stop,
                    path: info.path,
                    duration_ms: info.duration_ms,
                })
            }
            Err(e) => {
                self.errors.push(format!("recording failed: {e}"));
                Ok(RecordOutcome {
                    stop: RecordStop::Failed(e.to_string()),
                    path: PathBuf::new(),
                    duration_ms: 0,
                })
            }
        }
    }

    async fn control_call_recording(
        &mut self,
        control: RecordCallControl,
    ) -> Result<(), MediaError> {
        let Some(cr) = self.call_rec.as_mut() else {
            tracing::debug!(call_id = %self.call_id, ?control, "no call recording running");
            return Ok(());
        };
        tracing::info!(call_id = %self.call_id, ?control, "call recording");
        match control {
            RecordCallControl::Mask => cr.masked = true,
            RecordCallControl::Unmask => cr.masked = false,
            RecordCallControl::Stop => self.finish_call_recording(),
        }
        Ok(())
    }

    async fn record_call(
        &mut self,
        name: &str,
        stereo: bool,
    ) -> Result<Option<PathBuf>, MediaError> {
        if let Some(cr) = &self.call_rec {
            return Ok(Some(cr.rec.path().to_path_buf()));
        }
        if self.stream.is_none() {
            self.answer().await?;
        }
        let meta = self.recording_meta();
        let channels = if stereo { 2 } else { 1 };
        let rate = self.sample_rate();
        match Recorder::create_channels(&self.recordings_dir, name, rate, channels, &meta) {
            Ok(mut rec) => {
                rec.keep_trailing_silence();
                let path = rec.path().to_path_buf();
                tracing::info!(call_id = %self.call_id, path = %path.display(), "call recording started");
                if let Some(rel) = relative_to(&path, &self.recordings_dir) {
                    self.recordings.push(rel);
                }
                self.call_rec = Some(CallRecording {
                    rec,
                    caller: VecDeque::new(),
                    mix: Vec::new(),
                    masked: false,
                    stereo,
                });
                Ok(Some(path))
            }
            Err(e) => {
                tracing::warn!(call_id = %self.call_id, error = %e, "call recording not started");
                self.errors.push(format!("recording failed: {e}"));
                Ok(None)
            }
        }
    }

    async fn join_room(
        &mut self,
        room: &str,
        options: &RoomOptions,
    ) -> Result<RoomExit, MediaError> {
        if self.stream.is_none() {
            self.answer().await?;
        }
        let rate = self.sample_rate();
        let joined = match self.rooms.join(room, options, rate).await {
            Ok(j) => j,
            Err(JoinError::Full) => {
                tracing::info!(call_id = %self.call_id, %room, "room full");
                return Ok(RoomExit::Full);
            }
            Err(e) => return Err(MediaError::Failed(format!("conference {room}: {e}"))),
        };
        if let Some(rec) = joined.recording {
            if !self.recordings.contains(&rec) {
                self.recordings.push(rec);
            }
        }
        let mut member = joined.member;
        if options.deaf {
            member.set_deaf(true);
        }
        if options.gain_db != 0 {
            member.set_gain(10f32.powf(options.gain_db as f32 / 20.0));
        }
        tracing::info!(call_id = %self.call_id, %room, member = %member.id(), deaf = options.deaf, gain_db = options.gain_db, "joined room");
        let n = self.frame.len();
        let mut chunk = vec![0i16; n];
        // Feedback beep being played to this member only, and how far.
        let mut notice: Vec<i16> = Vec::new();
        let mut notice_pos = 0;
        // The last keys pressed, as long as the mute key sequence.
        let mute_len = options.mute_key.chars().count();
        let mut recent: VecDeque<char> = VecDeque::with_capacity(mute_len + 1);
        // Hold audio while waiting for a moderator, when the dialplan names a prompt.
        let hold = match &options.hold_prompt {
            Some(name) => match self.prompts.get(name, rate) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(call_id = %self.call_id, %room, error = %e, "hold prompt not played");
                    None
                }
            },
            None => None,
        };
        let mut hold_pos = 0;
        self.rx.clear();
        loop {
            while let Some(k) = self.keys.pop_front() {
                if options.exit_key == Some(k) {
                    tracing::info!(call_id = %self.call_id, %room, "left room");
                    return Ok(RoomExit::Left);
                }
                if mute_len == 0 {
                    continue;
                }
                recent.push_back(k);
                if recent.len() > mute_len {
                    recent.pop_front();
                }
                if recent.iter().copied().eq(options.mute_key.chars()) {
                    recent.clear();
                    let muted = !member.is_muted();
                    member.set_muted(muted);
                    let (f, ms) = if muted { MUTE_ON_TONE } else { MUTE_OFF_TONE };
                    notice = chorus_rtp::conference::tone(rate, f, ms, 6000);
                    notice_pos = 0;
                    tracing::info!(call_id = %self.call_id, %room, muted, "mute toggled");
                }
            }
            if member.is_ended() {
                tracing::info!(call_id = %self.call_id, %room, "room ended: the moderator left");
                return Ok(RoomExit::Ended);
            }
            // Leaving on any error: `member` drops on return and the room notices.
            // Also where a member that sends no RTP for `rtp_timeout` leaves (and is hung up).
            self.tick(true).await?;
            // What the caller said: one frame per tick, at most two frames behind.
            let excess = self.rx.len().saturating_sub(2 * n);
            self.rx.drain(..excess);
            if self.rx.len() >= n {
                for (dst, src) in chunk.iter_mut().zip(self.rx.drain(..n)) {
                    *dst = src;
                }
                if member.send(&chunk).is_err() {
                    if member.is_ended() {
                        tracing::info!(call_id = %self.call_id, %room, "room ended: the moderator left");
                        return Ok(RoomExit::Ended);
                    }
                    return Err(MediaError::Failed(format!("conference {room} ended")));
                }
            }
            // What the caller hears: the room's mix-minus, silence when none came.
            member.next_frame(&mut self.frame);
            if let (Some(p), true) = (hold.as_ref(), member.is_waiting()) {
                let s = &p.samples;
                if !s.is_empty() {
                    for o in self.frame.iter_mut() {
                        hold_pos %= s.len();
                        *o = s[hold_pos];
                        hold_pos += 1;
                    }
                }
            }
            if notice_pos < notice.len() {
                let end = (notice_pos + n).min(notice.len());
                for (o, t) in self.frame.iter_mut().zip(&notice[notice_pos..end]) {
                    *o = o.saturating_add(*t);
                }
                notice_pos = end;
            }
            self.send_frame().await?;
        }
    }

    async fn transfer(&mut self, target: &str, mode: TransferMode) -> Result<bool, MediaError> {
        // The interpreter resolves `auto`: redirect before the answer, REFER after.
        let redirect = matches!(mode, TransferMode::Redirect);
        if redirect == self.answered {
            return Ok(false);
        }
        self.transfer_result = None;
        self.transfer_progress = None;
        self.command(Command::Transfer(self.handle, target.to_string(), redirect))
            .await?;
        let mut deadline = Instant::now() + TRANSFER_WAIT;
        loop {
            if let Some(ok) = self.transfer_result.take() {
                if ok {
                    if redirect {
                        // The 302 ended the call.
                        self.ended = true;
                    } else {
                        // RFC 5589 §6: the new call is up; we leave the dialog.
                        self.hangup().await;
                    }
                }
                return Ok(ok);
            }
            if let Some(status) = self.transfer_progress.take() {
                tracing::debug!(call_id = %self.call_id, status, "transfer in progress");
                deadline = Instant::now() + TRANSFER_RING_WAIT;
            }
            if Instant::now() >= deadline {
                tracing::warn!(call_id = %self.call_id, %target, "transfer: no final status in time; the call goes on");
                return Ok(false);
            }
            self.silent_tick().await?;
        }
    }

    async fn send_dtmf(
        &mut self,
        digits: &str,
        duration: Duration,
        gap: Duration,
    ) -> Result<(), MediaError> {
        if self.stream.is_none() {
            self.answer().await?;
        }
        let mut rest = digits.chars().peekable();
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return Err(MediaError::Failed("media not started".into()));
            };
            // The stream holds a bounded queue; the rest waits for room.
            while let Some(&k) = rest.peek() {
                match stream.queue_dtmf(k, duration, gap) {
                    Ok(()) => {
                        rest.next();
                        if self.dtmf_sent.len() < 256 {
                            self.dtmf_sent.push(k);
                        }
                    }
                    Err(SendError::QueueFull) => break,
                    Err(e) => return Err(MediaError::Failed(format!("send_dtmf: {e}"))),
                }
            }
            if rest.peek().is_none() && !stream.is_sending_dtmf() {
                tracing::debug!(call_id = %self.call_id, %digits, events = stream.sends_dtmf_events(), "dtmf sent");
                return Ok(());
            }
            // Silence under the keys: the stream writes their tones into it or sends events instead.
            self.tick(false).await?;
            self.frame.fill(0);
            self.send_frame().await?;
        }
    }

    async fn hangup_with(&mut self, reason: HangupReason) {
        if !self.ended {
            let status = (!self.answered).then(|| reason.status_before_answer());
            let _ = self
                .commands
                .send(Command::HangupWith(self.handle, status))
                .await;
            self.ended = true;
        }
    }

    fn is_answered(&self) -> bool {
        self.answered
    }

    async fn recording(&mut self, name: &str) -> Result<Option<Prompt>, MediaError> {
        let Some(path) = recording_file(&self.recordings_dir, name) else {
            tracing::warn!(call_id = %self.call_id, recording = %name, "not a recording name");
            return Ok(None);
        };
        if !path.is_file() {
            tracing::warn!(call_id = %self.call_id, path = %path.display(), "recording not found");
            return Ok(None);
        }
        let rate = self.sample_rate();
        let stem = name.to_string();
        // A long recording takes a while to decode and resample: off the call task's thread.
        let loaded = tokio::task::spawn_blocking(move || {
            chorus_dialplan::prompt::load_file(&stem, &path, rate)
        })
        .await;
        match loaded {
            Ok(Ok(p)) => Ok(Some(p)),
            Ok(Err(e)) => {
                tracing::warn!(call_id = %self.call_id, error = %e, "recording not played");
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(call_id = %self.call_id, error = %e, "recording decoder failed");
                Ok(None)
            }
        }
    }

    fn call_var(&self, name: &str) -> Option<String> {
        match name {
            "caller" => Some(self.parties.caller.clone()),
            "caller_name" => Some(self.parties.caller_name.clone()),
            "called" => Some(self.parties.called.clone()),
            "call_id" => Some(self.call_id.clone()),
            _ => {
                let header = name.strip_prefix(chorus_dialplan::model::HEADER_VAR_PREFIX)?;
                self.parties.headers.get(header).map(str::to_string)
            }
        }
    }

    fn sample_rate(&self) -> u32 {
        self.stream
            .as_ref()
            .map(|s| s.sample_rate())
            .unwrap_or_else(|| self.codec().sample_rate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_names_stay_in_the_recordings_directory() {
        let dir = Path::new("/var/rec");
        let file = |n: &str| recording_file(dir, n);
        assert_eq!(file("msg-1"), Some(dir.join("msg-1.wav")));
        assert_eq!(file("msg-1.wav"), Some(dir.join("msg-1.wav")));
        assert_eq!(
            file("recordings/vm-2001-20261202T061500123.wav"),
            Some(dir.join("vm-2001-20261202T061500123.wav")),
            "the value `record ... into` gives"
        );
        assert_eq!(file("../../etc/passwd"), Some(dir.join("passwd.wav")));
        for bad in ["", ".hidden", "a b", "x;rm", "..", "/", "é"] {
            assert_eq!(file(bad), None, "{bad:?}");
        }
    }
}
