//! Wiring (ARCHITECTURE.md "How a call flows"): one task owns the SIP endpoint and the SIP sockets; each
//! answered call gets a task that owns its RTP socket and runs the dialplan. They talk over channels: call
//! tasks send [`Command`]s, the SIP task sends each call [`Signal`]s. Nothing on the media path is shared.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chorus_dialplan::interpreter::Vars;
use chorus_dialplan::{Dialplan, PromptCache};
use chorus_rtp::dtmf::{DtmfEvent, DtmfSource};
use chorus_rtp::ports::PortAllocator;
use chorus_sip::endpoint::{CallHandle, EndReason, Endpoint, EndpointConfig, Event, IncomingCall};
use chorus_sip::sdp::{self, CodecSpec, Direction, LocalMedia, Negotiated};
use chorus_sip::transport::SipTransport;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::call::{self, CallSetup};
use crate::calllog::{CallLog, CallRecord, RtpSummary, TransferRecord};
use crate::config::Config;
use crate::rooms::Rooms;

/// How long a SIGTERM waits for BYEs to complete before exiting anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// What a call task asks of the SIP task.
#[derive(Debug)]
pub enum Command {
    /// Send 180 Ringing.
    Ring(CallHandle),
    /// Send 200 OK with the call's SDP.
    Answer(CallHandle),
    /// Send 183 Session Progress with the call's SDP (early media).
    Progress(CallHandle),
    /// End the call from our side.
    Hangup(CallHandle),
    /// End the call from our side; before the answer, with this final status (486, 603...).
    HangupWith(CallHandle, Option<u16>),
    /// The call task is done: what the call log needs from it.
    Done(CallHandle, Box<CallReport>),
    /// Send the caller elsewhere: 302 with this Contact before the answer (true), REFER after (false).
    Transfer(CallHandle, String, bool),
    /// No RTP has come for `rtp_timeout`: end the call (`end_reason: "rtp_timeout"`).
    RtpTimeout(CallHandle),
}

/// What a call task reports when it ends.
#[derive(Debug, Default)]
pub struct CallReport {
    /// Every key press, once each, in order.
    pub dtmf: String,
    /// Keys the dialplan sent (`send_dtmf`), in order.
    pub dtmf_sent: String,
    /// The dialplan's variables.
    pub vars: Vars,
    /// Recordings, relative to the recordings directory.
    pub recordings: Vec<String>,
    /// RTP figures.
    pub rtp: Option<RtpSummary>,
    /// The dialplan failed (logged as `error` unless the call ended otherwise first).
    pub failed: bool,
    /// Media failures the call survived.
    pub errors: Vec<String>,
}

/// What the SIP task tells a call task.
#[derive(Debug)]
pub enum Signal {
    /// The ACK arrived; for a call whose INVITE had no offer, the negotiated media from the ACK's answer.
    Confirmed(Option<Negotiated>),
    /// The PRACK of our reliable 183 brought the answer to our offer (an INVITE without one): media
    /// negotiated, early media can start.
    EarlyAnswer(Negotiated),
    /// A re-INVITE or UPDATE renegotiated the media (address, codec, payload types, RTCP); sent before
    /// the [`Signal::Hold`] of the same offer.
    Renegotiated(Negotiated),
    /// The peer put us on hold (true) or took us off it (false): stop or resume sending.
    Hold(bool),
    /// A key press from SIP INFO.
    Dtmf(DtmfEvent),
    /// The outcome of a transfer: true when the caller's new call was answered (the REFER's NOTIFY said
    /// 2xx) or the caller was redirected (302); false when the REFER was refused or the new call failed.
    Transferred(bool),
    /// A transfer is under way: the REFER was accepted, or a NOTIFY reported a provisional status.
    TransferProgress(u16),
    /// The call is over.
    Ended,
}

/// How often the dialplan file is checked for changes (live reload without SIGHUP).
const RELOAD_POLL: Duration = Duration::from_secs(2);

/// What tells a changed file: its modification time and length (None when unreadable).
fn file_stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// How long a call's log line waits for its task's report after the dialog ended.
const REPORT_WAIT: Duration = Duration::from_secs(2);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The dialplan is invalid.
    #[error("dialplan has errors:\n{0}")]
    Dialplan(String),
    /// A socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The RTP port range is unusable.
    #[error("rtp ports: {0}")]
    Ports(String),
    /// The call log cannot be opened.
    #[error("cannot open call log {path}: {source}")]
    CallLog {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

struct Call {
    record: CallRecord,
    signals: mpsc::UnboundedSender<Signal>,
    local: LocalMedia,
    /// SDP for our 200 OK: the answer, or our offer when the INVITE had none.
    body: Vec<u8>,
    late_offer: bool,
    /// The codec the call's media runs with, once negotiated: a re-offer keeps it when it can.
    codec: Option<CodecSpec>,
    /// Set when we decided to end the call, to log why.
    ending: Option<&'static str>,
    /// The dialog is over (and why); the line is written once the task's report is in too.
    ended: Option<Option<EndReason>>,
    /// The call task's report arrived.
    report_in: bool,
    /// The caller accepted our REFER and its new call has no final status yet: if it hangs up on us now,
    /// the call was transferred (RFC 5589 lets the transferee leave first).
    transfer_pending: bool,
    /// When to write the line without the report (a task that died).
    report_deadline: Option<Instant>,
}

struct Server {
    config: Config,
    endpoint: Endpoint,
    transport: SipTransport,
    plan: Arc<Dialplan>,
    prompts: Arc<PromptCache>,
    ports: PortAllocator,
    /// Conference rooms, shared by the call tasks.
    rooms: Rooms,
    log: CallLog,
    calls: HashMap<CallHandle, Call>,
    commands: mpsc::Sender<Command>,
    rng: StdRng,
    shutting_down: bool,
    /// SIGUSR1: refusing new calls (503) while the calls in progress finish, then exiting.
    draining: bool,
}

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<(), ServerError> {
    let plan = Dialplan::load(&config.dialplan, Some(&config.prompts)).map_err(|errs| {
        ServerError::Dialplan(
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let prompts = Arc::new(PromptCache::new(&config.prompts));
    for name in plan.prompt_names() {
        if let Err(e) = prompts.get(name, 8000) {
            tracing::warn!(error = %e, "prompt will fail when played");
        }
    }
    let ports = PortAllocator::new(config.rtp_ports.0, config.rtp_ports.1)
        .map_err(|e| ServerError::Ports(e.to_string()))?;
    let log = CallLog::open(&config.call_log).map_err(|source| ServerError::CallLog {
        path: config.call_log.clone(),
        source,
    })?;
    match chorus_dialplan::recorder::repair_dir(&config.recordings) {
        Ok(fixed) if !fixed.is_empty() => {
            tracing::warn!(
                files = fixed.len(),
                "repaired recordings a crash left behind"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot check recordings for crash damage"),
    }
    let transport = SipTransport::bind(config.sip)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.sip,
            source,
        })?;
    let local_addr = transport.local_addr();
    let endpoint = Endpoint::new(
        EndpointConfig {
            local_addr,
            user_agent: format!("Chorus/{}", env!("CARGO_PKG_VERSION")),
            ..EndpointConfig::default()
        },
        StdRng::from_entropy(),
    );
    let mut term = signal(SignalKind::terminate()).map_err(ServerError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServerError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(ServerError::Signals)?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(ServerError::Signals)?;
    let mut watch = tokio::time::interval(RELOAD_POLL);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut plan_stamp = file_stamp(&config.dialplan);
    let (commands, mut command_rx) = mpsc::channel(4096);
    tracing::info!(
        sip = %local_addr,
        media_ip = %config.media_ip,
        rtp_ports = %format!("{}-{}", config.rtp_ports.0, config.rtp_ports.1),
        dialplan = %config.dialplan.display(),
        routes = plan.routes.len(),
        "chorus listening (udp, tcp)"
    );
    let rooms = Rooms::new(config.recordings.clone());
    let mut server = Server {
        config,
        endpoint,
        transport,
        plan: Arc::new(plan),
        prompts,
        ports,
        rooms,
        log,
        calls: HashMap::new(),
        commands,
        rng: StdRng::from_entropy(),
        shutting_down: false,
        draining: false,
    };
    let mut deadline: Option<Instant> = None;
    loop {
        let timeout = server.endpoint.poll_timeout().map(Instant::from_std);
        let report_deadline = server
            .calls
            .values()
            .filter_map(|c| c.report_deadline)
            .min();
        tokio::select! {
            _ = term.recv(), if !server.shutting_down => {
                deadline = Some(Instant::now() + SHUTDOWN_GRACE);
                server.begin_shutdown("SIGTERM");
            }
            _ = usr1.recv(), if !server.draining && !server.shutting_down => {
                server.begin_drain();
            }
            _ = hup.recv() => {
                plan_stamp = file_stamp(&server.config.dialplan);
                server.reload("SIGHUP");
            }
            _ = watch.tick() => {
                let stamp = file_stamp(&server.config.dialplan);
                if stamp != plan_stamp {
                    plan_stamp = stamp;
                    server.reload("file changed");
                }
            }
            _ = int.recv(), if !server.shutting_down => {
                deadline = Some(Instant::now() + SHUTDOWN_GRACE);
                server.begin_shutdown("SIGINT");
            }
            Some(cmd) = command_rx.recv() => server.on_command(cmd),
            input = server.transport.recv() => match input {
                Some((peer, data)) => server.endpoint.handle_input(std::time::Instant::now(), peer, &data),
                None => {
                    tracing::error!("sip transport closed");
                    break;
                }
            },
            _ = tokio::time::sleep_until(timeout.unwrap_or_else(far_future)), if timeout.is_some() => {
                server.endpoint.handle_timeout(std::time::Instant::now());
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {
                server.abandon_remaining();
            }
            _ = tokio::time::sleep_until(report_deadline.unwrap_or_else(far_future)), if report_deadline.is_some() => {
                server.write_overdue();
            }
        }
        server.drain_outputs();
        if (server.shutting_down || server.draining) && server.calls.is_empty() {
            break;
        }
    }
    // Give the transport a moment to put the last BYE responses on the wire.
    tokio::time::sleep(Duration::from_millis(50)).await;
    tracing::info!("chorus stopped");
    Ok(())
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

impl Server {
    fn drain_outputs(&mut self) {
        // Events can lead to more transmits (a rejection), and commands applied here to more events.
        for _ in 0..10_000 {
            let mut progressed = false;
            while let Some(t) = self.endpoint.poll_transmit() {
                self.transport.send(t);
                progressed = true;
            }
            while let Some(e) = self.endpoint.poll_event() {
                self.on_event(e);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        let now = std::time::Instant::now();
        match event {
            Event::IncomingCall(ic) => self.on_incoming(*ic),
            Event::Confirmed { call, body } => {
                let Some(entry) = self.calls.get_mut(&call) else {
                    return;
                };
                if !entry.late_offer {
                    let _ = entry.signals.send(Signal::Confirmed(None));
                    return;
                }
                let negotiated = body
                    .as_deref()
                    .ok_or_else(|| "ack carried no sdp answer".to_string())
                    .and_then(|b| sdp::accept_answer(b, &entry.local).map_err(|e| e.to_string()));
                match negotiated {
                    Ok(n) => {
                        entry.codec = Some(n.codec.clone());
                        let _ = entry.signals.send(Signal::Confirmed(Some(n)));
                    }
                    Err(reason) => {
                        tracing::warn!(call_id = %entry.record.call_id, %reason, "late offer failed");
                        entry.ending = Some("error");
                        let _ = entry.signals.send(Signal::Ended);
                        let _ = self.endpoint.hangup(now, call);
                    }
                }
            }
            Event::EarlyAnswer { call, body } => {
                let Some(entry) = self.calls.get_mut(&call) else {
                    return;
                };
                let negotiated = body
                    .as_deref()
                    .ok_or_else(|| "prack carried no sdp answer".to_string())
                    .and_then(|b| sdp::accept_answer(b, &entry.local).map_err(|e| e.to_string()));
                match negotiated {
                    Ok(n) => {
                        // The offer/answer is done: the 2xx repeats our SDP, and the ACK brings none.
                        entry.late_offer = false;
                        entry.codec = Some(n.codec.clone());
                        let _ = entry.signals.send(Signal::EarlyAnswer(n));
                    }
                    Err(reason) => {
                        tracing::warn!(call_id = %entry.record.call_id, %reason, "early offer failed: 488");
                        entry.ending = Some("error");
                        entry.record.status = Some(488);
                        let _ = entry.signals.send(Signal::Ended);
                        let _ = self.endpoint.reject(now, call, 488, &[]);
                    }
                }
            }
            Event::Reoffer { call, offer } => {
                let Some(entry) = self.calls.get_mut(&call) else {
                    return;
                };
                entry.local.session_version += 1;
                let result = match offer {
                    Some(offer) => match sdp::answer(&offer, &reoffer_media(entry)) {
                        Ok(n) => {
                            let hold =
                                matches!(n.direction, Direction::RecvOnly | Direction::Inactive)
                                    || n.remote_rtp.is_none();
                            let answer = n.answer.clone().into_bytes();
                            if entry.codec.as_ref() != Some(&n.codec) {
                                tracing::info!(call_id = %entry.record.call_id, codec = %n.codec.name, "codec changed by re-offer");
                            }
                            entry.codec = Some(n.codec.clone());
                            // An UPDATE in the early dialog: the 200 to the INVITE carries the SDP
                            // as it now stands.
                            entry.body = answer.clone();
                            let _ = entry.signals.send(Signal::Renegotiated(n));
                            let _ = entry.signals.send(Signal::Hold(hold));
                            self.endpoint.answer_reoffer(now, call, 200, Some(answer))
                        }
                        Err(e) => {
                            // RFC 3261 §14.2: refused, the session goes on as it was.
                            tracing::info!(call_id = %entry.record.call_id, error = %e, "re-offer refused");
                            self.endpoint
                                .answer_reoffer(now, call, e.status_code(), None)
                        }
                    },
                    None => {
                        // The caller asks us to offer (a re-INVITE without SDP): offer the codec the
                        // call runs with, alone, so whatever the ACK answers, the media stays as it is.
                        let mut local = reoffer_media(entry);
                        local.codecs.truncate(1);
                        self.endpoint.answer_reoffer(
                            now,
                            call,
                            200,
                            Some(sdp::reoffer(&local).into_bytes()),
                        )
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, "re-offer not answered");
                }
            }
            Event::Info {
                call,
                content_type,
                body,
            } => {
                let Some(entry) = self.calls.get(&call) else {
                    return;
                };
                match chorus_sip::dtmf_info::parse(&content_type, &body) {
                    Some(d) => {
                        let ev = DtmfEvent {
                            digit: d.digit,
                            start: now,
                            duration: d.duration.unwrap_or(Duration::from_millis(100)),
                            source: DtmfSource::Info,
                        };
                        let _ = entry.signals.send(Signal::Dtmf(ev));
                    }
                    None => tracing::debug!(?call, %content_type, "info without a digit ignored"),
                }
            }
            Event::ReferResult {
                call,
                accepted,
                status,
            } => {
                if let Some(entry) = self.calls.get_mut(&call) {
                    tracing::info!(call_id = %entry.record.call_id, accepted, ?status, "refer answered");
                    entry.transfer_pending = accepted;
                    if let Some(t) = entry.record.transfer.as_mut() {
                        if !accepted {
                            t.result = "refused";
                            t.status = status;
                        }
                    }
                    let _ = entry.signals.send(if accepted {
                        Signal::TransferProgress(202)
                    } else {
                        Signal::Transferred(false)
                    });
                }
            }
            Event::ReferProgress {
                call,
                status,
                terminated,
            } => {
                let Some(entry) = self.calls.get_mut(&call) else {
                    return;
                };
                tracing::info!(call_id = %entry.record.call_id, ?status, terminated, "transfer progress");
                match status {
                    Some(s) if s >= 200 => {
                        entry.transfer_pending = false;
                        let ok = (200..300).contains(&s);
                        if ok {
                            entry.ending = Some("transferred");
                        }
                        if let Some(t) = entry.record.transfer.as_mut() {
                            t.result = if ok { "transferred" } else { "failed" };
                            t.status = Some(s);
                        }
                        let _ = entry.signals.send(Signal::Transferred(ok));
                    }
                    // The subscription ended with no final word on the new call: not a transfer we can
                    // vouch for; the dialplan goes on.
                    _ if terminated => {
                        entry.transfer_pending = false;
                        if let Some(t) = entry.record.transfer.as_mut() {
                            t.result = "failed";
                        }
                        let _ = entry.signals.send(Signal::Transferred(false));
                    }
                    Some(s) => {
                        let _ = entry.signals.send(Signal::TransferProgress(s));
                    }
                    None => {}
                }
            }
            Event::Ended { call, reason } => {
                let Some(entry) = self.calls.get_mut(&call) else {
                    return;
                };
                let _ = entry.signals.send(Signal::Ended);
                if entry.transfer_pending
                    && reason == EndReason::RemoteBye
                    && entry.ending.is_none()
                {
                    entry.ending = Some("transferred");
                    if let Some(t) = entry.record.transfer.as_mut() {
                        t.result = "transferred";
                    }
                }
                entry.ended = Some(Some(reason));
                if entry.report_in {
                    self.finish_call(call);
                } else {
                    entry.report_deadline = Some(Instant::now() + REPORT_WAIT);
                }
            }
            _ => {}
        }
    }

    fn on_incoming(&mut self, ic: IncomingCall) {
        let now = std::time::Instant::now();
        let mut record = CallRecord {
            call_id: ic.call_id.clone(),
            from: ic.from.uri.to_string(),
            to: ic.to.uri.to_string(),
            route: None,
            started_at: SystemTime::now(),
            answered_at: None,
            early_media_at: None,
            ended_at: None,
            end_reason: String::new(),
            status: None,
            dtmf: String::new(),
            recordings: Vec::new(),
            vars: Default::default(),
            rtp: None,
            errors: Vec::new(),
            transfer: None,
            dtmf_sent: String::new(),
        };
        let user = ic.request_uri.user().unwrap_or_default().to_string();
        let reject =
            |server: &mut Server, mut record: CallRecord, status: u16, headers: &[(&str, &str)]| {
                let _ = server.endpoint.reject(now, ic.handle, status, headers);
                record.status = Some(status);
                server.finish(record, Some("rejected"), None);
            };
        if self.shutting_down || self.draining {
            return reject(self, record, 503, &[("Retry-After", "30")]);
        }
        let plan = self.plan.clone();
        let Some((route_index, vars)) = plan.find(&user) else {
            tracing::info!(call_id = %ic.call_id, %user, "no route: 404");
            return reject(self, record, 404, &[]);
        };
        record.route = Some(plan.routes[route_index].name.clone());
        let route_vars: Vars = vars.into_iter().collect();
        record.vars = route_vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // A call counts until its dialog ends: once the BYE is answered the caller (and a proxy
        // counting calls) sees the slot free, while the task may still be writing its recording.
        let live = self.calls.values().filter(|c| c.ended.is_none()).count();
        if live >= self.config.max_calls {
            tracing::warn!(call_id = %ic.call_id, max = self.config.max_calls, "call limit reached: 503");
            return reject(self, record, 503, &[("Retry-After", "5")]);
        }
        let socket = match self.ports.bind(self.config.media_ip) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "no rtp port: 503");
                return reject(self, record, 503, &[("Retry-After", "5")]);
            }
        };
        let local = LocalMedia {
            ip: self.config.media_ip,
            port: socket.port(),
            codecs: self
                .config
                .codecs
                .iter()
                .filter_map(|n| chorus_rtp::codec::Codec::from_name(n))
                .map(|c| CodecSpec {
                    name: c.name().to_string(),
                    clock_rate: c.clock_rate(),
                    channels: 1,
                    static_pt: c.static_payload_type(),
                })
                .collect(),
            telephone_event: true,
            ptime_ms: 20,
            session_id: self.rng.gen_range(1..(1u64 << 62)),
            session_version: 1,
        };
        let negotiated = match &ic.offer {
            Some(offer) => match sdp::answer(offer, &local) {
                Ok(n) => Some(n),
                Err(e) => {
                    tracing::info!(call_id = %ic.call_id, error = %e, "offer refused");
                    return reject(self, record, e.status_code(), &[]);
                }
            },
            None => None,
        };
        let late_offer = negotiated.is_none();
        let codec = negotiated.as_ref().map(|n| n.codec.clone());
        let reliable_provisionals = ic.takes_reliable_provisionals();
        let body = match &negotiated {
            Some(n) => n.answer.clone().into_bytes(),
            None => sdp::offer(&local).into_bytes(),
        };
        let (signals, signal_rx) = mpsc::unbounded_channel();
        let setup = CallSetup {
            handle: ic.handle,
            call_id: ic.call_id.clone(),
            plan,
            route_index,
            prompts: self.prompts.clone(),
            socket,
            negotiated,
            reliable_provisionals,
            commands: self.commands.clone(),
            signals: signal_rx,
            ssrc: self.rng.gen(),
            initial_seq: self.rng.gen(),
            initial_timestamp: self.rng.gen(),
            vars: route_vars,
            recordings: self.config.recordings.clone(),
            rtp_timeout: self.config.rtp_timeout,
            jitter: self.config.jitter,
            from: record.from.clone(),
            to: record.to.clone(),
            caller: call::CallParties {
                caller: ic.from.uri.user().unwrap_or_default().to_string(),
                caller_name: ic.from.display.clone().unwrap_or_default(),
                called: user.clone(),
                headers: ic.request.headers.clone(),
            },
            rooms: self.rooms.clone(),
        };
        tracing::info!(call_id = %ic.call_id, %user, route = %record.route.as_deref().unwrap_or(""), "call");
        // A task that panics still reports, so its call-log line is written at once.
        let task = tokio::spawn(call::run(setup));
        let commands = self.commands.clone();
        let handle = ic.handle;
        tokio::spawn(async move {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "call task died");
                let report = CallReport {
                    failed: true,
                    ..CallReport::default()
                };
                let _ = commands.send(Command::Done(handle, Box::new(report))).await;
            }
        });
        self.calls.insert(
            ic.handle,
            Call {
                record,
                signals,
                local,
                body,
                late_offer,
                codec,
                ending: None,
                ended: None,
                transfer_pending: false,
                report_in: false,
                report_deadline: None,
            },
        );
    }

    fn on_command(&mut self, cmd: Command) {
        let now = std::time::Instant::now();
        match cmd {
            Command::Ring(h) => {
                if self.calls.contains_key(&h) {
                    let _ = self.endpoint.ring(now, h);
                }
            }
            Command::Progress(h) => {
                let Some(entry) = self.calls.get_mut(&h) else {
                    return;
                };
                match self.endpoint.progress(now, h, entry.body.clone()) {
                    Ok(()) => entry.record.early_media_at = Some(SystemTime::now()),
                    Err(e) => tracing::debug!(error = %e, "early media refused"),
                }
            }
            Command::Answer(h) => {
                let Some(entry) = self.calls.get_mut(&h) else {
                    return;
                };
                match self.endpoint.answer(now, h, entry.body.clone()) {
                    Ok(()) => {
                        entry.record.answered_at = Some(SystemTime::now());
                        entry.record.status = Some(200);
                    }
                    Err(e) => tracing::debug!(error = %e, "answer refused"),
                }
            }
            Command::Done(h, report) => {
                let Some(entry) = self.calls.get_mut(&h) else {
                    return;
                };
                entry.record.dtmf = report.dtmf;
                entry.record.dtmf_sent = report.dtmf_sent;
                entry.record.vars = report.vars.into_iter().collect();
                entry.record.recordings = report.recordings;
                entry.record.rtp = report.rtp;
                entry.record.errors = report.errors;
                if report.failed && entry.ending.is_none() && entry.ended.is_none() {
                    entry.ending = Some("error");
                }
                entry.report_in = true;
                if entry.ended.is_some() {
                    self.finish_call(h);
                }
            }
            Command::Transfer(h, target, redirect) => {
                let Some(entry) = self.calls.get_mut(&h) else {
                    return;
                };
                entry.record.transfer = Some(TransferRecord {
                    to: target.clone(),
                    mode: if redirect { "redirect" } else { "refer" },
                    result: if redirect { "transferred" } else { "pending" },
                    status: redirect.then_some(302),
                });
                let ok = if redirect {
                    entry.ending = Some("transferred");
                    entry.record.status = Some(302);
                    let contact = format!("<{target}>");
                    self.endpoint
                        .reject(now, h, 302, &[("Contact", contact.as_str())])
                        .is_ok()
                } else {
                    self.endpoint.refer(now, h, &target).is_ok()
                };
                if let Some(entry) = self.calls.get_mut(&h) {
                    if !ok {
                        if let Some(t) = entry.record.transfer.as_mut() {
                            t.result = "failed";
                            t.status = None;
                        }
                    }
                    if redirect || !ok {
                        let _ = entry.signals.send(Signal::Transferred(ok));
                    }
                }
            }
            Command::HangupWith(h, Some(status)) if !self.answered(h) => {
                let Some(entry) = self.calls.get_mut(&h) else {
                    return;
                };
                if entry.ending.is_none() {
                    entry.ending = Some("server_bye");
                }
                entry.record.status = Some(status);
                let _ = self.endpoint.reject(now, h, status, &[]);
            }
            Command::RtpTimeout(h) => {
                if let Some(entry) = self.calls.get_mut(&h) {
                    entry.ending.get_or_insert("rtp_timeout");
                    if let Err(e) = self.endpoint.hangup(now, h) {
                        tracing::debug!(error = %e, "hangup after rtp timeout");
                    }
                }
            }
            Command::Hangup(h) | Command::HangupWith(h, _) => {
                let Some(entry) = self.calls.get_mut(&h) else {
                    return;
                };
                if entry.ending.is_none() {
                    entry.ending = Some("server_bye");
                }
                if entry.record.answered_at.is_none() {
                    entry.record.status = Some(480);
                }
                if let Err(e) = self.endpoint.hangup(now, h) {
                    tracing::debug!(error = %e, "hangup refused");
                }
            }
        }
    }

    /// Live reload: a valid new dialplan serves new calls (calls in progress keep theirs); an invalid
    /// one is refused with its errors logged, and the running one stays.
    fn reload(&mut self, why: &str) {
        match Dialplan::load(&self.config.dialplan, Some(&self.config.prompts)) {
            Ok(plan) => {
                for name in plan.prompt_names() {
                    if let Err(e) = self.prompts.get(name, 8000) {
                        tracing::warn!(error = %e, "prompt will fail when played");
                    }
                }
                tracing::info!(
                    trigger = why,
                    routes = plan.routes.len(),
                    dialplan = %self.config.dialplan.display(),
                    "dialplan reloaded"
                );
                self.plan = Arc::new(plan);
            }
            Err(errors) => {
                for e in &errors {
                    tracing::error!(trigger = why, "{e}");
                }
                tracing::error!(
                    trigger = why,
                    errors = errors.len(),
                    "dialplan reload refused; the previous dialplan stays in service"
                );
            }
        }
    }

    fn answered(&self, h: CallHandle) -> bool {
        self.calls
            .get(&h)
            .is_some_and(|c| c.record.answered_at.is_some())
    }

    /// Writes the line of a call whose dialog is over (its task's report in, or overdue).
    fn finish_call(&mut self, h: CallHandle) {
        if let Some(entry) = self.calls.remove(&h) {
            let reason = entry.ended.flatten();
            self.finish(entry.record, entry.ending, reason);
        }
    }

    /// Writes the lines of ended calls whose task never reported.
    fn write_overdue(&mut self) {
        let now = Instant::now();
        let overdue: Vec<CallHandle> = self
            .calls
            .iter()
            .filter(|(_, c)| c.ended.is_some() && c.report_deadline.is_some_and(|d| d <= now))
            .map(|(h, _)| *h)
            .collect();
        for h in overdue {
            tracing::warn!("call task did not report in time; writing its line without it");
            self.finish_call(h);
        }
    }

    fn finish(
        &mut self,
        mut record: CallRecord,
        ending: Option<&'static str>,
        reason: Option<EndReason>,
    ) {
        record.ended_at = Some(SystemTime::now());
        record.end_reason = ending
            .unwrap_or(match reason {
                Some(EndReason::RemoteBye) => "caller_bye",
                Some(EndReason::LocalBye) => "server_bye",
                Some(EndReason::Cancelled) => "cancelled",
                Some(EndReason::AckTimeout) => "timeout",
                Some(EndReason::Rejected) => "rejected",
                Some(EndReason::SessionExpired) => "session_expired",
                _ => "error",
            })
            .to_string();
        if record.end_reason == "cancelled" {
            record.status = Some(487);
        }
        tracing::info!(call_id = %record.call_id, reason = %record.end_reason, "call ended");
        self.log.append(&record);
    }

    /// Drain mode (SIGUSR1): new INVITEs and OPTIONS get 503 with Retry-After, so a dispatcher moves
    /// traffic to other instances; calls in progress finish normally; the process exits when the last
    /// one has. SIGTERM still ends everything at once.
    fn begin_drain(&mut self) {
        tracing::info!(
            calls = self.calls.len(),
            "draining: refusing new calls; exiting when the last call ends"
        );
        self.draining = true;
        self.endpoint.set_draining(Some(30));
    }

    fn begin_shutdown(&mut self, why: &str) {
        tracing::info!(
            signal = why,
            calls = self.calls.len(),
            "shutting down: ending calls"
        );
        self.shutting_down = true;
        self.endpoint.set_draining(Some(30));
        let now = std::time::Instant::now();
        let handles: Vec<CallHandle> = self.calls.keys().copied().collect();
        for h in handles {
            if let Some(entry) = self.calls.get_mut(&h) {
                entry.ending = Some("shutdown");
                let _ = entry.signals.send(Signal::Ended);
            }
            let _ = self.endpoint.hangup(now, h);
        }
    }

    /// The grace period is over: log the calls whose BYE never completed and let the loop end.
    fn abandon_remaining(&mut self) {
        let remaining: Vec<Call> = self.calls.drain().map(|(_, c)| c).collect();
        for entry in remaining {
            let _ = entry.signals.send(Signal::Ended);
            self.finish(entry.record, Some("shutdown"), None);
        }
    }
}

/// What we can answer a re-offer with: a call's media runs at one sample rate for its whole life (its
/// prompts, recordings and room membership are at that rate), so only codecs at the current codec's
/// sample and clock rate, the current one first, to keep it when the offer still has it (RFC 3264 §8.3.2
/// lets a new codec be chosen; G.711 µ-law and A-law swap in place). An offer with none of them is
/// refused (488) and the call goes on unchanged.
fn reoffer_media(entry: &Call) -> LocalMedia {
    let mut local = entry.local.clone();
    let Some(current) = &entry.codec else {
        return local;
    };
    let rates = |spec: &CodecSpec| {
        chorus_rtp::codec::Codec::from_name(&spec.name).map(|c| (c.sample_rate(), c.clock_rate()))
    };
    let want = rates(current);
    local.codecs.retain(|c| rates(c) == want);
    local.codecs.sort_by_key(|c| c != current);
    local
}
