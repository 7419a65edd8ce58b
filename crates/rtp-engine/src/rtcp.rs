//! RTCP for one call, sans-IO (RFC 3550 §6): reception statistics of the peer's stream (Appendix A.1
//! sequence validation, A.3 loss, A.8 interarrival jitter), sender statistics, SR/RR + SDES compound
//! reports at a randomized interval (§6.2), the peer's reports about us with round-trip time (§6.4.1),
//! BYE, and demultiplexing RTCP from RTP on one port (RFC 5761 §4).
//!
//! Packets are marshalled and unmarshalled with webrtc-rs's `rtcp` crate; this module frames the
//! compound packet itself first (RFC 3550 A.2 checks) and hands the crate only SR, RR, SDES and BYE
//! sub-packets, so the crate's feedback and XR parsers never see network input.
//!
//! Run loop, next to the RTP one (the session never reads a clock: `now` comes from the shell, and
//! wall-clock time only once, at creation, to map `now` onto NTP time for sender reports):
//!
//! ```
//! # use std::time::{Duration, Instant, SystemTime};
//! # use chorus_rtp::rtcp::{RtcpConfig, RtcpSession};
//! let start = Instant::now();
//! let mut rtcp = RtcpSession::new(RtcpConfig::new(0x1234, "chorus@example.net", 8000, 7), start,
//!                                 SystemTime::now());
//! let mut now = start;
//! while now < start + Duration::from_secs(20) {
//!     // Wait for a datagram or `rtcp.poll_timeout()`, whichever comes first, then:
//!     // rtcp.on_rtp_received(now, seq, ts, ssrc, len);   for each RTP packet received
//!     // rtcp.on_rtp_sent(now, ts, len);                  for each RTP packet sent
//!     // rtcp.handle_packet(now, &datagram);              for each RTCP packet received
//!     now = rtcp.poll_timeout().unwrap();
//!     if let Some(packet) = rtcp.handle_timeout(now) {
//!         // send `packet` to the peer's RTCP address (or its RTP address with rtcp-mux)
//!     }
//! }
//! let summary = rtcp.call_stats(); // the call log's `rtp` object
//! ```

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::rtcp::goodbye::Goodbye;
use ::rtcp::packet::Packet;
use ::rtcp::receiver_report::ReceiverReport;
use ::rtcp::reception_report::ReceptionReport;
use ::rtcp::sender_report::SenderReport;
use ::rtcp::source_description::{
    SdesType, SourceDescription, SourceDescriptionChunk, SourceDescriptionItem,
};
use bytes::Bytes;
use webrtc_util::Unmarshal;

/// RFC 3550 A.1: packets a source stays in probation before it is valid.
const MIN_SEQUENTIAL: u32 = 2;
/// RFC 3550 A.1: largest forward sequence jump taken as loss rather than a restart.
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: largest backward sequence jump taken as reordering rather than a restart.
const MAX_MISORDER: u16 = 100;
const RTP_SEQ_MOD: u32 = 1 << 16;
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// RFC 3550 §6.2: the minimum report interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
const PT_BYE: u8 = 203;

/// Whether a datagram on a multiplexed port is RTCP rather than RTP (RFC 5761 §4): version 2 and a
/// second byte (RTCP packet type, or RTP marker and payload type) in 192..=223.
pub fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 4 && data[0] >> 6 == 2 && (192..=223).contains(&data[1])
}

/// 64-bit NTP timestamp (RFC 3550 §4: seconds since 1900 in 32.32 fixed point) of a wall-clock time.
pub fn ntp_time(wall: SystemTime) -> u64 {
    let since_unix = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_unix.as_secs().wrapping_add(NTP_UNIX_OFFSET);
    (secs << 32).wrapping_add(ntp_fraction(since_unix.subsec_nanos()))
}

fn ntp_fraction(nanos: u32) -> u64 {
    (u64::from(nanos) << 32) / 1_000_000_000
}

fn ntp_duration(d: Duration) -> u64 {
    (d.as_secs() << 32).wrapping_add(ntp_fraction(d.subsec_nanos()))
}

/// The middle 32 bits of an NTP timestamp, as carried in LSR (RFC 3550 §6.4.1).
fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// A duration in units of 1/65536 s (DLSR), saturating.
fn to_short_ntp(d: Duration) -> u32 {
    u32::try_from(ntp_duration(d) >> 16).unwrap_or(u32::MAX)
}

fn from_short_ntp(units: u32) -> Duration {
    Duration::from_secs_f64(f64::from(units) / 65536.0)
}

/// Errors handling an incoming RTCP datagram: all of them are the peer's fault, none ends the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    /// The datagram ends inside a packet header or before a packet's length.
    #[error("rtcp packet truncated")]
    Truncated,
    /// A packet's version field is not 2.
    #[error("rtcp version is not 2")]
    BadVersion,
    /// Padding on a packet other than the last, or a padding count larger than the packet.
    #[error("rtcp padding is invalid")]
    BadPadding,
}

/// A reception report block, as sent about the peer or received about us (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed on the wire; negative with duplicates).
    pub total_lost: i32,
    /// Extended highest sequence number received (cycles in the high 16 bits).
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from the source, 0 if none.
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

impl ReportBlock {
    fn to_wire(self) -> ReceptionReport {
        let lost = self.total_lost.clamp(-0x80_0000, 0x7F_FFFF);
        ReceptionReport {
            ssrc: self.ssrc,
            fraction_lost: self.fraction_lost,
            total_lost: (lost as u32) & 0xFF_FFFF,
            last_sequence_number: self.extended_highest_seq,
            jitter: self.jitter,
            last_sender_report: self.lsr,
            delay: self.dlsr,
        }
    }

    fn from_wire(r: &ReceptionReport) -> ReportBlock {
        // Sign-extend the 24-bit cumulative loss.
        let total_lost = (((r.total_lost & 0xFF_FFFF) << 8) as i32) >> 8;
        ReportBlock {
            ssrc: r.ssrc,
            fraction_lost: r.fraction_lost,
            total_lost,
            extended_highest_seq: r.last_sequence_number,
            jitter: r.jitter,
            lsr: r.last_sender_report,
            dlsr: r.delay,
        }
    }
}

/// RFC 3550 Appendix A.1 state of one source.
#[derive(Clone, Copy, Debug)]
struct Source {
    ssrc: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Relative transit time of the previous packet (A.8), in timestamp units.
    transit: Option<u32>,
    /// Interarrival jitter estimate (A.8), in timestamp units.
    jitter: f64,
    heard_since_report: bool,
}

impl Source {
    fn new(ssrc: u32, seq: u16) -> Source {
        let mut s = Source {
            ssrc,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: 0,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter: 0.0,
            heard_since_report: false,
        };
        s.init_seq(seq);
        s.max_seq = seq.wrapping_sub(1);
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// RFC 3550 A.1 `update_seq`: whether the packet counts as received from a valid source.
    fn update_seq(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return true;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return false;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                // Wrapped: one more cycle of 2^16.
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            // A very large jump: a restart if the next packet follows it, else a stray packet.
            if u32::from(seq) == self.bad_seq {
                self.init_seq(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return false;
            }
        }
        // Else a duplicate or a reordered packet: counted as received, as A.1 does.
        self.received = self.received.wrapping_add(1);
        true
    }

    fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    fn expected(&self) -> u32 {
        if self.probation > 0 {
            return 0;
        }
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    fn lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }
}

/// Reception statistics of the peer's stream (RFC 3550 Appendix A.1, A.3, A.8).
///
/// One source at a time: a call has one remote stream, and when its SSRC changes (the peer
/// restarted it, §8.2) the new source starts over while the call's cumulative counts keep
/// the old one's.
#[derive(Clone, Debug)]
pub struct ReceptionStats {
    clock_rate: u32,
    /// Arrival times are measured from here, in timestamp units (A.8).
    epoch: Option<Instant>,
    source: Option<Source>,
    /// Loss and expected counts of earlier sources.
    prior_lost: i64,
    prior_expected: u64,
    packets: u64,
    octets: u64,
    /// Middle NTP bits of the last SR from the current source, and when it arrived.
    last_sr: Option<(u32, Instant)>,
}

impl ReceptionStats {
    /// No packet seen yet, for a stream with this RTP clock rate (Hz).
    pub fn new(clock_rate: u32) -> ReceptionStats {
        ReceptionStats {
            clock_rate: clock_rate.max(1),
            epoch: None,
            source: None,
            prior_lost: 0,
            prior_expected: 0,
            packets: 0,
            octets: 0,
            last_sr: None,
        }
    }

    /// Records an RTP packet from the peer that arrived at `arrival`.
    pub fn on_rtp(&mut self, arrival: Instant, seq: u16, timestamp: u32, ssrc: u32) {
        self.packets += 1;
        let epoch = *self.epoch.get_or_insert(arrival);
        let source = match &mut self.source {
            Some(s) if s.ssrc == ssrc => s,
            other => {
                if let Some(old) = other.take() {
                    self.prior_lost += old.lost();
                    self.prior_expected += u64::from(old.expected());
                    self.last_sr = None;
                }
                other.insert(Source::new(ssrc, seq))
            }
        };
        if !source.update_seq(seq) {
            return;
        }
        source.heard_since_report = true;
        // A.8: transit = arrival - timestamp, both in timestamp units; jitter follows |D| / 16.
        let elapsed = arrival.saturating_duration_since(epoch);
        let arrival_units =
            (elapsed.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32;
        let transit = arrival_units.wrapping_sub(timestamp);
        if let Some(prev) = source.transit {
            let d = f64::from((transit.wrapping_sub(prev) as i32).unsigned_abs());
            source.jitter += (d - source.jitter) / 16.0;
        }
        source.transit = Some(transit);
    }

    /// Adds payload octets to the received count (kept apart from [`Self::on_rtp`], whose
    /// arguments follow RFC 3550 A.1).
    pub fn on_octets(&mut self, octets: usize) {
        self.octets += octets as u64;
    }

    /// Records an SR from the peer (its NTP time) for LSR/DLSR in our next report.
    pub fn on_sender_report(&mut self, arrival: Instant, ssrc: u32, ntp: u64) {
        if self.source.is_none_or(|s| s.ssrc == ssrc) {
            self.last_sr = Some((ntp_middle(ntp), arrival));
        }
    }

    /// The current source's SSRC, once a packet arrived.
    pub fn ssrc(&self) -> Option<u32> {
        self.source.map(|s| s.ssrc)
    }

    /// RTP packets seen, valid or not.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Payload octets received.
    pub fn octets(&self) -> u64 {
        self.octets
    }

    /// Extended highest sequence number of the current source (A.1), once it is valid.
    pub fn extended_max_seq(&self) -> Option<u32> {
        self.source
            .filter(|s| s.probation == 0)
            .map(|s| s.extended_max())
    }

    /// Packets expected over the whole call (A.3).
    pub fn expected(&self) -> u64 {
        self.prior_expected + self.source.map_or(0, |s| u64::from(s.expected()))
    }

    /// Cumulative packets lost over the whole call (A.3): expected minus received, so duplicates
    /// can make it negative.
    pub fn cumulative_lost(&self) -> i64 {
        self.prior_lost + self.source.map_or(0, |s| s.lost())
    }

    /// Interarrival jitter of the current source, in timestamp units (A.8).
    pub fn jitter(&self) -> u32 {
        self.source.map_or(0, |s| s.jitter as u32)
    }

    /// Interarrival jitter of the current source, in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.source
            .map_or(0.0, |s| s.jitter * 1000.0 / f64::from(self.clock_rate))
    }

    /// The report block about the current source for a report sent at `now`, if it was heard
    /// since the last one; starts a new interval for the fraction lost (A.3).
    pub fn report_block(&mut self, now: Instant) -> Option<ReportBlock> {
        let last_sr = self.last_sr;
        let s = self.source.as_mut()?;
        if !s.heard_since_report || s.probation > 0 {
            return None;
        }
        s.heard_since_report = false;
        let expected = s.expected();
        let expected_interval = expected.wrapping_sub(s.expected_prior);
        s.expected_prior = expected;
        let received_interval = s.received.wrapping_sub(s.received_prior);
        s.received_prior = s.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let (lsr, dlsr) = last_sr.map_or((0, 0), |(lsr, at)| {
            (lsr, to_short_ntp(now.saturating_duration_since(at)))
        });
        Some(ReportBlock {
            ssrc: s.ssrc,
            fraction_lost,
            total_lost: s.lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            extended_highest_seq: s.extended_max(),
            jitter: s.jitter as u32,
            lsr,
            dlsr,
        })
    }
}

/// What we sent, for sender reports (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug, Default)]
pub struct SenderStats {
    /// RTP packets sent.
    pub packets: u64,
    /// Payload octets sent (headers and padding excluded, as the SR counts them).
    pub octets: u64,
    /// RTP timestamp of the last packet sent, and when it was sent.
    pub last: Option<(u32, Instant)>,
}

impl SenderStats {
    /// The RTP timestamp that corresponds to `now` on the sample clock of the last packet sent.
    pub fn rtp_time_at(&self, now: Instant, clock_rate: u32) -> u32 {
        self.last.map_or(0, |(ts, at)| {
            let d = now.saturating_duration_since(at);
            ts.wrapping_add((d.as_nanos() * u128::from(clock_rate) / 1_000_000_000) as u32)
        })
    }
}

/// The peer's latest report about our stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RemoteReport {
    /// The block as received.
    pub block: ReportBlock,
    /// Fraction lost since its previous report, 0..=1.
    pub fraction_lost: f32,
    /// Its jitter estimate in milliseconds.
    pub jitter_ms: f64,
    /// Round-trip time from LSR/DLSR, when it echoed one of our SRs.
    pub rtt: Option<Duration>,
    /// When the report arrived.
    pub received_at: Instant,
}

/// How an [`RtcpSession`] is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtcpConfig {
    /// Our SSRC (the one our RTP carries).
    pub ssrc: u32,
    /// Our canonical name for SDES (RFC 3550 §6.5.1), at most 255 bytes are sent.
    pub cname: String,
    /// RTP clock rate of the stream (Hz), both directions.
    pub clock_rate: u32,
    /// Report interval before randomization; RFC 3550 §6.2's 5 s minimum by default.
    pub interval: Duration,
    /// Seed of the interval randomization (from the injected random source).
    pub seed: u64,
}

impl RtcpConfig {
    /// A configuration with the default interval.
    pub fn new(ssrc: u32, cname: impl Into<String>, clock_rate: u32, seed: u64) -> RtcpConfig {
        RtcpConfig {
            ssrc,
            cname: cname.into(),
            clock_rate,
            interval: DEFAULT_INTERVAL,
            seed,
        }
    }
}

/// Counters of the RTCP exchange itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtcpStats {
    /// Compound packets we built.
    pub reports_sent: u64,
    /// Datagrams handled without a framing error.
    pub packets_received: u64,
    /// Datagrams rejected with an [`RtcpError`].
    pub invalid: u64,
    /// SR, RR, SDES or BYE sub-packets the parser rejected (skipped, the rest applied).
    pub malformed: u64,
    /// Sub-packets of other types (APP, feedback, XR), skipped.
    pub ignored: u64,
}

/// Per-call RTP summary, meant to become the call log's `rtp` object.
#[derive(Clone, Debug, Default)]
pub struct CallRtpStats {
    /// RTP packets we sent.
    pub packets_sent: u64,
    /// RTP packets received from the peer.
    pub packets_received: u64,
    /// Payload octets we sent.
    pub bytes_sent: u64,
    /// Payload octets received.
    pub bytes_received: u64,
    /// Cumulative packets lost (RFC 3550 A.3; negative with duplicates).
    pub packets_lost: i64,
    /// Lost over expected for the whole call, 0..=1.
    pub fraction_lost: f32,
    /// Interarrival jitter of the peer's stream (RFC 3550 A.8), in milliseconds.
    pub jitter_ms: f64,
    /// Fraction lost in the peer's latest report about us, 0..=1.
    pub remote_reported_loss: f32,
    /// Jitter in the peer's latest report about us, in milliseconds.
    pub remote_reported_jitter_ms: f64,
    /// Latest round-trip time from LSR/DLSR, if the peer echoed one of our SRs.
    pub rtt_ms: Option<f64>,
}

/// The RTCP side of one call. See the [module docs](self).
#[derive(Debug)]
pub struct RtcpSession {
    cfg: RtcpConfig,
    epoch: Instant,
    epoch_ntp: u64,
    rng: u64,
    /// The report timer; `None` once we sent BYE.
    next_report: Option<Instant>,
    reception: ReceptionStats,
    sender: SenderStats,
    sent_since_report: bool,
    remote_report: Option<RemoteReport>,
    last_rtt: Option<Duration>,
    remote_cname: Option<String>,
    remote_bye: bool,
    stats: RtcpStats,
}

impl RtcpSession {
    /// A session started at `now`, when the wall clock read `wall`; the first report is due after
    /// half the interval, randomized (RFC 3550 §6.2).
    pub fn new(cfg: RtcpConfig, now: Instant, wall: SystemTime) -> RtcpSession {
        let mut s = RtcpSession {
            reception: ReceptionStats::new(cfg.clock_rate),
            epoch: now,
            epoch_ntp: ntp_time(wall),
            rng: cfg.seed,
            next_report: None,
            sender: SenderStats::default(),
            sent_since_report: false,
            remote_report: None,
            last_rtt: None,
            remote_cname: None,
            remote_bye: false,
            stats: RtcpStats::default(),
            cfg,
        };
        let first = s.randomized(s.cfg.interval / 2);
        s.next_report = Some(now + first);
        s
    }

    /// The configuration the session was made with.
    pub fn config(&self) -> &RtcpConfig {
        &self.cfg
    }

    /// Records an RTP packet received from the peer.
    pub fn on_rtp_received(
        &mut self,
        arrival: Instant,
        seq: u16,
        timestamp: u32,
        ssrc: u32,
        payload_len: usize,
    ) {
        self.reception.on_rtp(arrival, seq, timestamp, ssrc);
        self.reception.on_octets(payload_len);
    }

    /// Records an RTP packet we sent at `now`.
    pub fn on_rtp_sent(&mut self, now: Instant, timestamp: u32, payload_len: usize) {
        self.sender.packets += 1;
        self.sender.octets += payload_len as u64;
        self.sender.last = Some((timestamp, now));
        self.sent_since_report = true;
    }

    /// When [`Self::handle_timeout`] next has a report to send; `None` after [`Self::bye`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_report
    }

    /// Call when [`Self::poll_timeout`] passes: the compound report to send (SR if we sent RTP since
    /// the last report, else RR; then SDES CNAME), and the timer rearmed. `None` when not due.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_report.is_none_or(|t| now < t) {
            return None;
        }
        let next = self.randomized(self.cfg.interval);
        self.next_report = Some(now + next);
        self.build(now, false)
    }

    /// The last report of the call, ending in a BYE (RFC 3550 §6.6); stops the timer.
    pub fn bye(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.next_report = None;
        self.build(now, true)
    }

    /// Handles one incoming RTCP datagram received at `now`: records the peer's SR (for LSR/DLSR),
    /// its reports about us (loss, jitter, RTT), its CNAME and BYE.
    ///
    /// A framing error rejects the whole datagram; a sub-packet the parser rejects is skipped and
    /// counted in [`RtcpStats::malformed`]. Never panics on any input.
    pub fn handle_packet(&mut self, now: Instant, data: &[u8]) -> Result<(), RtcpError> {
        if let Err(e) = validate(data) {
            self.stats.invalid += 1;
            return Err(e);
        }
        self.stats.packets_received += 1;
        let mut off = 0;
        while off < data.len() {
            // `validate` checked every header, length and padding count on this walk.
            let len = (usize::from(u16::from_be_bytes([data[off + 2], data[off + 3]])) + 1) * 4;
            let whole = &data[off..off + len];
            let body = if whole[0] & 0x20 != 0 {
                &whole[..len - usize::from(whole[len - 1])]
            } else {
                whole
            };
            off += len;
            let ok = match whole[1] {
                PT_SR => SenderReport::unmarshal(&mut &body[..])
                    .map(|sr| self.on_sender_report(now, &sr))
                    .is_ok(),
                PT_RR => ReceiverReport::unmarshal(&mut &body[..])
                    .map(|rr| self.on_reports(now, &rr.reports))
                    .is_ok(),
                PT_SDES => SourceDescription::unmarshal(&mut &body[..])
                    .map(|sdes| self.on_sdes(&sdes))
                    .is_ok(),
                // The crate checks BYE's length against the 32-bit grid, so it gets the padding.
                PT_BYE => Goodbye::unmarshal(&mut &whole[..])
                    .map(|_| self.remote_bye = true)
                    .is_ok(),
                _ => {
                    self.stats.ignored += 1;
                    true
                }
            };
            if !ok {
                self.stats.malformed += 1;
            }
        }
        Ok(())
    }

    /// Reception statistics of the peer's stream.
    pub fn reception(&self) -> &ReceptionStats {
        &self.reception
    }

    /// What we sent.
    pub fn sender(&self) -> &SenderStats {
        &self.sender
    }

    /// The peer's latest report about our stream.
    pub fn remote_report(&self) -> Option<&RemoteReport> {
        self.remote_report.as_ref()
    }

    /// The latest round-trip time measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.last_rtt
    }

    /// The peer's CNAME, once it sent SDES.
    pub fn remote_cname(&self) -> Option<&str> {
        self.remote_cname.as_deref()
    }

    /// Whether the peer sent BYE.
    pub fn remote_bye(&self) -> bool {
        self.remote_bye
    }

    /// Counters of the RTCP exchange.
    pub fn stats(&self) -> RtcpStats {
        self.stats
    }

    /// NTP time at `now`, from the wall-clock reading taken at creation.
    pub fn ntp_at(&self, now: Instant) -> u64 {
        self.epoch_ntp
            .wrapping_add(ntp_duration(now.saturating_duration_since(self.epoch)))
    }

    /// The call's summary for the call log.
    pub fn call_stats(&self) -> CallRtpStats {
        let expected = self.reception.expected();
        let lost = self.reception.cumulative_lost();
        let fraction_lost = if expected == 0 || lost <= 0 {
            0.0
        } else {
            (lost as f64 / expected as f64).min(1.0) as f32
        };
        CallRtpStats {
            packets_sent: self.sender.packets,
            packets_received: self.reception.packets(),
            bytes_sent: self.sender.octets,
            bytes_received: self.reception.octets(),
            packets_lost: lost,
            fraction_lost,
            jitter_ms: self.reception.jitter_ms(),
            remote_reported_loss: self.remote_report.map_or(0.0, |r| r.fraction_lost),
            remote_reported_jitter_ms: self.remote_report.map_or(0.0, |r| r.jitter_ms),
            rtt_ms: self.last_rtt.map(|d| d.as_secs_f64() * 1000.0),
        }
    }

    fn on_sender_report(&mut self, now: Instant, sr: &SenderReport) {
        self.reception.on_sender_report(now, sr.ssrc, sr.ntp_time);
        self.on_reports(now, &sr.reports);
    }

    fn on_reports(&mut self, now: Instant, reports: &[ReceptionReport]) {
        for r in reports.iter().filter(|r| r.ssrc == self.cfg.ssrc) {
            let block = ReportBlock::from_wire(r);
            let rtt = self.rtt_from(now, block.lsr, block.dlsr);
            if rtt.is_some() {
                self.last_rtt = rtt;
            }
            self.remote_report = Some(RemoteReport {
                block,
                fraction_lost: f32::from(block.fraction_lost) / 256.0,
                jitter_ms: f64::from(block.jitter) * 1000.0 / f64::from(self.cfg.clock_rate.max(1)),
                rtt,
                received_at: now,
            });
        }
    }

    /// RFC 3550 §6.4.1: RTT = A - LSR - DLSR, in 1/65536 s, with A the arrival time.
    fn rtt_from(&self, now: Instant, lsr: u32, dlsr: u32) -> Option<Duration> {
        if lsr == 0 {
            return None;
        }
        let a = ntp_middle(self.ntp_at(now));
        let rtt = a.wrapping_sub(lsr).wrapping_sub(dlsr);
        // A "negative" RTT (clock steps, a forged LSR) is no measurement.
        (rtt < 0x8000_0000).then(|| from_short_ntp(rtt))
    }

    fn on_sdes(&mut self, sdes: &SourceDescription) {
        let cname = sdes
            .chunks
            .iter()
            .filter(|c| Some(c.source) == self.reception.ssrc() || self.reception.ssrc().is_none())
            .flat_map(|c| c.items.iter())
            .find(|i| i.sdes_type == SdesType::SdesCname);
        if let Some(item) = cname {
            if self.remote_cname.as_deref().map(str::as_bytes) != Some(&item.text[..]) {
                self.remote_cname = Some(String::from_utf8_lossy(&item.text).into_owned());
            }
        }
    }

    fn build(&mut self, now: Instant, bye: bool) -> Option<Vec<u8>> {
        let reports: Vec<ReceptionReport> = self
            .reception
            .report_block(now)
            .map(ReportBlock::to_wire)
            .into_iter()
            .collect();
        let mut packets: Vec<Box<dyn Packet + Send + Sync>> = Vec::with_capacity(3);
        if self.sent_since_report {
            packets.push(Box::new(SenderReport {
                ssrc: self.cfg.ssrc,
                ntp_time: self.ntp_at(now),
                rtp_time: self.sender.rtp_time_at(now, self.cfg.clock_rate),
                packet_count: self.sender.packets as u32,
                octet_count: self.sender.octets as u32,
                reports,
                profile_extensions: Bytes::new(),
            }));
        } else {
            packets.push(Box::new(ReceiverReport {
                ssrc: self.cfg.ssrc,
                reports,
                profile_extensions: Bytes::new(),
            }));
        }
        self.sent_since_report = false;
        let cname = self.cfg.cname.as_bytes();
        packets.push(Box::new(SourceDescription {
            chunks: vec![SourceDescriptionChunk {
                source: self.cfg.ssrc,
                items: vec![SourceDescriptionItem {
                    sdes_type: SdesType::SdesCname,
                    text: Bytes::copy_from_slice(&cname[..cname.len().min(255)]),
                }],
            }],
        }));
        if bye {
            packets.push(Box::new(Goodbye {
                sources: vec![self.cfg.ssrc],
                reason: Bytes::new(),
            }));
        }
        match ::rtcp::packet::marshal(&packets) {
            Ok(bytes) => {
                self.stats.reports_sent += 1;
                Some(bytes.to_vec())
            }
            Err(e) => {
                tracing::warn!(error = %e, "rtcp: report not built");
                None
            }
        }
    }

    /// `base` scaled by a factor uniform in [0.5, 1.5) (RFC 3550 §6.2).
    fn randomized(&mut self, base: Duration) -> Duration {
        let u = (splitmix64(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(0.5 + u)
    }
}

/// RFC 3550 A.2 framing checks on a compound packet: every header version 2, lengths that add up
/// to the datagram, padding only on the last packet and within it.
fn validate(data: &[u8]) -> Result<(), RtcpError> {
    if data.len() < 4 {
        return Err(RtcpError::Truncated);
    }
    let mut off = 0;
    while off < data.len() {
        let Some(&[b0, _, l0, l1]) = data.get(off..off + 4) else {
            return Err(RtcpError::Truncated);
        };
        if b0 >> 6 != 2 {
            return Err(RtcpError::BadVersion);
        }
        let len = (usize::from(u16::from_be_bytes([l0, l1])) + 1) * 4;
        if off + len > data.len() {
            return Err(RtcpError::Truncated);
        }
        off += len;
        if b0 & 0x20 != 0 {
            let pad = usize::from(data[off - 1]);
            if off != data.len() || pad == 0 || pad > len - 4 {
                return Err(RtcpError::BadPadding);
            }
        }
    }
    Ok(())
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
