//! The endpoint user agent (RFC 3261 §8.2, §12, §13.3, §15, §17, RFC 3581, RFC 6026): a UAS that takes
//! incoming calls, and the UAC side needed to end them (BYE).
//!
//! Sans-IO: [`Endpoint::handle_input`] takes what the transport received with the time it arrived;
//! [`Endpoint::poll_transmit`] gives what to send, [`Endpoint::poll_event`] what the application must hear,
//! [`Endpoint::poll_timeout`] when to call [`Endpoint::handle_timeout`]. The application acts on a call
//! through its [`CallHandle`]: [`Endpoint::ring`], [`Endpoint::answer`], [`Endpoint::reject`],
//! [`Endpoint::hangup`], [`Endpoint::answer_reoffer`]. Branches and tags come from the injected generator.
//!
//! Handled: INVITE (with and without offer), ACK, CANCEL before the answer (487 + 200), BYE in both
//! directions, re-INVITE (hold, resume, codec change) answered by the application, INFO passed up, OPTIONS
//! answered with Allow/Accept. Other known methods get 405 with Allow, unknown ones 501, requests in an
//! unknown dialog 481. Loose routing: in-dialog requests follow the Record-Route set back through the proxy.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::Rng;

use crate::message::{
    split_list, Headers, Message, Method, NameAddr, Request, Response, Transport, Via,
};
use crate::peer::{Peer, Transmit};
use crate::transaction::{Kind, State, TimerValues, Transaction};
use crate::uri::Uri;

/// The methods Chorus handles, for Allow headers.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, NOTIFY, PRACK";
/// The option tags Chorus supports: RFC 4028 session timers.
const SUPPORTED: &[&str] = &["timer", "100rel"];
/// Our smallest acceptable session interval (RFC 4028 §4: at least 90 s).
pub const MIN_SE: u32 = 90;

/// Endpoint settings.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// The address the transport listens on: Via sent-by and Contact.
    pub local_addr: SocketAddr,
    /// Sent in User-Agent and Server headers.
    pub user_agent: String,
    /// RFC 3261 T1 (round-trip estimate).
    pub t1: Duration,
    /// RFC 3261 T2 (largest retransmit interval).
    pub t2: Duration,
    /// RFC 3261 T4 (network lifetime of a message).
    pub t4: Duration,
}

impl Default for EndpointConfig {
    fn default() -> EndpointConfig {
        EndpointConfig {
            local_addr: SocketAddr::from(([127, 0, 0, 1], 5060)),
            user_agent: "Chorus".to_string(),
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// One call (an INVITE dialog) as the application sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(u64);

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// The peer sent BYE.
    RemoteBye,
    /// We hung up (BYE sent, or a final error response to an unanswered call).
    LocalBye,
    /// The caller cancelled before the answer.
    Cancelled,
    /// Our 2xx was never acknowledged (64*T1); a BYE was sent.
    AckTimeout,
    /// The application rejected the call.
    Rejected,
    /// Our BYE got no response at all (timer F).
    TransportError,
    /// The session timer ran out without a refresh (RFC 4028 §10); we sent BYE.
    SessionExpired,
}

/// A new call for the application to route.
#[derive(Clone, Debug)]
pub struct IncomingCall {
    /// Use it for every later action on the call.
    pub handle: CallHandle,
    /// Call-ID.
    pub call_id: String,
    /// The caller.
    pub from: NameAddr,
    /// The callee as addressed.
    pub to: NameAddr,
    /// The Request-URI: its user part is what dialplans route on.
    pub request_uri: Uri,
    /// The SDP offer, if the INVITE carried one (otherwise the offer goes in our 200 and the answer comes
    /// with the ACK).
    pub offer: Option<Vec<u8>>,
    /// Where the INVITE came from.
    pub source: Peer,
    /// The whole INVITE.
    pub request: Request,
}

impl IncomingCall {
    /// The caller takes reliable provisional responses (RFC 3262 `100rel` in Supported or Require): early
    /// media is possible without an offer in the INVITE (ours goes in a reliable 183, the answer comes in
    /// the PRACK).
    pub fn takes_reliable_provisionals(&self) -> bool {
        rel100_of(&self.request.headers) != Rel100::No
    }
}

/// What the application hears. Poll with [`Endpoint::poll_event`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A new INVITE: answer with [`Endpoint::ring`]/[`Endpoint::answer`], or [`Endpoint::reject`].
    IncomingCall(Box<IncomingCall>),
    /// The ACK for our 2xx arrived; `body` is the SDP answer when our 200 carried the offer.
    Confirmed {
        /// The call.
        call: CallHandle,
        /// The ACK's body, if any.
        body: Option<Vec<u8>>,
    },
    /// The PRACK of the reliable 183 that carried our offer (an INVITE without one, see
    /// [`Endpoint::progress`]): `body` is the caller's SDP answer, `None` when the PRACK had none.
    EarlyAnswer {
        /// The call.
        call: CallHandle,
        /// The PRACK's body, if any.
        body: Option<Vec<u8>>,
    },
    /// A re-INVITE: answer it with [`Endpoint::answer_reoffer`].
    Reoffer {
        /// The call.
        call: CallHandle,
        /// The new offer; `None` when the re-INVITE asks us to offer.
        offer: Option<Vec<u8>>,
    },
    /// An INFO in the dialog (already answered 200).
    Info {
        /// The call.
        call: CallHandle,
        /// Its Content-Type.
        content_type: String,
        /// Its body.
        body: Vec<u8>,
    },
    /// The peer answered our REFER (RFC 3515): accepted (2xx) or not (an error or no answer).
    ReferResult {
        /// The call.
        call: CallHandle,
        /// True when the peer accepted to make the new call.
        accepted: bool,
        /// The peer's final status for the REFER (None when it never answered).
        status: Option<u16>,
    },
    /// A NOTIFY of the implicit subscription our REFER created (RFC 3515 §2.4.4), already answered 200:
    /// how the new call the peer placed is doing.
    ReferProgress {
        /// The call.
        call: CallHandle,
        /// The status line of its `message/sipfrag` body (100 trying, 180 ringing, 200 answered, 4xx-6xx
        /// failed), when the body has one.
        status: Option<u16>,
        /// `Subscription-State: terminated`: no more NOTIFYs come for this REFER.
        terminated: bool,
    },
    /// The call is over; the handle is no longer valid.
    Ended {
        /// The call.
        call: CallHandle,
        /// Why.
        reason: EndReason,
    },
}

/// A call action the endpoint could not take (a local fault, not the peer's).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The handle names no live call.
    #[error("no such call")]
    UnknownCall,
    /// The call is not in a state that allows the action.
    #[error("call is {0}")]
    WrongState(&'static str),
    /// `answer_reoffer` with no re-INVITE pending.
    #[error("no re-invite pending")]
    NoReoffer,
    /// Early media asked for a call whose INVITE carried no SDP offer.
    #[error(
        "the invite had no sdp offer and the caller takes no reliable provisionals: no early media"
    )]
    NoOffer,
}

/// Counters for logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Calls alive now.
    pub calls: usize,
    /// Transactions alive now.
    pub transactions: usize,
    /// Messages dropped because they could not be parsed (and could not be answered).
    pub dropped: u64,
    /// Requests answered 400.
    pub bad_requests: u64,
    /// Responses that matched no client transaction.
    pub stray_responses: u64,
}

type TxnId = u64;

/// RFC 3261 §17.2.3 matching key; ACK maps to INVITE, CANCEL has its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TxnKey {
    branch: String,
    sent_by: String,
    method: Method,
}

impl TxnKey {
    fn server(via: &Via, method: &Method) -> TxnKey {
        let method = match method {
            Method::Ack => Method::Invite,
            m => m.clone(),
        };
        TxnKey {
            branch: via.branch().unwrap_or_default().to_string(),
            sent_by: format!("{}:{}", via.host, via.port.unwrap_or(5060)).to_ascii_lowercase(),
            method,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallState {
    /// INVITE received, no final response yet.
    Early,
    /// 2xx sent, waiting for the ACK.
    Answered,
    /// ACK received.
    Confirmed,
    /// Our BYE is outstanding.
    Terminating,
}

impl CallState {
    fn name(self) -> &'static str {
        match self {
            CallState::Early => "not answered",
            CallState::Answered => "answered, waiting for ack",
            CallState::Confirmed => "confirmed",
            CallState::Terminating => "ending",
        }
    }
}

#[derive(Debug)]
struct Call {
    call_id: String,
    local_tag: String,
    /// Our identity in requests we send: the INVITE's To with our tag.
    local_uri: String,
    /// The caller: the INVITE's From, tag included.
    remote_uri: String,
    remote_seq: u32,
    local_seq: u32,
    /// Record-Route of the INVITE, in order (UAS, §12.1.1).
    route_set: Vec<String>,
    remote_target: Option<Uri>,
    source: Peer,
    invite: Request,
    invite_txn: TxnId,
    state: CallState,
    /// The application hung up before the ACK: send BYE once it arrives (§15).
    bye_after_ack: bool,
    /// A re-INVITE waiting for the application.
    reinvite: Option<(TxnId, Request)>,
    /// A re-INVITE 2xx waiting for its ACK: (CSeq, transaction).
    reinvite_ack: Option<(u32, TxnId)>,
    /// RFC 4028 session timer, once the 2xx carrying it is sent.
    session: Option<SessionTimer>,
    /// A transfer asked for before the ACK: the REFER goes once the dialog is confirmed.
    refer_after_ack: Option<String>,
    /// Our REFER's implicit subscription is live: its NOTIFYs are taken (others get 481).
    refer_subscribed: bool,
    /// The last provisional response sent (180, or 183 with its SDP) and when it is due again: while the
    /// call is unanswered it is repeated every minute (RFC 3261 §13.3.1.1), so that neither a lost
    /// provisional nor a proxy's three-minute limit ends a long early-media announcement.
    provisional: Option<(Instant, u16, Option<Vec<u8>>)>,
    /// What the caller said of reliable provisional responses (RFC 3262).
    rel100: Rel100,
    /// The RSeq of our next reliable provisional response.
    next_rseq: u32,
    /// A reliable provisional response waiting for its PRACK.
    reliable: Option<Reliable>,
    /// A provisional response that waits for that PRACK (one reliable provisional at a time, §3).
    queued_provisional: Option<(u16, Option<Vec<u8>>)>,
    /// Our 2xx, waiting for the PRACK of a reliable provisional that carried our SDP answer (§3).
    answer_after_prack: Option<Vec<u8>>,
    /// The SDP of our last 2xx (to the INVITE or a re-offer): what a refresh re-INVITE carries again.
    local_sdp: Option<Vec<u8>>,
    /// Our session-refresh re-INVITE, while its transaction lives.
    refresh_invite: Option<RefreshInvite>,
}

/// A session-refresh re-INVITE we sent (RFC 4028 §7.4 without UPDATE).
#[derive(Debug)]
struct RefreshInvite {
    /// Its client transaction.
    txn: TxnId,
    /// The request, to build its ACKs from.
    request: Request,
    /// Where it went.
    dest: Peer,
    /// The ACK for its 2xx, sent again for each 2xx retransmission (§13.2.2.4).
    ack: Option<Vec<u8>>,
}

/// What the caller's INVITE said of reliable provisional responses (RFC 3262).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rel100 {
    /// Neither Supported nor Require names 100rel: provisional responses are unreliable.
    No,
    /// `Supported: 100rel`: our 183 with the SDP answer goes reliably (other provisionals do not).
    Supported,
    /// `Require: 100rel`: every provisional response but 100 goes reliably.
    Required,
}

/// A reliable provisional response waiting for its PRACK (RFC 3262 §3): sent again at T1, 2*T1, 4*T1…;
/// without a PRACK 64*T1 after the first sending, the INVITE is refused with 504.
#[derive(Clone, Debug)]
struct Reliable {
    rseq: u32,
    /// The response as sent.
    data: Vec<u8>,
    next_at: Instant,
    interval: Duration,
    give_up_at: Instant,
    /// It carried our SDP answer: a 2xx must wait for its PRACK.
    has_sdp: bool,
}

/// How often an unanswered call's provisional response is repeated (RFC 3261 §13.3.1.1).
const PROVISIONAL_REPEAT: Duration = Duration::from_secs(60);

/// An RFC 4028 session timer of one call.
#[derive(Clone, Copy, Debug)]
struct SessionTimer {
    /// The session interval in seconds.
    interval: u32,
    /// True when we refresh (refresher=uas), false when the caller does.
    we_refresh: bool,
    /// When we send the next refresh (UPDATE), if we refresh.
    refresh_at: Option<Instant>,
    /// When the session expires without a refresh and we send BYE: the caller's refresh, or, when we
    /// refresh, a successful answer to ours.
    expires_at: Option<Instant>,
    /// We refresh with re-INVITE, not UPDATE: the caller's Allow lists no UPDATE (RFC 4028 §7.4 prefers
    /// UPDATE; a re-INVITE carrying the same SDP is the other refresh).
    by_invite: bool,
}

impl SessionTimer {
    /// Restarts the interval at `now` (a refresh was sent or received).
    fn restart(&mut self, now: Instant) {
        let se = Duration::from_secs(u64::from(self.interval));
        if self.we_refresh {
            // Half-way we refresh; should no refresh succeed, the session ends at its expiry.
            self.refresh_at = Some(now + se / 2);
            self.expires_at = Some(now + se);
        } else {
            // §10: BYE slightly before expiry: the lesser of 32 s and a third of the interval.
            let margin = Duration::from_secs(32).min(se / 3);
            self.refresh_at = None;
            self.expires_at = Some(now + se - margin);
        }
    }

    fn next(&self) -> Option<Instant> {
        [self.refresh_at, self.expires_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// The header value for our responses.
    fn header(&self) -> String {
        let who = if self.we_refresh { "uas" } else { "uac" };
        format!("{};refresher={who}", self.interval)
    }

    /// The header value for our own refresh requests: there we are the UAC (RFC 4028 §7.4), so we stay
    /// the refresher with `refresher=uac`.
    fn request_header(&self) -> String {
        let who = if self.we_refresh { "uac" } else { "uas" };
        format!("{};refresher={who}", self.interval)
    }
}

/// What the caller asked for in Session-Expires / Min-SE / Supported (RFC 4028 §9).
fn session_request(headers: &Headers) -> Result<Option<SessionTimer>, u32> {
    let supports_timer = headers
        .get_all("Supported")
        .iter()
        .chain(headers.get_all("Require").iter())
        .any(|t| t.eq_ignore_ascii_case("timer"));
    let Some(se) = headers.get("Session-Expires") else {
        return Ok(None);
    };
    let mut parts = se.split(';');
    let Some(interval) = parts.next().and_then(|v| v.trim().parse::<u32>().ok()) else {
        return Ok(None);
    };
    if interval < MIN_SE {
        return Err(MIN_SE);
    }
    let refresher = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("refresher"))
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    // We refresh with UPDATE (RFC 4028 §7.4 recommends it) when the caller takes it, with re-INVITE
    // otherwise; no Allow at all does not mean nothing is allowed (RFC 3261 §20.5).
    let allows = headers.get_all("Allow");
    let takes_update = allows.is_empty() || allows.iter().any(|m| m.eq_ignore_ascii_case("UPDATE"));
    // §9: without a choice from the caller, a caller that supports timers refreshes; one that does not
    // cannot, so we do.
    let we_refresh = match refresher.as_deref() {
        Some("uas") => true,
        Some("uac") => false,
        _ => !supports_timer,
    };
    Ok(Some(SessionTimer {
        interval,
        we_refresh,
        refresh_at: None,
        expires_at: None,
        by_invite: !takes_update,
    }))
}

struct TxnEntry {
    txn: Transaction,
    key: Option<TxnKey>,
    call: Option<CallHandle>,
    /// For a REFER we sent: the call being transferred.
    refer_of: Option<CallHandle>,
    /// For a session refresh (UPDATE) we sent: its call.
    refresh_of: Option<CallHandle>,
    /// For a client transaction: its branch, the key of `client_index`.
    branch: Option<String>,
}

/// The endpoint. See the module docs for the loop that drives it.
pub struct Endpoint {
    config: EndpointConfig,
    values: TimerValues,
    rng: StdRng,
    next_id: u64,
    txns: HashMap<TxnId, TxnEntry>,
    server_index: HashMap<TxnKey, TxnId>,
    /// Client transactions by our branch.
    client_index: HashMap<String, TxnId>,
    timers: BinaryHeap<Reverse<(Instant, TxnId)>>,
    /// Session-timer deadlines (lazily deleted: an entry is checked against its call when it fires).
    call_timers: BinaryHeap<Reverse<(Instant, CallHandle)>>,
    calls: HashMap<CallHandle, Call>,
    /// (Call-ID, our tag) -> call.
    dialogs: HashMap<(String, String), CallHandle>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    draining: Option<u32>,
    stats: EndpointStats,
}

impl Endpoint {
    /// A new endpoint. `rng` makes tags and branches: seed it in tests, use entropy in production.
    pub fn new(config: EndpointConfig, rng: StdRng) -> Endpoint {
        let values = TimerValues {
            t1: config.t1,
            t2: config.t2,
            t4: config.t4,
        };
        Endpoint {
            config,
            values,
            rng,
            next_id: 1,
            txns: HashMap::new(),
            server_index: HashMap::new(),
            client_index: HashMap::new(),
            timers: BinaryHeap::new(),
            call_timers: BinaryHeap::new(),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            draining: None,
            stats: EndpointStats::default(),
        }
    }

    /// While `Some(retry_after)`, new INVITEs and OPTIONS are answered 503 with that Retry-After (drain,
    /// shutdown); calls in progress go on.
    pub fn set_draining(&mut self, retry_after: Option<u32>) {
        self.draining = retry_after;
    }

    /// Calls alive.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        EndpointStats {
            calls: self.calls.len(),
            transactions: self.txns.len(),
            ..self.stats
        }
    }

    /// Next message to send. Call after every `handle_*` and call action until it returns `None`.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for the application. Call after every `handle_*` and call action until `None`.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must be called next. May be early (a timer that moved); never late.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let txn = self.timers.peek().map(|Reverse((at, _))| *at);
        let call = self.call_timers.peek().map(|Reverse((at, _))| *at);
        [txn, call].into_iter().flatten().min()
    }

    /// Fires the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, call))) = self.call_timers.peek().copied() {
            if at > now {
                break;
            }
            self.call_timers.pop();
            match self.calls.get(&call).map(|c| c.state) {
                Some(CallState::Early) => self.on_provisional_timer(now, call),
                Some(_) => self.on_session_timer(now, call),
                None => {}
            }
        }
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(entry) = self.txns.get_mut(&id) else {
                continue;
            };
            if entry.txn.scheduled != Some(at) {
                continue; // stale: the transaction's deadline moved
            }
            entry.txn.scheduled = None;
            let fired = entry.txn.handle_timeout(now);
            let (peer, kind, state, call) =
                (entry.txn.peer, entry.txn.kind, entry.txn.state, entry.call);
            if let Some(data) = fired.retransmit {
                self.transmits.push_back(Transmit { peer, data });
            }
            if fired.timed_out {
                if let Some(c) = self.txns.get(&id).and_then(|e| e.refresh_of) {
                    self.on_refresh_result(now, c, None);
                }
                if let Some(c) = self.txns.get(&id).and_then(|e| e.refer_of) {
                    if let Some(call) = self.calls.get_mut(&c) {
                        call.refer_subscribed = false;
                    }
                    self.events.push_back(Event::ReferResult {
                        call: c,
                        accepted: false,
                        status: None,
                    });
                }
                self.on_txn_timeout(now, id, kind, call);
            }
            if state == State::Terminated {
                self.remove_txn(id);
            } else {
                self.schedule(id);
            }
        }
    }

    /// Takes one message received from `peer` (a datagram or a framed stream message).
    pub fn handle_input(&mut self, now: Instant, peer: Peer, data: &[u8]) {
        match Message::parse(data) {
            Ok(Message::Request(req)) => self.on_request(now, peer, req),
            Ok(Message::Response(resp)) => self.on_response(now, resp),
            Err(e) => match salvage_400(data, &e.reason(), &self.config.user_agent) {
                Some(bytes) => {
                    tracing::debug!(%peer.addr, error = %e, "unparseable request: 400");
                    self.stats.bad_requests += 1;
                    self.transmits.push_back(Transmit { peer, data: bytes });
                }
                None => {
                    tracing::debug!(%peer.addr, error = %e, "unparseable message dropped");
                    self.stats.dropped += 1;
                }
            },
        }
    }

    /// Sends 180 Ringing (repeated every minute until the call is answered or ends).
    pub fn ring(&mut self, now: Instant, call: CallHandle) -> Result<(), EndpointError> {
        self.provisional(now, call, 180, None)
    }

    /// Sends 183 Session Progress with `sdp`, the answer to the INVITE's offer: early media, the caller
    /// hears what we send before the call is answered (RFC 3261 §13.3.1.1 with RFC 3960's gateway
    /// model). Repeated every minute until the call is answered or ends. When the caller supports
    /// 100rel (RFC 3262) the 183 goes reliably: repeated until the caller's PRACK, and the 2xx waits for
    /// that PRACK.
    ///
    /// An INVITE without an offer: `sdp` is our offer, and it can only go in a reliable provisional
    /// (RFC 3262 §5), whose PRACK brings the answer as [`Event::EarlyAnswer`]; the 2xx repeats the same
    /// SDP. A caller that does not take reliable provisionals gets no early media:
    /// [`EndpointError::NoOffer`].
    pub fn progress(
        &mut self,
        now: Instant,
        call: CallHandle,
        sdp: Vec<u8>,
    ) -> Result<(), EndpointError> {
        let c = self.calls.get(&call).ok_or(EndpointError::UnknownCall)?;
        if c.invite.body.is_empty() && c.rel100 == Rel100::No {
            return Err(EndpointError::NoOffer);
        }
        self.provisional(now, call, 183, Some(sdp))
    }

    fn provisional(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
        sdp: Option<Vec<u8>>,
    ) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::UnknownCall)?;
        if c.state != CallState::Early {
            return Err(EndpointError::WrongState(c.state.name()));
        }
        let again = now + PROVISIONAL_REPEAT;
        c.provisional = Some((again, status, sdp.clone()));
        self.call_timers.push(Reverse((again, call)));
        self.send_provisional(now, call, status, sdp);
        Ok(())
    }

    /// Sends a provisional response, reliably when RFC 3262 says so (and then only when no other awaits
    /// its PRACK: otherwise it is queued until that PRACK).
    fn send_provisional(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
        sdp: Option<Vec<u8>>,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let reliable = match c.rel100 {
            Rel100::No => false,
            Rel100::Supported => sdp.is_some(),
            Rel100::Required => true,
        };
        let id = c.invite_txn;
        if !reliable {
            let resp = self.dialog_response(call, status, sdp);
            return self.respond(now, id, resp);
        }
        if c.reliable.is_some() {
            c.queued_provisional = Some((status, sdp));
            return;
        }
        let rseq = c.next_rseq;
        c.next_rseq = c.next_rseq.wrapping_add(1).max(1);
        let has_sdp = sdp.is_some();
        let mut resp = self.dialog_response(call, status, sdp);
        resp.headers.push("Require", "100rel");
        resp.headers.push("RSeq", rseq.to_string());
        let t1 = self.values.t1;
        let reliable = Reliable {
            rseq,
            data: resp.to_bytes(),
            next_at: now + t1,
            interval: t1,
            give_up_at: now + 64 * t1,
            has_sdp,
        };
        self.call_timers.push(Reverse((reliable.next_at, call)));
        if let Some(c) = self.calls.get_mut(&call) {
            c.reliable = Some(reliable);
        }
        self.respond(now, id, resp);
    }

    /// Sends our 2xx to the INVITE with `sdp`, and the call waits for the ACK.
    fn send_answer(&mut self, now: Instant, call: CallHandle, sdp: Vec<u8>) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.state = CallState::Answered;
        // A final response ends the provisional ones (RFC 3262 §3).
        c.reliable = None;
        c.queued_provisional = None;
        let id = c.invite_txn;
        c.local_sdp = Some(sdp.clone());
        let mut resp = self.dialog_response(call, 200, Some(sdp));
        self.add_session_headers(now, call, &mut resp);
        self.respond(now, id, resp);
    }

    /// A call timer of an unanswered call: retransmit a reliable provisional response awaiting its
    /// PRACK (or give up on it), and repeat the provisional response every minute.
    fn on_provisional_timer(&mut self, now: Instant, call: CallHandle) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let peer = self.txns.get(&c.invite_txn).map(|e| e.txn.peer);
        if let Some(r) = c.reliable.as_mut() {
            if r.give_up_at <= now {
                // RFC 3262 §3: no PRACK in 64*T1: refuse the INVITE with a 5xx.
                tracing::info!(call_id = %c.call_id, rseq = r.rseq, "no PRACK for a reliable provisional: 504");
                c.reliable = None;
                let id = c.invite_txn;
                let resp = self.dialog_response(call, 504, None);
                self.respond(now, id, resp);
                self.end_call(call, EndReason::AckTimeout);
                return;
            }
            if r.next_at <= now {
                r.interval *= 2;
                r.next_at = (now + r.interval).min(r.give_up_at);
                self.call_timers.push(Reverse((r.next_at, call)));
                if let Some(peer) = peer {
                    self.transmits.push_back(Transmit {
                        peer,
                        data: r.data.clone(),
                    });
                }
            }
        }
        let Some((at, status, sdp)) = c.provisional.clone() else {
            return;
        };
        if at > now {
            return; // not yet, or stale: a newer provisional moved the deadline, and queued it
        }
        let again = now + PROVISIONAL_REPEAT;
        c.provisional = Some((again, status, sdp.clone()));
        self.call_timers.push(Reverse((again, call)));
        if c.reliable.is_some() {
            // Its retransmissions keep the transaction alive; one reliable provisional at a time.
            return;
        }
        // A reliable 183 gave the SDP answer once; repeats carry none (RFC 6337 §3.1.1).
        let sdp = if c.rel100 == Rel100::No { sdp } else { None };
        self.send_provisional(now, call, status, sdp);
    }

    /// Answers 200 OK with `sdp` (the answer, or our offer when the INVITE had none). The 200 is repeated
    /// until the ACK arrives; without one, the call ends with [`EndReason::AckTimeout`].
    pub fn answer(
        &mut self,
        now: Instant,
        call: CallHandle,
        sdp: Vec<u8>,
    ) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::UnknownCall)?;
        if c.state != CallState::Early || c.answer_after_prack.is_some() {
            return Err(EndpointError::WrongState(c.state.name()));
        }
        if c.reliable.as_ref().is_some_and(|r| r.has_sdp) {
            // RFC 3262 §3: not before the PRACK of the provisional that carried our answer.
            c.answer_after_prack = Some(sdp);
            return Ok(());
        }
        self.send_answer(now, call, sdp);
        Ok(())
    }

    /// Refuses an unanswered call with a final status (300-699) and extra headers (e.g. Retry-After).
    pub fn reject(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
        headers: &[(&str, &str)],
    ) -> Result<(), EndpointError> {
        let c = self.calls.get(&call).ok_or(EndpointError::UnknownCall)?;
        if c.state != CallState::Early {
            return Err(EndpointError::WrongState(c.state.name()));
        }
        let id = c.invite_txn;
        let mut resp = self.dialog_response(call, status.clamp(300, 699), None);
        for (name, value) in headers {
            resp.headers.push(*name, *value);
        }
        self.respond(now, id, resp);
        self.end_call(call, EndReason::Rejected);
        Ok(())
    }

    /// Ends the call from our side: BYE when answered (after the ACK, §15), 480 when not yet answered.
    /// [`Event::Ended`] follows when the BYE completes.
    pub fn hangup(&mut self, now: Instant, call: CallHandle) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::UnknownCall)?;
        match c.state {
            CallState::Early => {
                let id = c.invite_txn;
                let resp = self.dialog_response(call, 480, None);
                self.respond(now, id, resp);
                self.end_call(call, EndReason::LocalBye);
            }
            CallState::Answered => c.bye_after_ack = true,
            CallState::Confirmed => self.send_bye(now, call),
            CallState::Terminating => {}
        }
        Ok(())
    }

    /// Asks the caller to call `target` instead (REFER, RFC 3515), with us as the referrer.
    /// [`Event::ReferResult`] follows; on acceptance the application normally hangs up.
    pub fn refer(
        &mut self,
        now: Instant,
        call: CallHandle,
        target: &str,
    ) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::UnknownCall)?;
        match c.state {
            CallState::Confirmed => {}
            // Answered but not yet acknowledged: a request in the dialog must wait for the ACK.
            CallState::Answered => {
                c.refer_after_ack = Some(target.to_string());
                return Ok(());
            }
            other => return Err(EndpointError::WrongState(other.name())),
        }
        let referred_by = format!("<sip:chorus@{}>", self.config.local_addr);
        let extra = [
            ("Refer-To", format!("<{target}>")),
            ("Referred-By", referred_by),
        ];
        c.refer_subscribed = true;
        if let Some(id) = self.send_in_dialog(now, call, Method::Refer, &extra) {
            if let Some(e) = self.txns.get_mut(&id) {
                e.refer_of = Some(call);
            }
        }
        Ok(())
    }

    /// Answers the pending re-INVITE: 200 with `sdp`, or an error status (488 for an offer we cannot take).
    pub fn answer_reoffer(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
        sdp: Option<Vec<u8>>,
    ) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::UnknownCall)?;
        let (id, req) = c.reinvite.take().ok_or(EndpointError::NoReoffer)?;
        let transport = c.source.transport;
        let local_tag = c.local_tag.clone();
        let contact = self.contact(&transport);
        let mut resp = self.response(&req, status, Some(&local_tag));
        if (200..300).contains(&status) {
            resp.headers.push("Contact", contact);
            resp.headers.push("Allow", ALLOW);
            self.add_session_headers(now, call, &mut resp);
            if let Some(body) = sdp {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.local_sdp = Some(body.clone());
                }
                resp.headers.push("Content-Type", "application/sdp");
                resp.body = body;
            }
            if req.method == Method::Invite {
                if let (Some(c), Ok(cseq)) = (self.calls.get_mut(&call), req_cseq(&req)) {
                    c.reinvite_ack = Some((cseq, id));
                }
            }
        }
        self.respond(now, id, resp);
        Ok(())
    }

    // ---- inbound requests ----

    fn on_request(&mut self, now: Instant, peer: Peer, mut req: Request) {
        let info = match req.validate() {
            Ok(info) => info,
            Err(e) => {
                if req.method != Method::Ack && req.headers.get("Via").is_some() {
                    self.stats.bad_requests += 1;
                    let mut resp = self.response(&req, 400, None);
                    resp.reason = e.reason();
                    tracing::debug!(%peer.addr, error = %e, "bad request: 400");
                    self.transmits.push_back(Transmit {
                        peer,
                        data: resp.to_bytes(),
                    });
                }
                return;
            }
        };
        let reply_to = stamp_via(&mut req.headers, &info.via, &peer);
        let key = TxnKey::server(&info.via, &req.method);

        if req.method == Method::Ack {
            if let Some(&id) = self.server_index.get(&key) {
                if let Some(e) = self.txns.get_mut(&id) {
                    if e.txn.state == State::Completed {
                        e.txn.on_ack(now);
                        self.schedule(id);
                        return;
                    }
                }
            }
            self.on_ack(now, &info.call_id, info.to.tag(), info.cseq.seq, req.body);
            return;
        }
        if let Some(&id) = self.server_index.get(&key) {
            if let Some(e) = self.txns.get(&id) {
                if let Some(data) = e.txn.on_retransmission() {
                    self.transmits.push_back(Transmit {
                        peer: e.txn.peer,
                        data,
                    });
                }
                return;
            }
        }
        let kind = if req.method == Method::Invite {
            Kind::InviteServer
        } else {
            Kind::NonInviteServer
        };
        let id = self.add_txn(
            Transaction::server(kind, reply_to, self.values),
            Some(key),
            None,
        );

        if req.method == Method::Cancel {
            return self.on_cancel(now, id, &req, &info.via);
        }
        if let Some(to_tag) = info.to.tag() {
            let dialog = self
                .dialogs
                .get(&(info.call_id.clone(), to_tag.to_string()))
                .copied();
            return match dialog {
                Some(call) => self.on_in_dialog(now, id, call, req, info.cseq.seq),
                None => self.reply(now, id, &req, 481),
            };
        }
        match req.method {
            Method::Invite => self.on_invite(now, id, peer, req, info),
            Method::Options => self.reply_options(now, id, &req),
            Method::Bye | Method::Info | Method::Prack | Method::Update | Method::Notify => {
                self.reply(now, id, &req, 481)
            }
            Method::Other(_) => self.reply(now, id, &req, 501),
            _ => self.reply(now, id, &req, 405),
        }
    }

    fn on_invite(
        &mut self,
        now: Instant,
        id: TxnId,
        peer: Peer,
        req: Request,
        info: crate::message::RequestInfo,
    ) {
        if let Some(retry) = self.draining {
            let tag = self.new_tag();
            let mut resp = self.response(&req, 503, Some(&tag));
            resp.headers.push("Retry-After", retry.to_string());
            return self.respond(now, id, resp);
        }
        let unsupported: Vec<&str> = req
            .headers
            .get_all("Require")
            .into_iter()
            .filter(|t| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        if !unsupported.is_empty() {
            let tag = self.new_tag();
            let mut resp = self.response(&req, 420, Some(&tag));
            resp.headers.push("Unsupported", unsupported.join(", "));
            return self.respond(now, id, resp);
        }
        let session = match session_request(&req.headers) {
            Ok(s) => s,
            Err(min_se) => {
                // §9: too short an interval: 422 with our minimum.
                let tag = self.new_tag();
                let mut resp = self.response(&req, 422, Some(&tag));
                resp.headers.push("Min-SE", min_se.to_string());
                return self.respond(now, id, resp);
            }
        };
        let has_body = !req.body.is_empty();
        if has_body && !is_sdp(req.headers.get("Content-Type")) {
            let tag = self.new_tag();
            let mut resp = self.response(&req, 415, Some(&tag));
            resp.headers.push("Accept", "application/sdp");
            return self.respond(now, id, resp);
        }
        // §8.2.2.2: the same request (Call-ID, From tag, CSeq) again on another branch, while its call is
        // here: a forking proxy or a loop merged it back to us. 482, not a second call.
        let from_tag = info.from.tag();
        let merged = self.calls.values().any(|c| {
            c.call_id == info.call_id
                && NameAddr::parse(&c.remote_uri)
                    .ok()
                    .as_ref()
                    .and_then(|n| n.tag())
                    == from_tag
                && req_cseq(&c.invite).ok() == Some(info.cseq.seq)
        });
        if merged {
            tracing::debug!(call_id = %info.call_id, "merged INVITE: 482");
            let tag = self.new_tag();
            let resp = self.response(&req, 482, Some(&tag));
            return self.respond(now, id, resp);
        }
        let trying = self.response(&req, 100, None);
        self.respond(now, id, trying);

        let handle = CallHandle(self.next_id());
        let local_tag = self.new_tag();
        let to_value = req.headers.get("To").unwrap_or_default();
        let call = Call {
            call_id: info.call_id.clone(),
            local_tag: local_tag.clone(),
            local_uri: format!("{to_value};tag={local_tag}"),
            remote_uri: req.headers.get("From").unwrap_or_default().to_string(),
            remote_seq: info.cseq.seq,
            local_seq: self.rng.gen_range(1..1 << 30),
            route_set: req
                .headers
                .get_all("Record-Route")
                .into_iter()
                .map(str::to_string)
                .collect(),
            remote_target: contact_uri(&req.headers),
            source: peer,
            invite: req.clone(),
            invite_txn: id,
            state: CallState::Early,
            bye_after_ack: false,
            reinvite: None,
            reinvite_ack: None,
            session,
            refer_after_ack: None,
            refer_subscribed: false,
            provisional: None,
            rel100: rel100_of(&req.headers),
            next_rseq: self.rng.gen_range(1..1 << 30),
            reliable: None,
            queued_provisional: None,
            answer_after_prack: None,
            local_sdp: None,
            refresh_invite: None,
        };
        self.calls.insert(handle, call);
        self.dialogs
            .insert((info.call_id.clone(), local_tag), handle);
        if let Some(e) = self.txns.get_mut(&id) {
            e.call = Some(handle);
        }
        self.events
            .push_back(Event::IncomingCall(Box::new(IncomingCall {
                handle,
                call_id: info.call_id,
                from: info.from,
                to: info.to,
                request_uri: req.uri.clone(),
                offer: has_body.then(|| req.body.clone()),
                source: peer,
                request: req,
            })));
    }

    fn on_cancel(&mut self, now: Instant, id: TxnId, req: &Request, via: &Via) {
        let invite_key = TxnKey::server(via, &Method::Invite);
        let target = self
            .server_index
            .get(&invite_key)
            .and_then(|i| self.txns.get(i))
            .map(|e| e.call);
        let Some(call) = target else {
            return self.reply(now, id, req, 481);
        };
        // §9.2: the CANCEL's response carries the To tag of the INVITE's responses.
        let tag = call
            .and_then(|c| self.calls.get(&c))
            .map(|c| c.local_tag.clone());
        let resp = self.response(req, 200, tag.as_deref());
        self.respond(now, id, resp);
        let Some(call) = call else { return };
        if self
            .calls
            .get(&call)
            .is_some_and(|c| c.state == CallState::Early)
        {
            let resp = self.dialog_response(call, 487, None);
            if let Some(invite_txn) = self.calls.get(&call).map(|c| c.invite_txn) {
                self.respond(now, invite_txn, resp);
            }
            self.end_call(call, EndReason::Cancelled);
        }
    }

    fn on_in_dialog(&mut self, now: Instant, id: TxnId, call: CallHandle, req: Request, seq: u32) {
        let Some(c) = self.calls.get_mut(&call) else {
            return self.reply(now, id, &req, 481);
        };
        if seq <= c.remote_seq && req.method != Method::Invite || seq < c.remote_seq {
            // §12.2.2: an out-of-order request.
            return self.reply(now, id, &req, 500);
        }
        c.remote_seq = c.remote_seq.max(seq);
        if matches!(req.method, Method::Invite | Method::Update) && c.state != CallState::Early {
            // RFC 4028 §9: a refresh may change the interval or the refresher; too short gets 422.
            match session_request(&req.headers) {
                Err(min_se) => {
                    let tag = c.local_tag.clone();
                    let mut resp = self.response(&req, 422, Some(&tag));
                    resp.headers.push("Min-SE", min_se.to_string());
                    return self.respond(now, id, resp);
                }
                // The timer restarts when the 2xx carrying the new value is sent.
                Ok(Some(mut t)) => {
                    // Until then (or if the refresh is refused) the running deadlines stand.
                    if let Some(old) = c.session {
                        t.refresh_at = old.refresh_at;
                        t.expires_at = old.expires_at;
                    }
                    c.session = Some(t);
                }
                Ok(None) => {}
            }
        }
        match req.method.clone() {
            Method::Bye => {
                self.reply(now, id, &req, 200);
                if let Some((pending, r)) =
                    self.calls.get_mut(&call).and_then(|c| c.reinvite.take())
                {
                    self.reply(now, pending, &r, 487);
                }
                if self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.state == CallState::Early)
                {
                    let resp = self.dialog_response(call, 487, None);
                    if let Some(t) = self.calls.get(&call).map(|c| c.invite_txn) {
                        self.respond(now, t, resp);
                    }
                }
                self.end_call(call, EndReason::RemoteBye);
            }
            Method::Invite => {
                if refresh_pending(&self.txns, c) {
                    // §14.2: glare with our own refresh re-INVITE.
                    return self.reply(now, id, &req, 491);
                }
                if c.state == CallState::Early || c.reinvite.is_some() {
                    // §14.2: an INVITE while another is still pending.
                    let tag = c.local_tag.clone();
                    let mut resp = self.response(&req, 500, Some(&tag));
                    let secs = self.rng.gen_range(0..10).to_string();
                    resp.headers.push("Retry-After", secs);
                    return self.respond(now, id, resp);
                }
                if !req.body.is_empty() && !is_sdp(req.headers.get("Content-Type")) {
                    return self.reply(now, id, &req, 415);
                }
                if let Some(target) = contact_uri(&req.headers) {
                    c.remote_target = Some(target);
                }
                let offer = (!req.body.is_empty()).then(|| req.body.clone());
                c.reinvite = Some((id, req.clone()));
                let trying = self.response(&req, 100, None);
                self.respond(now, id, trying);
                self.events.push_back(Event::Reoffer { call, offer });
            }
            Method::Update => {
                if c.reinvite.is_some() || (!req.body.is_empty() && refresh_pending(&self.txns, c))
                {
                    // RFC 3311 §5.2: an UPDATE while an offer is pending.
                    return self.reply(now, id, &req, 491);
                }
                if !req.body.is_empty() {
                    if !is_sdp(req.headers.get("Content-Type")) {
                        return self.reply(now, id, &req, 415);
                    }
                    // A codec or hold change: the application answers it like a re-INVITE.
                    let offer = Some(req.body.clone());
                    c.reinvite = Some((id, req.clone()));
                    self.events.push_back(Event::Reoffer { call, offer });
                    return;
                }
                // A session refresh without SDP (RFC 4028 §7.4 allows it).
                let tag = c.local_tag.clone();
                let mut resp = self.response(&req, 200, Some(&tag));
                self.add_session_headers(now, call, &mut resp);
                self.respond(now, id, resp);
            }
            Method::Notify => {
                // RFC 6665 §8.2.1: Event names the package; ours is REFER's implicit subscription only.
                let package = req
                    .headers
                    .get("Event")
                    .map(|e| e.split(';').next().unwrap_or_default().trim());
                if !package.is_some_and(|p| p.eq_ignore_ascii_case("refer")) {
                    return self.reply(now, id, &req, 489);
                }
                if !c.refer_subscribed {
                    return self.reply(now, id, &req, 481);
                }
                let terminated = req.headers.get("Subscription-State").is_some_and(|s| {
                    s.split(';')
                        .next()
                        .is_some_and(|v| v.trim().eq_ignore_ascii_case("terminated"))
                });
                if terminated {
                    c.refer_subscribed = false;
                }
                let status = sipfrag_status(&req.body);
                self.reply(now, id, &req, 200);
                self.events.push_back(Event::ReferProgress {
                    call,
                    status,
                    terminated,
                });
            }
            Method::Info => {
                self.reply(now, id, &req, 200);
                self.events.push_back(Event::Info {
                    call,
                    content_type: req
                        .headers
                        .get("Content-Type")
                        .unwrap_or_default()
                        .to_string(),
                    body: req.body,
                });
            }
            Method::Prack => {
                // RFC 3262 §3/§7.2: RAck names the RSeq and the INVITE's CSeq it acknowledges.
                let invite_seq = req_cseq(&c.invite).ok();
                let acked = req.headers.get("RAck").and_then(parse_rack);
                let matches = match (&c.reliable, acked) {
                    (Some(r), Some((rseq, seq, method))) => {
                        r.rseq == rseq
                            && Some(seq) == invite_seq
                            && method.eq_ignore_ascii_case("INVITE")
                    }
                    _ => false,
                };
                if !matches {
                    return self.reply(now, id, &req, 481);
                }
                // A reliable provisional with SDP to an INVITE without one carried our offer: the PRACK
                // carries the answer (RFC 3262 §5).
                let early_answer =
                    c.reliable.take().is_some_and(|r| r.has_sdp) && c.invite.body.is_empty();
                let answer = c.answer_after_prack.take();
                let queued = c.queued_provisional.take();
                self.reply(now, id, &req, 200);
                if early_answer {
                    self.events.push_back(Event::EarlyAnswer {
                        call,
                        body: (!req.body.is_empty()).then_some(req.body),
                    });
                }
                if let Some(sdp) = answer {
                    self.send_answer(now, call, sdp);
                } else if let Some((status, sdp)) = queued {
                    self.send_provisional(now, call, status, sdp);
                }
            }
            Method::Options => self.reply_options(now, id, &req),
            Method::Other(_) => self.reply(now, id, &req, 501),
            _ => self.reply(now, id, &req, 405),
        }
    }

    fn on_ack(
        &mut self,
        now: Instant,
        call_id: &str,
        to_tag: Option<&str>,
        seq: u32,
        body: Vec<u8>,
    ) {
        let Some(tag) = to_tag else { return };
        let Some(&call) = self.dialogs.get(&(call_id.to_string(), tag.to_string())) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some((ack_seq, txn)) = c.reinvite_ack {
            if ack_seq == seq {
                c.reinvite_ack = None;
                if let Some(e) = self.txns.get_mut(&txn) {
                    e.txn.on_2xx_ack();
                }
                self.schedule(txn);
                return;
            }
        }
        if c.state != CallState::Answered {
            return; // a retransmitted ACK
        }
        c.state = CallState::Confirmed;
        let txn = c.invite_txn;
        let bye = c.bye_after_ack;
        let refer = c.refer_after_ack.take();
        if let Some(e) = self.txns.get_mut(&txn) {
            e.txn.on_2xx_ack();
        }
        self.schedule(txn);
        self.events.push_back(Event::Confirmed {
            call,
            body: (!body.is_empty()).then_some(body),
        });
        if bye {
            self.send_bye(now, call);
        } else if let Some(target) = refer {
            let _ = self.refer(now, call, &target);
        }
    }

    // ---- inbound responses ----

    fn on_response(&mut self, now: Instant, resp: Response) {
        let branch = resp
            .headers
            .get_all("Via")
            .first()
            .and_then(|v| Via::parse(v).ok())
            .and_then(|v| v.branch().map(str::to_string));
        let Some(id) = branch.and_then(|b| self.client_index.get(&b).copied()) else {
            self.stats.stray_responses += 1;
            return;
        };
        let Some(e) = self.txns.get_mut(&id) else {
            return;
        };
        let first_final = e.txn.on_response(now, resp.status);
        let call = e.call;
        let refer_of = e.refer_of;
        let refresh_of = e.refresh_of;
        let invite_client = e.txn.kind == Kind::InviteClient;
        let ack_again = e.txn.ack_again();
        self.schedule(id);
        if let (true, Some(c)) = (invite_client, refresh_of) {
            self.ack_refresh_invite(id, c, &resp, first_final, ack_again);
        }
        if let (true, Some(c)) = (first_final, refresh_of) {
            self.on_refresh_result(now, c, Some(resp.status));
        }
        if let (true, Some(c)) = (first_final, refer_of) {
            let accepted = (200..300).contains(&resp.status);
            if !accepted {
                if let Some(call) = self.calls.get_mut(&c) {
                    call.refer_subscribed = false;
                }
            }
            self.events.push_back(Event::ReferResult {
                call: c,
                accepted,
                status: Some(resp.status),
            });
        }
        if first_final {
            if let Some(call) = call {
                if self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.state == CallState::Terminating)
                {
                    self.end_call(call, EndReason::LocalBye);
                }
            }
        }
    }

    // ---- timers ----

    fn on_txn_timeout(&mut self, now: Instant, id: TxnId, kind: Kind, call: Option<CallHandle>) {
        let Some(call) = call else { return };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        match kind {
            Kind::InviteServer if c.invite_txn == id && c.state == CallState::Answered => {
                tracing::info!(call_id = %c.call_id, "no ack for 200: ending the call");
                // §13.3.1.4: the dialog is confirmed then ended at once with BYE.
                self.send_bye(now, call);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.state = CallState::Terminating;
                }
                self.end_call(call, EndReason::AckTimeout);
            }
            Kind::NonInviteClient if c.state == CallState::Terminating => {
                self.end_call(call, EndReason::TransportError);
            }
            _ => {}
        }
    }

    // ---- session timers (RFC 4028) ----

    /// Adds Session-Expires/Require to a 2xx and (re)starts the call's session timer.
    fn add_session_headers(&mut self, now: Instant, call: CallHandle, resp: &mut Response) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(timer) = c.session.as_mut() else {
            return;
        };
        timer.restart(now);
        resp.headers.push("Session-Expires", timer.header());
        resp.headers.push("Supported", "timer");
        if !timer.we_refresh {
            // §9: the caller must refresh, so it must support the extension.
            resp.headers.push("Require", "timer");
        }
        if let Some(at) = timer.next() {
            self.call_timers.push(Reverse((at, call)));
        }
    }

    fn on_session_timer(&mut self, now: Instant, call: CallHandle) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !matches!(c.state, CallState::Confirmed | CallState::Answered) {
            return;
        }
        let Some(timer) = c.session.as_mut() else {
            return;
        };
        if timer.expires_at.is_some_and(|at| at <= now) {
            tracing::info!(call_id = %c.call_id, "session timer expired: ending the call");
            self.send_bye(now, call);
            self.end_call(call, EndReason::SessionExpired);
            return;
        }
        if timer.refresh_at.is_some_and(|at| at <= now) {
            // The session is refreshed when the answer comes (`on_refresh_result`); until then the
            // expiry stands.
            timer.refresh_at = None;
            if let Some(at) = timer.next() {
                self.call_timers.push(Reverse((at, call)));
            }
            let by_invite = timer.by_invite && c.local_sdp.is_some();
            let sent = if by_invite {
                self.send_refresh_invite(now, call)
            } else {
                self.send_in_dialog(now, call, Method::Update, &[])
            };
            if let Some(id) = sent {
                if let Some(e) = self.txns.get_mut(&id) {
                    e.refresh_of = Some(call);
                }
            }
            return;
        }
        // A stale entry: the timer moved; make sure its real deadline is queued.
        if let Some(at) = timer.next() {
            if at > now {
                self.call_timers.push(Reverse((at, call)));
            }
        }
    }

    /// The answer to our session refresh (None: the transaction timed out).
    fn on_refresh_result(&mut self, now: Instant, call: CallHandle, status: Option<u16>) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state != CallState::Confirmed {
            return;
        }
        let Some(timer) = c.session.as_mut() else {
            return;
        };
        match status {
            Some(200..=299) => timer.restart(now),
            // §10: a refresh that times out or gets 408 or 481 ends the session at once.
            None | Some(408) | Some(481) => {
                tracing::info!(call_id = %c.call_id, ?status, "session refresh failed: ending the call");
                self.send_bye(now, call);
                self.end_call(call, EndReason::SessionExpired);
                return;
            }
            // Refused otherwise (491 glare, 500...): try again half-way to the expiry, which stands.
            Some(s) => {
                tracing::info!(call_id = %c.call_id, status = s, "session refresh refused; trying again");
                timer.refresh_at = timer
                    .expires_at
                    .map(|at| now + at.saturating_duration_since(now) / 2)
                    .filter(|at| *at > now + Duration::from_secs(1));
            }
        }
        if let Some(at) = timer.next() {
            self.call_timers.push(Reverse((at, call)));
        }
    }

    // ---- building and sending ----

    fn send_bye(&mut self, now: Instant, call: CallHandle) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Terminating;
        }
        self.send_in_dialog(now, call, Method::Bye, &[]);
    }

    /// Sends a request in the call's dialog (BYE, REFER, or an UPDATE session refresh) on a client
    /// transaction.
    fn send_in_dialog(
        &mut self,
        now: Instant,
        call: CallHandle,
        method: Method,
        extra: &[(&str, String)],
    ) -> Option<TxnId> {
        let (req, dest, branch) = self.in_dialog_request(call, method.clone(), extra)?;
        let data = req.to_bytes();
        let txn = Transaction::client(now, dest, data.clone(), self.values);
        // Only a BYE's outcome ends the call; a refresh's failure is left to the session timer.
        let owner = (method == Method::Bye).then_some(call);
        let id = self.add_txn(txn, None, owner);
        if let Some(e) = self.txns.get_mut(&id) {
            e.branch = Some(branch.clone());
        }
        self.client_index.insert(branch, id);
        self.transmits.push_back(Transmit { peer: dest, data });
        Some(id)
    }

    /// Sends a session-refresh re-INVITE carrying our last SDP unchanged (RFC 4028 §7.4, RFC 6337 §5.3:
    /// same version, no change) on an INVITE client transaction; its ACKs follow in `on_response`.
    fn send_refresh_invite(&mut self, now: Instant, call: CallHandle) -> Option<TxnId> {
        let sdp = self.calls.get(&call)?.local_sdp.clone()?;
        let (mut req, dest, branch) = self.in_dialog_request(call, Method::Invite, &[])?;
        req.headers.push("Content-Type", "application/sdp");
        req.body = sdp;
        let data = req.to_bytes();
        let txn = Transaction::client_invite(now, dest, data.clone(), self.values);
        let id = self.add_txn(txn, None, None);
        if let Some(e) = self.txns.get_mut(&id) {
            e.branch = Some(branch.clone());
        }
        self.client_index.insert(branch, id);
        self.transmits.push_back(Transmit { peer: dest, data });
        if let Some(c) = self.calls.get_mut(&call) {
            c.refresh_invite = Some(RefreshInvite {
                txn: id,
                request: req,
                dest,
                ack: None,
            });
        }
        Some(id)
    }

    /// Builds a request in the call's dialog: the next CSeq, the route set, our Contact and (for a
    /// refresh) Session-Expires. Returns it with where it goes and its Via branch.
    fn in_dialog_request(
        &mut self,
        call: CallHandle,
        method: Method,
        extra: &[(&str, String)],
    ) -> Option<(Request, Peer, String)> {
        let local = self.config.local_addr;
        let branch = self.new_branch();
        let ua = self.config.user_agent.clone();
        let c = self.calls.get_mut(&call)?;
        c.local_seq += 1;
        let fallback = Uri::sip(
            None,
            &c.source.addr.ip().to_string(),
            Some(c.source.addr.port()),
        );
        let target = c.remote_target.clone().unwrap_or(fallback);
        let routes: Vec<NameAddr> = c
            .route_set
            .iter()
            .filter_map(|r| NameAddr::parse(r).ok())
            .collect();
        let (ruri, route_headers, next_hop) = match routes.first() {
            Some(first) if first.uri.param("lr").is_some() => {
                (target.clone(), c.route_set.clone(), first.uri.clone())
            }
            Some(first) => {
                // Strict routing (§12.2.1.1): the first route becomes the Request-URI.
                let mut rest: Vec<String> = c.route_set[1..].to_vec();
                rest.push(format!("<{target}>"));
                (first.uri.clone(), rest, first.uri.clone())
            }
            None => (target.clone(), Vec::new(), target),
        };
        let dest = resolve(&next_hop, &c.source);
        let mut req = Request::new(method.clone(), ruri);
        req.headers.push(
            "Via",
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                dest.transport.as_str(),
                local
            ),
        );
        req.headers.push("Max-Forwards", "70");
        for r in route_headers {
            req.headers.push("Route", r);
        }
        req.headers.push("From", c.local_uri.clone());
        req.headers.push("To", c.remote_uri.clone());
        req.headers.push("Call-ID", c.call_id.clone());
        req.headers
            .push("CSeq", format!("{} {method}", c.local_seq));
        req.headers.push("User-Agent", ua);
        for (name, value) in extra {
            req.headers.push(*name, value.clone());
        }
        if method != Method::Bye {
            let contact = match dest.transport {
                Transport::Udp => format!("<sip:chorus@{local}>"),
                t => format!(
                    "<sip:chorus@{local};transport={}>",
                    t.as_str().to_ascii_lowercase()
                ),
            };
            req.headers.push("Contact", contact);
            if let (Some(t), Method::Update | Method::Invite) = (c.session, &method) {
                req.headers.push("Session-Expires", t.request_header());
                req.headers.push("Supported", "timer");
            }
        }
        Some((req, dest, branch))
    }

    /// ACKs a response to our refresh re-INVITE: a 2xx with an ACK of its own (a new transaction, sent
    /// again for each retransmitted 2xx, §13.2.2.4); a non-2xx with an ACK in the INVITE's transaction
    /// (same branch, §17.1.1.3), which the transaction repeats for retransmissions of that response.
    fn ack_refresh_invite(
        &mut self,
        id: TxnId,
        call: CallHandle,
        resp: &Response,
        first_final: bool,
        ack_again: Option<Vec<u8>>,
    ) {
        let branch = self.new_branch();
        let Some(r) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.refresh_invite.as_mut())
            .filter(|r| r.txn == id)
        else {
            return;
        };
        let dest = r.dest;
        let data = match resp.status {
            200..=299 => {
                if r.ack.is_none() {
                    r.ack = Some(ack_for(&r.request, resp, Some(&branch)).to_bytes());
                }
                r.ack.clone()
            }
            300..=699 if first_final => {
                let ack = ack_for(&r.request, resp, None).to_bytes();
                if let Some(e) = self.txns.get_mut(&id) {
                    e.txn.set_ack(ack.clone());
                }
                Some(ack)
            }
            300..=699 => ack_again,
            _ => None,
        };
        if let Some(data) = data {
            self.transmits.push_back(Transmit { peer: dest, data });
        }
    }

    /// A response to the call's INVITE, with our tag, Contact and the Record-Route copied (§12.1.1).
    fn dialog_response(&self, call: CallHandle, status: u16, sdp: Option<Vec<u8>>) -> Response {
        let Some(c) = self.calls.get(&call) else {
            return Response {
                status,
                reason: String::new(),
                headers: Headers::new(),
                body: Vec::new(),
            };
        };
        let mut resp = self.response(&c.invite, status, Some(&c.local_tag));
        if (101..300).contains(&status) {
            for rr in c.invite.headers.get_lines("Record-Route") {
                resp.headers.push("Record-Route", rr);
            }
            resp.headers
                .push("Contact", self.contact(&req_transport(&c.source)));
        }
        if (200..300).contains(&status) {
            resp.headers.push("Allow", ALLOW);
        }
        if let Some(body) = sdp {
            resp.headers.push("Content-Type", "application/sdp");
            resp.body = body;
        }
        resp
    }

    fn response(&self, req: &Request, status: u16, to_tag: Option<&str>) -> Response {
        let mut resp = Response::for_request(req, status, to_tag);
        resp.headers.push("Server", self.config.user_agent.clone());
        resp
    }

    fn reply(&mut self, now: Instant, id: TxnId, req: &Request, status: u16) {
        let tag = (status > 100).then(|| self.new_tag());
        let mut resp = self.response(req, status, tag.as_deref());
        if status == 405 {
            resp.headers.push("Allow", ALLOW);
        }
        self.respond(now, id, resp);
    }

    fn reply_options(&mut self, now: Instant, id: TxnId, req: &Request) {
        let tag = self.new_tag();
        if let Some(retry) = self.draining {
            // A proxy's keepalive probe learns we are draining and moves traffic away.
            let mut resp = self.response(req, 503, Some(&tag));
            resp.headers.push("Retry-After", retry.to_string());
            return self.respond(now, id, resp);
        }
        let mut resp = self.response(req, 200, Some(&tag));
        resp.headers.push("Allow", ALLOW);
        resp.headers.push("Accept", "application/sdp");
        resp.headers.push("Accept-Encoding", "identity");
        resp.headers.push("Accept-Language", "en");
        self.respond(now, id, resp);
    }

    fn respond(&mut self, now: Instant, id: TxnId, resp: Response) {
        let Some(e) = self.txns.get_mut(&id) else {
            return;
        };
        let data = resp.to_bytes();
        if e.txn.send_response(now, resp.status, &data) {
            self.transmits.push_back(Transmit {
                peer: e.txn.peer,
                data,
            });
            self.schedule(id);
        }
    }

    fn contact(&self, transport: &Transport) -> String {
        let local = self.config.local_addr;
        match transport {
            Transport::Udp => format!("<sip:chorus@{local}>"),
            t => format!(
                "<sip:chorus@{local};transport={}>",
                t.as_str().to_ascii_lowercase()
            ),
        }
    }

    fn end_call(&mut self, call: CallHandle, reason: EndReason) {
        if let Some(c) = self.calls.remove(&call) {
            self.dialogs.remove(&(c.call_id, c.local_tag));
            self.events.push_back(Event::Ended { call, reason });
        }
    }

    fn add_txn(
        &mut self,
        txn: Transaction,
        key: Option<TxnKey>,
        call: Option<CallHandle>,
    ) -> TxnId {
        let id = self.next_id();
        if let Some(k) = &key {
            self.server_index.insert(k.clone(), id);
        }
        self.txns.insert(
            id,
            TxnEntry {
                txn,
                key,
                call,
                refer_of: None,
                refresh_of: None,
                branch: None,
            },
        );
        self.schedule(id);
        id
    }

    fn remove_txn(&mut self, id: TxnId) {
        if let Some(e) = self.txns.remove(&id) {
            if let Some(k) = e.key {
                if self.server_index.get(&k) == Some(&id) {
                    self.server_index.remove(&k);
                }
            }
            if let Some(b) = e.branch {
                self.client_index.remove(&b);
            }
        }
    }

    /// Queues the transaction's earliest deadline if it changed.
    fn schedule(&mut self, id: TxnId) {
        let Some(e) = self.txns.get_mut(&id) else {
            return;
        };
        let next = e.txn.next_deadline();
        if next != e.txn.scheduled {
            e.txn.scheduled = next;
            if let Some(at) = next {
                self.timers.push(Reverse((at, id)));
            }
        }
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn new_tag(&mut self) -> String {
        format!("{:016x}", self.rng.gen::<u64>())
    }

    fn new_branch(&mut self) -> String {
        format!("z9hG4bK{:016x}", self.rng.gen::<u64>())
    }
}

/// Whether the call's refresh re-INVITE still waits for its final response.
fn refresh_pending(txns: &HashMap<TxnId, TxnEntry>, c: &Call) -> bool {
    c.refresh_invite.as_ref().is_some_and(|r| {
        txns.get(&r.txn)
            .is_some_and(|e| matches!(e.txn.state, State::Trying | State::Proceeding))
    })
}

/// The ACK for `resp` to our `invite` (§17.1.1.3, §13.2.2.4): the INVITE's Request-URI, Route, From,
/// Call-ID and CSeq number, the response's To (with its tag); the INVITE's Via branch for a non-2xx
/// (`branch` None), a new one for a 2xx.
fn ack_for(invite: &Request, resp: &Response, branch: Option<&str>) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    let via = invite.headers.get("Via").unwrap_or_default().to_string();
    let via = match (
        branch,
        Via::parse(&via)
            .ok()
            .and_then(|v| v.branch().map(str::to_string)),
    ) {
        (Some(new), Some(old)) => via.replacen(&old, new, 1),
        _ => via,
    };
    ack.headers.push("Via", via);
    ack.headers.push("Max-Forwards", "70");
    for r in invite.headers.get_lines("Route") {
        ack.headers.push("Route", r);
    }
    for name in ["From", "Call-ID"] {
        ack.headers.push(
            name,
            invite.headers.get(name).unwrap_or_default().to_string(),
        );
    }
    let to = resp
        .headers
        .get("To")
        .or_else(|| invite.headers.get("To"))
        .unwrap_or_default();
    ack.headers.push("To", to.to_string());
    let seq = req_cseq(invite).unwrap_or(0);
    ack.headers.push("CSeq", format!("{seq} ACK"));
    ack
}

fn req_transport(p: &Peer) -> Transport {
    p.transport
}

/// RFC 3262's 100rel in the INVITE's Require or Supported.
fn rel100_of(headers: &Headers) -> Rel100 {
    let names = |h: &str| {
        headers
            .get_all(h)
            .iter()
            .any(|t| t.trim().eq_ignore_ascii_case("100rel"))
    };
    if names("Require") {
        Rel100::Required
    } else if names("Supported") {
        Rel100::Supported
    } else {
        Rel100::No
    }
}

/// A RAck header (RFC 3262 §7.2): response number, CSeq number, method.
fn parse_rack(v: &str) -> Option<(u32, u32, &str)> {
    let mut it = v.split_whitespace();
    let rseq = it.next()?.parse().ok()?;
    let seq = it.next()?.parse().ok()?;
    let method = it.next()?;
    Some((rseq, seq, method))
}

fn req_cseq(req: &Request) -> Result<u32, crate::ParseError> {
    crate::message::CSeq::parse(req.headers.get("CSeq").unwrap_or_default()).map(|c| c.seq)
}

fn is_sdp(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/sdp"))
    })
}

fn contact_uri(headers: &Headers) -> Option<Uri> {
    let value = headers.get_all("Contact").first().copied()?;
    NameAddr::parse(value).ok().map(|n| n.uri)
}

/// Adds `received` and fills `rport` in the top Via (§18.2.1, RFC 3581 §4) and gives where responses go
/// (§18.2.2): the connection for streams; for UDP the source port when rport was asked, else the sent-by
/// port, always at the source IP.
fn stamp_via(headers: &mut Headers, via: &Via, source: &Peer) -> Peer {
    let mut top = via.clone();
    let ip = source.addr.ip();
    let host = top.host.trim_start_matches('[').trim_end_matches(']');
    if host.parse::<IpAddr>().ok() != Some(ip) {
        top.params.set("received", Some(&ip.to_string()));
    }
    let rport = top.params.get("rport").is_some();
    if rport {
        top.params
            .set("rport", Some(&source.addr.port().to_string()));
    }
    let mut vias: Vec<String> = headers
        .get_lines("Via")
        .flat_map(split_list)
        .map(str::to_string)
        .collect();
    if let Some(first) = vias.first_mut() {
        *first = top.to_string();
    }
    headers.remove("Via");
    for v in vias.iter().rev() {
        headers.push_front("Via", v.clone());
    }
    if source.transport.is_reliable() || rport {
        *source
    } else {
        Peer::udp(SocketAddr::new(ip, via.port.unwrap_or(5060)))
    }
}

/// Where to send a request whose next hop is `uri`. Chorus does no DNS (it sits behind a proxy that is
/// reached by address): a host that is not an IP address falls back to the address the call came from.
/// A stream connection to the same host is reused rather than opening one to a Contact port that may not
/// listen.
fn resolve(uri: &Uri, source: &Peer) -> Peer {
    let host = uri.host().trim_start_matches('[').trim_end_matches(']');
    let Ok(ip) = host.parse::<IpAddr>() else {
        return *source;
    };
    let transport = match uri.param("transport").flatten() {
        Some(t) => Transport::parse(t).unwrap_or(Transport::Udp),
        None if source.transport.is_reliable() && ip == source.addr.ip() => source.transport,
        None => Transport::Udp,
    };
    let addr = SocketAddr::new(ip, uri.port().unwrap_or(5060));
    if transport == source.transport && transport.is_reliable() && ip == source.addr.ip() {
        return *source;
    }
    Peer {
        transport,
        addr,
        conn: None,
    }
}

/// A 400 for a request that did not parse but carries the headers a response needs (§8.2.6, §8.1.3.3):
/// built from the raw lines, with the parse error as the reason phrase. `None` for anything else.
fn salvage_400(data: &[u8], reason: &str, server: &str) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let start = lines.next()?;
    let method = start.split(' ').next()?;
    if method.is_empty()
        || method.starts_with("SIP/")
        || method == "ACK"
        || !method.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return None;
    }
    let mut out = String::new();
    let mut found = [false; 5];
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let slot = match name.to_ascii_lowercase().as_str() {
            "via" | "v" => 0,
            "from" | "f" => 1,
            "to" | "t" => 2,
            "call-id" | "i" => 3,
            "cseq" => 4,
            _ => continue,
        };
        let canonical = ["Via", "From", "To", "Call-ID", "CSeq"][slot];
        found[slot] = true;
        out.push_str(&format!("{canonical}: {}\r\n", value.trim()));
    }
    if !found.iter().all(|f| *f) {
        return None;
    }
    let reason: String = reason.chars().filter(|c| !c.is_control()).collect();
    Some(
        format!("SIP/2.0 400 {reason}\r\n{out}Server: {server}\r\nContent-Length: 0\r\n\r\n")
            .into_bytes(),
    )
}

/// The status code of a `message/sipfrag` body (RFC 3420) that starts with a status line, as a REFER's
/// NOTIFY carries (RFC 3515 §2.4.5): `SIP/2.0 180 Ringing`.
fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let line = body.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim();
    let (version, rest) = line.split_once(' ')?;
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return None;
    }
    let code = rest.trim_start().get(..3)?;
    let status: u16 = code.parse().ok()?;
    (100..700).contains(&status).then_some(status)
}
