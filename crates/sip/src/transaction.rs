//! SIP transactions (RFC 3261 §17, with the RFC 6026 Accepted state): the INVITE server transaction, the
//! non-INVITE server transaction, the non-INVITE client transaction (for the BYEs, UPDATEs and REFERs
//! Chorus sends) and the INVITE client transaction (for its session-refresh re-INVITEs).
//!
//! Each transaction is a plain state machine. Its timers are data: a deadline per RFC timer name, the
//! earliest of which is [`Transaction::next_deadline`]. The endpoint feeds it the responses it sends, the
//! retransmissions and ACKs that arrive, and the time; it answers with bytes to put back on the wire.

use std::time::{Duration, Instant};

use crate::peer::Peer;

/// RFC 3261 timer values (Table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerValues {
    /// RTT estimate (500 ms).
    pub t1: Duration,
    /// Largest retransmit interval for non-INVITE requests and INVITE responses (4 s).
    pub t2: Duration,
    /// Longest time a message stays in the network (5 s).
    pub t4: Duration,
}

/// Which of the three transaction kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// INVITE server transaction (§17.2.1, RFC 6026 §7.1).
    InviteServer,
    /// Non-INVITE server transaction (§17.2.2).
    NonInviteServer,
    /// Non-INVITE client transaction (§17.1.2).
    NonInviteClient,
    /// INVITE client transaction (§17.1.1, RFC 6026 §7.2), for re-INVITEs in a dialog.
    InviteClient,
}

/// Transaction states across the three kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Client: request sent, no response yet. Server non-INVITE: request received, nothing sent.
    Trying,
    /// A provisional response was sent or received.
    Proceeding,
    /// A final response was sent (server) or received (client); absorbing retransmissions.
    Completed,
    /// INVITE server: the ACK for a non-2xx final response arrived (timer I running).
    Confirmed,
    /// INVITE server: a 2xx was sent (RFC 6026); retransmitted INVITEs are absorbed until timer L.
    Accepted,
    /// Done: the endpoint removes the transaction.
    Terminated,
}

/// What a timer firing asks of the endpoint.
#[derive(Debug, Default)]
pub(crate) struct Fired {
    /// Bytes to send again to [`Transaction::peer`].
    pub retransmit: Option<Vec<u8>>,
    /// Timer H (no ACK for a non-2xx), L with the 2xx still unacknowledged, or F or B (no final response).
    pub timed_out: bool,
}

/// One transaction. Field names follow the RFC timer names.
#[derive(Debug)]
pub(crate) struct Transaction {
    pub kind: Kind,
    pub state: State,
    /// Where responses (server) or the request (client) go.
    pub peer: Peer,
    /// The last response sent (server) or the request (client): what a retransmission repeats.
    last: Option<Vec<u8>>,
    /// Status of the last response sent or received.
    pub last_status: u16,
    values: TimerValues,
    reliable: bool,
    /// Timer G (non-2xx final) or the 2xx retransmission of RFC 3261 §13.3.1.4: (deadline, interval).
    g: Option<(Instant, Duration)>,
    /// Set while a 2xx waits for its ACK.
    awaiting_2xx_ack: bool,
    /// Timer H: give up waiting for the ACK of a non-2xx final.
    h: Option<Instant>,
    /// Timer I: linger in Confirmed to absorb ACK retransmissions.
    i: Option<Instant>,
    /// Timer J: linger in Completed (non-INVITE server).
    j: Option<Instant>,
    /// Timer L (RFC 6026): linger in Accepted; also the end of the 2xx retransmissions.
    l: Option<Instant>,
    /// Timer E: client request retransmission: (deadline, interval).
    e: Option<(Instant, Duration)>,
    /// Timer F: client transaction timeout.
    f: Option<Instant>,
    /// Timer K: linger in Completed (non-INVITE client).
    k: Option<Instant>,
    /// Timer A: INVITE client retransmission: (deadline, interval), doubling without a cap.
    a: Option<(Instant, Duration)>,
    /// Timer B: INVITE client timeout.
    b: Option<Instant>,
    /// Timer D: linger in Completed after a non-2xx (INVITE client), re-sending the ACK.
    d: Option<Instant>,
    /// Timer M (RFC 6026): linger in Accepted to take 2xx retransmissions (INVITE client).
    m: Option<Instant>,
    /// The ACK for a non-2xx final response (INVITE client): sent again for each retransmission of it.
    ack: Option<Vec<u8>>,
    /// The deadline last given to the endpoint's timer queue (so stale queue entries can be told apart).
    pub scheduled: Option<Instant>,
}

impl Transaction {
    /// A server transaction for a request that just arrived from `peer`.
    pub fn server(kind: Kind, peer: Peer, values: TimerValues) -> Transaction {
        let state = match kind {
            Kind::InviteServer => State::Proceeding,
            _ => State::Trying,
        };
        Transaction::new(kind, state, peer, values)
    }

    /// A client transaction for `request`, sent now by the caller.
    pub fn client(now: Instant, peer: Peer, request: Vec<u8>, values: TimerValues) -> Transaction {
        let mut t = Transaction::new(Kind::NonInviteClient, State::Trying, peer, values);
        if !t.reliable {
            t.e = Some((now + values.t1, values.t1));
        }
        t.f = Some(now + 64 * values.t1);
        t.last = Some(request);
        t
    }

    /// An INVITE client transaction for `request`, sent now by the caller (§17.1.1).
    pub fn client_invite(
        now: Instant,
        peer: Peer,
        request: Vec<u8>,
        values: TimerValues,
    ) -> Transaction {
        let mut t = Transaction::new(Kind::InviteClient, State::Trying, peer, values);
        if !t.reliable {
            t.a = Some((now + values.t1, values.t1));
        }
        t.b = Some(now + 64 * values.t1);
        t.last = Some(request);
        t
    }

    /// The ACK the transaction user built for a non-2xx final response (§17.1.1.3): kept to answer that
    /// response's retransmissions.
    pub fn set_ack(&mut self, ack: Vec<u8>) {
        self.ack = Some(ack);
    }

    /// The ACK to send again: a retransmitted non-2xx final response arrived in Completed.
    pub fn ack_again(&self) -> Option<Vec<u8>> {
        (self.kind == Kind::InviteClient && self.state == State::Completed)
            .then(|| self.ack.clone())
            .flatten()
    }

    fn new(kind: Kind, state: State, peer: Peer, values: TimerValues) -> Transaction {
        Transaction {
            kind,
            state,
            peer,
            last: None,
            last_status: 0,
            values,
            reliable: peer.transport.is_reliable(),
            g: None,
            awaiting_2xx_ack: false,
            h: None,
            i: None,
            j: None,
            l: None,
            e: None,
            f: None,
            k: None,
            a: None,
            b: None,
            d: None,
            m: None,
            ack: None,
            scheduled: None,
        }
    }

    /// Records a response the transaction user sends; the caller transmits `bytes` itself.
    /// Returns false (and records nothing) when the state does not allow another response.
    pub fn send_response(&mut self, now: Instant, status: u16, bytes: &[u8]) -> bool {
        let open = matches!(self.state, State::Trying | State::Proceeding);
        if !open {
            return false;
        }
        self.last = Some(bytes.to_vec());
        self.last_status = status;
        let t1 = self.values.t1;
        match (self.kind, status) {
            (_, 100..=199) => self.state = State::Proceeding,
            (Kind::InviteServer, 200..=299) => {
                self.state = State::Accepted;
                self.awaiting_2xx_ack = true;
                // §13.3.1.4: the 2xx is retransmitted end to end, whatever the transport.
                self.g = Some((now + t1, t1));
                self.l = Some(now + 64 * t1);
            }
            (Kind::InviteServer, _) => {
                self.state = State::Completed;
                if !self.reliable {
                    self.g = Some((now + t1, t1));
                }
                self.h = Some(now + 64 * t1);
            }
            (_, _) => {
                self.state = State::Completed;
                self.j = Some(if self.reliable { now } else { now + 64 * t1 });
            }
        }
        true
    }

    /// The same request arrived again: what to send back, if anything (§17.2.1, §17.2.2).
    pub fn on_retransmission(&self) -> Option<Vec<u8>> {
        match self.state {
            State::Proceeding | State::Completed => self.last.clone(),
            // RFC 6026 §7.1: retransmitted INVITEs are absorbed in Accepted; the 2xx timer repeats the 2xx.
            _ => None,
        }
    }

    /// An ACK matched this INVITE server transaction (same branch): it acknowledges a non-2xx final.
    pub fn on_ack(&mut self, now: Instant) {
        if self.kind == Kind::InviteServer && self.state == State::Completed {
            self.state = State::Confirmed;
            self.g = None;
            self.h = None;
            self.i = Some(if self.reliable {
                now
            } else {
                now + self.values.t4
            });
        }
    }

    /// The ACK for this transaction's 2xx arrived (matched through the dialog): stop repeating the 2xx.
    pub fn on_2xx_ack(&mut self) {
        if self.awaiting_2xx_ack {
            self.awaiting_2xx_ack = false;
            self.g = None;
        }
    }

    /// A response to this client transaction arrived. Returns true for the first final response.
    pub fn on_response(&mut self, now: Instant, status: u16) -> bool {
        if self.kind == Kind::InviteClient {
            return self.on_invite_response(now, status);
        }
        if self.kind != Kind::NonInviteClient {
            return false;
        }
        match (self.state, status) {
            (State::Trying | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
                self.last_status = status;
                false
            }
            (State::Trying | State::Proceeding, _) => {
                self.state = State::Completed;
                self.last_status = status;
                self.e = None;
                self.f = None;
                self.k = Some(if self.reliable {
                    now
                } else {
                    now + self.values.t4
                });
                true
            }
            _ => false,
        }
    }

    /// §17.1.1.2 with RFC 6026 §7.2: a 2xx moves to Accepted (the transaction user ACKs each 2xx itself),
    /// a non-2xx to Completed (the transaction user sends the ACK once and hands it to [`Self::set_ack`]).
    fn on_invite_response(&mut self, now: Instant, status: u16) -> bool {
        match (self.state, status) {
            (State::Trying | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
                self.last_status = status;
                self.a = None;
                false
            }
            (State::Trying | State::Proceeding, 200..=299) => {
                self.state = State::Accepted;
                self.last_status = status;
                self.a = None;
                self.b = None;
                self.m = Some(now + 64 * self.values.t1);
                true
            }
            (State::Trying | State::Proceeding, _) => {
                self.state = State::Completed;
                self.last_status = status;
                self.a = None;
                self.b = None;
                self.d = Some(if self.reliable {
                    now
                } else {
                    now + Duration::from_secs(32)
                });
                true
            }
            _ => false,
        }
    }

    /// The earliest running timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.g.map(|(d, _)| d),
            self.h,
            self.i,
            self.j,
            self.l,
            self.e.map(|(d, _)| d),
            self.f,
            self.k,
            self.a.map(|(d, _)| d),
            self.b,
            self.d,
            self.m,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Fired {
        let mut fired = Fired::default();
        let t2 = self.values.t2;
        if let Some((at, interval)) = self.g {
            if at <= now {
                fired.retransmit = self.last.clone();
                let next = (interval * 2).min(t2);
                self.g = Some((now + next, next));
            }
        }
        if let Some((at, interval)) = self.e {
            if at <= now {
                fired.retransmit = self.last.clone();
                let next = if self.state == State::Proceeding {
                    t2
                } else {
                    (interval * 2).min(t2)
                };
                self.e = Some((now + next, next));
            }
        }
        if let Some((at, interval)) = self.a {
            if at <= now {
                fired.retransmit = self.last.clone();
                self.a = Some((now + interval * 2, interval * 2));
            }
        }
        if self.b.is_some_and(|at| at <= now) {
            fired.timed_out = true;
            fired.retransmit = None;
            self.terminate();
        }
        if self.h.is_some_and(|at| at <= now) {
            fired.timed_out = true;
            fired.retransmit = None;
            self.terminate();
        }
        if self.l.is_some_and(|at| at <= now) {
            fired.timed_out = self.awaiting_2xx_ack;
            fired.retransmit = None;
            self.terminate();
        }
        if self.f.is_some_and(|at| at <= now) {
            fired.timed_out = true;
            fired.retransmit = None;
            self.terminate();
        }
        if [self.i, self.j, self.k, self.d, self.m]
            .into_iter()
            .flatten()
            .any(|at| at <= now)
        {
            self.terminate();
        }
        fired
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.g = None;
        self.h = None;
        self.i = None;
        self.j = None;
        self.l = None;
        self.e = None;
        self.f = None;
        self.k = None;
        self.a = None;
        self.b = None;
        self.d = None;
        self.m = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Transport;

    const VALUES: TimerValues = TimerValues {
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
        t4: Duration::from_secs(5),
    };

    fn udp() -> Peer {
        Peer::udp("127.0.0.1:5070".parse().unwrap())
    }

    fn tcp() -> Peer {
        Peer {
            transport: Transport::Tcp,
            ..udp()
        }
    }

    /// Runs the transaction's timers until it terminates, returning the retransmission times (ms).
    fn run(t: &mut Transaction, start: Instant) -> (Vec<u128>, bool) {
        let mut sent = Vec::new();
        let mut timed_out = false;
        for _ in 0..100 {
            let Some(at) = t.next_deadline() else { break };
            let fired = t.handle_timeout(at);
            if fired.retransmit.is_some() {
                sent.push((at - start).as_millis());
            }
            timed_out |= fired.timed_out;
        }
        (sent, timed_out)
    }

    #[test]
    fn non_2xx_final_repeats_on_timer_g_until_timer_h() {
        let now = Instant::now();
        let mut t = Transaction::server(Kind::InviteServer, udp(), VALUES);
        assert!(t.send_response(now, 486, b"486"));
        let (sent, timed_out) = run(&mut t, now);
        // 0.5, 1.5, 3.5, 7.5, then every 4 s until 32 s.
        assert_eq!(&sent[..4], &[500, 1500, 3500, 7500]);
        assert!(sent.windows(2).skip(3).all(|w| w[1] - w[0] == 4000));
        assert!(*sent.last().unwrap() < 32_000);
        assert!(timed_out, "timer H reports the missing ACK");
        assert_eq!(t.state, State::Terminated);
    }

    #[test]
    fn ack_stops_timer_g_and_timer_i_ends_the_transaction() {
        let now = Instant::now();
        let mut t = Transaction::server(Kind::InviteServer, udp(), VALUES);
        t.send_response(now, 487, b"487");
        t.on_ack(now + Duration::from_millis(100));
        assert_eq!(t.state, State::Confirmed);
        let (sent, timed_out) = run(&mut t, now);
        assert!(sent.is_empty());
        assert!(!timed_out);
        assert_eq!(t.state, State::Terminated);
    }

    #[test]
    fn reliable_transport_has_no_timer_g() {
        let now = Instant::now();
        let mut t = Transaction::server(Kind::InviteServer, tcp(), VALUES);
        t.send_response(now, 404, b"404");
        let (sent, _) = run(&mut t, now);
        assert!(sent.is_empty());
    }

    #[test]
    fn two_xx_repeats_until_acked_and_times_out_without_ack() {
        let now = Instant::now();
        let mut t = Transaction::server(Kind::InviteServer, udp(), VALUES);
        t.send_response(now, 200, b"200");
        assert_eq!(t.state, State::Accepted);
        assert_eq!(
            t.on_retransmission(),
            None,
            "RFC 6026: absorbed in Accepted"
        );
        let (sent, timed_out) = run(&mut t, now);
        assert_eq!(&sent[..3], &[500, 1500, 3500]);
        assert!(timed_out);

        let mut t = Transaction::server(Kind::InviteServer, udp(), VALUES);
        t.send_response(now, 200, b"200");
        t.on_2xx_ack();
        let (sent, timed_out) = run(&mut t, now);
        assert!(sent.is_empty());
        assert!(
            !timed_out,
            "timer L after the ACK is only the Accepted linger"
        );
    }

    #[test]
    fn provisional_is_repeated_on_invite_retransmission() {
        let now = Instant::now();
        let mut t = Transaction::server(Kind::InviteServer, udp(), VALUES);
        t.send_response(now, 100, b"100");
        assert_eq!(t.on_retransmission().as_deref(), Some(&b"100"[..]));
        t.send_response(now, 180, b"180");
        assert_eq!(t.on_retransmission().as_deref(), Some(&b"180"[..]));
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn non_invite_server_lingers_timer_j() {
        let now = Instant::now();
        let mut t = Transaction::server(Kind::NonInviteServer, udp(), VALUES);
        assert_eq!(t.on_retransmission(), None);
        t.send_response(now, 200, b"200");
        assert_eq!(t.on_retransmission().as_deref(), Some(&b"200"[..]));
        assert!(
            !t.send_response(now, 500, b"500"),
            "one final response only"
        );
        assert_eq!(t.next_deadline(), Some(now + 64 * VALUES.t1));
    }

    #[test]
    fn client_retransmits_on_timer_e_and_gives_up_on_timer_f() {
        let now = Instant::now();
        let mut t = Transaction::client(now, udp(), b"BYE".to_vec(), VALUES);
        let (sent, timed_out) = run(&mut t, now);
        assert_eq!(&sent[..4], &[500, 1500, 3500, 7500]);
        assert!(timed_out);
    }

    #[test]
    fn client_provisional_moves_timer_e_to_t2_and_final_completes() {
        let now = Instant::now();
        let mut t = Transaction::client(now, udp(), b"BYE".to_vec(), VALUES);
        assert!(!t.on_response(now, 100));
        let fired = t.handle_timeout(now + VALUES.t1);
        assert!(fired.retransmit.is_some());
        assert_eq!(t.next_deadline(), Some(now + VALUES.t1 + VALUES.t2));
        assert!(t.on_response(now + VALUES.t2, 200));
        assert!(
            !t.on_response(now + VALUES.t2, 200),
            "a repeated final is not reported"
        );
        let (sent, timed_out) = run(&mut t, now);
        assert!(sent.is_empty());
        assert!(!timed_out);
        assert_eq!(t.state, State::Terminated);
    }

    #[test]
    fn invite_client_doubles_timer_a_without_a_cap_and_times_out_on_b() {
        let now = Instant::now();
        let mut t = Transaction::client_invite(now, udp(), b"INVITE".to_vec(), VALUES);
        let (sent, timed_out) = run(&mut t, now);
        // T1 doubling past T2 (4 s): 0.5, 1.5, 3.5, 7.5, 15.5 s; timer B at 64*T1 = 32 s.
        assert_eq!(sent, [500, 1500, 3500, 7500, 15_500, 31_500]);
        assert!(timed_out);
        let mut t = Transaction::client_invite(now, tcp(), b"INVITE".to_vec(), VALUES);
        let (sent, timed_out) = run(&mut t, now);
        assert!(sent.is_empty(), "no timer A over TCP");
        assert!(timed_out);
    }

    #[test]
    fn invite_client_2xx_is_accepted_until_timer_m() {
        let now = Instant::now();
        let mut t = Transaction::client_invite(now, udp(), b"INVITE".to_vec(), VALUES);
        assert!(!t.on_response(now, 100));
        assert!(
            t.handle_timeout(now + VALUES.t1).retransmit.is_none(),
            "a provisional stops timer A"
        );
        assert!(t.on_response(now, 200));
        assert_eq!(t.state, State::Accepted);
        assert!(
            !t.on_response(now, 200),
            "2xx retransmissions are the TU's to ACK"
        );
        assert_eq!(t.ack_again(), None);
        let (sent, timed_out) = run(&mut t, now);
        assert!(sent.is_empty() && !timed_out);
        assert_eq!(t.state, State::Terminated);
    }

    #[test]
    fn invite_client_non_2xx_completes_and_acks_again_until_timer_d() {
        let now = Instant::now();
        let mut t = Transaction::client_invite(now, udp(), b"INVITE".to_vec(), VALUES);
        assert!(t.on_response(now, 491));
        t.set_ack(b"ACK".to_vec());
        assert!(!t.on_response(now, 491));
        assert_eq!(t.ack_again().as_deref(), Some(&b"ACK"[..]));
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(32)));
        let (sent, timed_out) = run(&mut t, now);
        assert!(sent.is_empty() && !timed_out);
        assert_eq!(t.ack_again(), None, "gone once terminated");
    }
}
