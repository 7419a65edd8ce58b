//! SDP offer/answer for one audio stream: RFC 3264 §5–§7 on RFC 8866 syntax, with RFC 4733 telephone-event.
//!
//! Pure functions from bytes to values, parsed and written with the `sdp` crate:
//!
//! - [`answer`]: the peer offered (INVITE or re-INVITE with a body); we pick the codec by *our* preference among
//!   what its first usable audio stream offers, keep the offerer's payload type numbers, and reject every other
//!   stream with port 0, keeping the number and order of `m=` lines (RFC 3264 §6).
//! - [`offer`]: the INVITE had no body, so our 200 OK carries the offer; [`accept_answer`] reads the peer's
//!   answer from the ACK (RFC 3264 §5, §6.1 for the offerer's side).
//!
//! Everything here takes peer input: malformed, truncated or non-UTF-8 bodies come back as [`SdpError`] with
//! the status code to answer with, never as a panic.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use sdp::description::common::{Address, Attribute, ConnectionInformation};
use sdp::description::media::{MediaDescription, MediaName, RangedPort};
use sdp::description::session::{Origin, SessionDescription, TimeDescription, Timing};

/// First dynamic RTP payload type (RFC 3551 §6); our offer numbers dynamic codecs from here.
const DYNAMIC_PT_START: u8 = 96;
/// Payload type of telephone-event in our offers (the customary value; any dynamic one would do).
const TELEPHONE_EVENT_PT: u8 = 101;
/// RFC 4733 encoding name.
const TELEPHONE_EVENT: &str = "telephone-event";
/// Events we receive: DTMF 0-9, *, #, A-D and flash (RFC 4733 §3.2).
const TELEPHONE_EVENTS: &str = "0-16";
/// Name in `o=` and `s=`.
const USER_AGENT: &str = "Chorus";

/// One codec we can send and receive, as the server configures it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecSpec {
    /// Encoding name as written in `a=rtpmap` (`PCMU`, `PCMA`, `G722`, `opus`); compared case-insensitively.
    pub name: String,
    /// RTP clock rate in Hz. G.722 may say 16000 here: its SDP rate is 8000 regardless (RFC 3551 §4.5.2).
    pub clock_rate: u32,
    /// Audio channels (1 for telephony codecs).
    pub channels: u16,
    /// The static payload type (RFC 3551 table 4), `None` for codecs that only have dynamic ones.
    pub static_pt: Option<u8>,
}

/// What we offer or answer with.
#[derive(Clone, Debug)]
pub struct LocalMedia {
    /// Our RTP address, written in `o=` and `c=`.
    pub ip: IpAddr,
    /// Our RTP port.
    pub port: u16,
    /// Codecs in preference order, most preferred first.
    pub codecs: Vec<CodecSpec>,
    /// Whether we accept and offer RFC 4733 telephone-event.
    pub telephone_event: bool,
    /// Our packetization time, written as `a=ptime`.
    pub ptime_ms: u32,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` session version; the caller bumps it for each new offer or answer in a dialog.
    pub session_version: u64,
}

/// Direction of a media stream (RFC 3264 §5.1, §6.1), always from our side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// We send and receive.
    SendRecv,
    /// We only send (the peer put itself on receive only).
    SendOnly,
    /// We only receive (the peer holds us: it sends only).
    RecvOnly,
    /// Nobody sends.
    Inactive,
}

impl Direction {
    /// The same stream seen from the other side: `sendonly` becomes `recvonly` and back.
    pub fn reversed(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// The SDP attribute name (`sendrecv`, `sendonly`, `recvonly`, `inactive`).
    pub fn as_attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attribute(key: &str) -> Option<Self> {
        match key {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// This side stops receiving (RFC 3264 §8.4 old-style hold: `c=` 0.0.0.0).
    fn without_recv(self) -> Self {
        match self {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
        }
    }
}

/// The outcome of one offer/answer exchange.
#[derive(Clone, Debug)]
#[must_use]
pub struct Negotiated {
    /// The SDP we send: our answer from [`answer`], or our offer for [`accept_answer`].
    pub answer: String,
    /// The codec to send and receive with (our spec, not the peer's spelling).
    pub codec: CodecSpec,
    /// The payload type for `codec`: the offerer's number.
    pub payload_type: u8,
    /// The telephone-event payload type, when both sides use it.
    pub telephone_event_pt: Option<u8>,
    /// Where to send RTP; `None` when the peer's `c=` is 0.0.0.0 (or `::`) or its port is 0.
    pub remote_rtp: Option<SocketAddr>,
    /// Our direction.
    pub direction: Direction,
    /// The peer's `a=ptime`, if it gave one.
    pub remote_ptime_ms: Option<u32>,
    /// RTCP goes on the RTP port both ways (RFC 5761): the offer had `a=rtcp-mux`, and so has our answer.
    pub rtcp_mux: bool,
    /// Where the peer wants RTCP when not multiplexed: its `a=rtcp` (RFC 3605), else the RTP port + 1.
    pub remote_rtcp: Option<SocketAddr>,
}

/// Why an offer or answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is not SDP (RFC 8866 §5 syntax), or not UTF-8.
    #[error("unparseable sdp: {0}")]
    Unparseable(String),
    /// The audio stream we would use has no `c=` line, neither at media nor at session level.
    #[error("no connection address for the audio stream")]
    MissingConnection,
    /// The `c=` address is not an IP address.
    #[error("bad connection address {0:?}")]
    BadConnection(String),
    /// No audio stream with a port and an RTP/AVP(F) profile.
    #[error("no usable audio stream")]
    NoAudio,
    /// Audio streams were offered, but none with a codec we have.
    #[error("no acceptable audio codec")]
    NoAcceptableCodec,
}

impl SdpError {
    /// The SIP status to reject an offer with: 400 for malformed SDP, 488 when nothing acceptable was offered.
    pub fn status_code(&self) -> u16 {
        match self {
            SdpError::Unparseable(_) | SdpError::MissingConnection | SdpError::BadConnection(_) => {
                400
            }
            SdpError::NoAudio | SdpError::NoAcceptableCodec => 488,
        }
    }
}

/// Answers the peer's `offer` with our `local` media (RFC 3264 §6).
///
/// The answer has as many `m=` lines as the offer, in the same order; only the first audio stream with a
/// codec we have is accepted, all others get port 0.
pub fn answer(offer: &[u8], local: &LocalMedia) -> Result<Negotiated, SdpError> {
    let sd = parse(offer)?;
    let mut chosen: Option<(usize, Chosen)> = None;
    let mut saw_audio = false;
    for (i, md) in sd.media_descriptions.iter().enumerate() {
        if md.media_name.media != "audio" || md.media_name.port.value == 0 || !is_plain_rtp(md) {
            continue;
        }
        saw_audio = true;
        if let Some(c) = choose_for_answer(md, local) {
            chosen = Some((i, c));
            break;
        }
    }
    let Some((index, chosen)) = chosen else {
        return Err(if saw_audio {
            SdpError::NoAcceptableCodec
        } else {
            SdpError::NoAudio
        });
    };
    let md = &sd.media_descriptions[index];
    let remote_ip = connection_address(&sd, md)?;
    let remote_dir = peer_direction(&sd, md, remote_ip);
    let direction = remote_dir.reversed();
    let rtcp_mux = md.attributes.iter().any(|a| a.key == "rtcp-mux");

    let mut out = session_skeleton(local);
    for (i, m) in sd.media_descriptions.iter().enumerate() {
        if i == index {
            out.media_descriptions.push(audio_media(
                local,
                m.media_name.protos.clone(),
                &[(chosen.payload_type, chosen.rtpmap.clone(), None)],
                chosen.telephone_event.clone(),
                direction,
                rtcp_mux,
            ));
        } else {
            out.media_descriptions.push(rejected(m));
        }
    }

    Ok(Negotiated {
        answer: out.marshal(),
        codec: chosen.codec,
        payload_type: chosen.payload_type,
        telephone_event_pt: chosen.telephone_event.map(|(pt, _, _)| pt),
        remote_rtp: remote_rtp(remote_ip, md),
        direction,
        remote_ptime_ms: ptime(&sd, md),
        rtcp_mux,
        remote_rtcp: remote_rtcp(remote_ip, md),
    })
}

/// Our offer: one `sendrecv` audio stream with all our codecs, static payload types where they have one,
/// dynamic ones from 96, telephone-event (PT 101 at 8000 Hz) when enabled, and `a=rtcp-mux` (RFC 5761
/// §5.1.1: RTCP on the RTP port if the answer agrees; our RTCP port stays bound for an answer that does
/// not).
///
/// Deterministic in `local`: [`accept_answer`] rebuilds the same text to know what was offered.
pub fn offer(local: &LocalMedia) -> String {
    offer_sdp(local, true)
}

/// The offer for a re-INVITE (or UPDATE) without SDP in a call: [`offer`] without `a=rtcp-mux`, as the
/// answer to a re-offer does not change how an established call sends RTCP.
pub fn reoffer(local: &LocalMedia) -> String {
    offer_sdp(local, false)
}

fn offer_sdp(local: &LocalMedia, rtcp_mux: bool) -> String {
    let plan = OfferPlan::new(local);
    let mut out = session_skeleton(local);
    let codecs: Vec<(u8, String, Option<String>)> = plan
        .codecs
        .iter()
        .map(|(pt, spec)| (*pt, rtpmap_of(spec), None))
        .collect();
    let te: Vec<(u8, String, Option<String>)> = plan
        .telephone_events
        .iter()
        .map(|(pt, rate)| {
            (
                *pt,
                format!("{TELEPHONE_EVENT}/{rate}"),
                Some(TELEPHONE_EVENTS.to_string()),
            )
        })
        .collect();
    let mut md = audio_media(
        local,
        vec!["RTP".into(), "AVP".into()],
        &codecs,
        None,
        Direction::SendRecv,
        rtcp_mux,
    );
    if codecs.is_empty() {
        // Nothing to offer: a disabled stream still makes a well-formed m= line.
        md.media_name.port.value = 0;
        md.media_name.formats = vec!["0".into()];
        md.attributes.clear();
    } else {
        append_formats(&mut md, &te);
    }
    out.media_descriptions.push(md);
    out.marshal()
}

/// Reads the peer's answer to [`offer`]`(local)` (RFC 3264 §6.1 from the offerer's side).
///
/// The codec is the first format of the answer's audio stream that we offered; `Negotiated::answer` is the
/// text of our offer.
pub fn accept_answer(answer: &[u8], local: &LocalMedia) -> Result<Negotiated, SdpError> {
    let sd = parse(answer)?;
    let plan = OfferPlan::new(local);
    let Some(md) = sd
        .media_descriptions
        .iter()
        .find(|m| m.media_name.media == "audio")
    else {
        return Err(SdpError::NoAudio);
    };
    if md.media_name.port.value == 0 {
        return Err(SdpError::NoAcceptableCodec);
    }
    let maps = rtpmaps(md);
    // The answer may omit rtpmap for the numbers we offered; our offer defines them then.
    let describe = |pt: u8| {
        maps.iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, e)| e.clone())
            .or_else(|| plan.encoding(pt))
            .or_else(|| static_encoding(pt))
    };
    let pts = payload_types(md);
    // The answerer's order is its preference; send with the first format we offered.
    let Some((payload_type, codec)) = pts.iter().find_map(|&pt| {
        let enc = describe(pt);
        if enc.as_ref().is_some_and(Encoding::is_telephone_event) {
            return None;
        }
        let spec = local
            .codecs
            .iter()
            .find(|s| spec_matches(s, pt, enc.as_ref()))?;
        Some((pt, spec.clone()))
    }) else {
        return Err(SdpError::NoAcceptableCodec);
    };
    let rate = sdp_rate(&codec);
    let telephone_event_pt = if local.telephone_event {
        pts.iter()
            .copied()
            .find(|&pt| describe(pt).is_some_and(|e| e.is_telephone_event() && e.rate == rate))
    } else {
        None
    };
    let remote_ip = connection_address(&sd, md)?;
    let remote_dir = peer_direction(&sd, md, remote_ip);
    Ok(Negotiated {
        answer: offer(local),
        codec,
        payload_type,
        telephone_event_pt,
        remote_rtp: remote_rtp(remote_ip, md),
        direction: remote_dir.reversed(),
        remote_ptime_ms: ptime(&sd, md),
        // We offered it; the answer takes it or not.
        rtcp_mux: md.attributes.iter().any(|a| a.key == "rtcp-mux"),
        remote_rtcp: remote_rtcp(remote_ip, md),
    })
}

/// The encoding an `a=rtpmap` (or the static table) gives a payload type.
#[derive(Clone, Debug)]
struct Encoding {
    name: String,
    rate: u32,
    channels: u16,
}

impl Encoding {
    fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case(TELEPHONE_EVENT)
    }
}

/// The codec picked from an offer.
struct Chosen {
    codec: CodecSpec,
    payload_type: u8,
    /// `a=rtpmap` value to answer with: the offerer's, or ours for a static type it did not map.
    rtpmap: String,
    /// (pt, rtpmap value, fmtp value) of telephone-event.
    telephone_event: Option<(u8, String, Option<String>)>,
}

/// Payload types of our offer, derived from `local` only so [`accept_answer`] sees the same numbers.
struct OfferPlan {
    codecs: Vec<(u8, CodecSpec)>,
    /// (pt, clock rate): one telephone-event per distinct codec rate, 101 for 8000 Hz.
    telephone_events: Vec<(u8, u32)>,
}

impl OfferPlan {
    fn new(local: &LocalMedia) -> Self {
        let mut used: Vec<u8> = local
            .codecs
            .iter()
            .filter_map(|c| c.static_pt.filter(|pt| *pt < DYNAMIC_PT_START))
            .collect();
        if local.telephone_event {
            used.push(TELEPHONE_EVENT_PT);
        }
        let mut next = DYNAMIC_PT_START;
        let mut take = |used: &mut Vec<u8>| -> Option<u8> {
            while next <= 127 {
                let pt = next;
                next += 1;
                if !used.contains(&pt) {
                    used.push(pt);
                    return Some(pt);
                }
            }
            None
        };
        let mut codecs = Vec::new();
        for spec in &local.codecs {
            let pt = match spec.static_pt.filter(|pt| *pt < DYNAMIC_PT_START) {
                Some(pt) => Some(pt),
                None => take(&mut used),
            };
            // Out of dynamic numbers (over 30 codecs): the rest are not offered.
            if let Some(pt) = pt {
                if !codecs.iter().any(|(p, _)| *p == pt) {
                    codecs.push((pt, spec.clone()));
                }
            }
        }
        let mut telephone_events: Vec<(u8, u32)> = Vec::new();
        if local.telephone_event && !codecs.is_empty() {
            let mut rates: Vec<u32> = Vec::new();
            for (_, spec) in &codecs {
                let r = sdp_rate(spec);
                if !rates.contains(&r) {
                    rates.push(r);
                }
            }
            // 8000 Hz gets the customary 101; the first rate does when there is no 8000 Hz codec.
            let main = if rates.contains(&8000) {
                8000
            } else {
                rates[0]
            };
            telephone_events.push((TELEPHONE_EVENT_PT, main));
            for r in rates.into_iter().filter(|r| *r != main) {
                if let Some(pt) = take(&mut used) {
                    telephone_events.push((pt, r));
                }
            }
        }
        OfferPlan {
            codecs,
            telephone_events,
        }
    }

    fn encoding(&self, pt: u8) -> Option<Encoding> {
        if let Some((_, spec)) = self.codecs.iter().find(|(p, _)| *p == pt) {
            return Some(Encoding {
                name: spec.name.clone(),
                rate: sdp_rate(spec),
                channels: spec.channels.max(1),
            });
        }
        self.telephone_events
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, rate)| Encoding {
                name: TELEPHONE_EVENT.into(),
                rate: *rate,
                channels: 1,
            })
    }
}

fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
    if std::str::from_utf8(body).is_err() {
        return Err(SdpError::Unparseable("not utf-8".into()));
    }
    // The sdp crate is third-party code run on peer input inside the SIP task; a panic there must cost one
    // offer (a 400), not the server.
    let parsed = std::panic::catch_unwind(|| SessionDescription::unmarshal(&mut Cursor::new(body)));
    match parsed {
        Ok(Ok(sd)) => Ok(sd),
        Ok(Err(e)) => Err(SdpError::Unparseable(e.to_string())),
        Err(_) => Err(SdpError::Unparseable("parser failure".into())),
    }
}

/// RTP/AVP or RTP/AVPF: plain RTP we can do. SRTP profiles (SAVP, SAVPF) and the rest are rejected.
fn is_plain_rtp(md: &MediaDescription) -> bool {
    let p = &md.media_name.protos;
    p.len() == 2 && p[0] == "RTP" && (p[1] == "AVP" || p[1] == "AVPF")
}

/// Numeric payload types of an `m=` line, in order; anything else (`*`, garbage, > 127) is skipped.
fn payload_types(md: &MediaDescription) -> Vec<u8> {
    md.media_name
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .filter(|pt| *pt <= 127)
        .collect()
}

/// `a=rtpmap:<pt> <name>/<rate>[/<channels>]` lines of a media description.
fn rtpmaps(md: &MediaDescription) -> Vec<(u8, Encoding)> {
    rtpmap_values(md)
        .into_iter()
        .map(|(pt, _, e)| (pt, e))
        .collect()
}

/// Like [`rtpmaps`], also keeping the raw `<name>/<rate>...` text to echo in an answer; lines that do not
/// parse are skipped, as if absent.
fn rtpmap_values(md: &MediaDescription) -> Vec<(u8, String, Encoding)> {
    let mut out = Vec::new();
    for a in &md.attributes {
        if a.key != "rtpmap" {
            continue;
        }
        let Some(v) = a.value.as_deref() else {
            continue;
        };
        let Some((pt, enc)) = v.trim().split_once(char::is_whitespace) else {
            continue;
        };
        let Ok(pt) = pt.parse::<u8>() else {
            continue;
        };
        let enc = enc.trim();
        let mut parts = enc.split('/');
        let name = parts.next().unwrap_or("").trim();
        let Some(Ok(rate)) = parts.next().map(|r| r.trim().parse::<u32>()) else {
            continue;
        };
        let channels = match parts.next() {
            None => 1,
            Some(c) => match c.trim().parse::<u16>() {
                Ok(c) => c,
                Err(_) => continue,
            },
        };
        if name.is_empty() {
            continue;
        }
        out.push((
            pt,
            enc.to_string(),
            Encoding {
                name: name.to_string(),
                rate,
                channels,
            },
        ));
    }
    out
}

fn fmtp(md: &MediaDescription, pt: u8) -> Option<String> {
    md.attributes.iter().find_map(|a| {
        if a.key != "fmtp" {
            return None;
        }
        let (p, params) = a.value.as_deref()?.trim().split_once(char::is_whitespace)?;
        (p.parse::<u8>().ok()? == pt).then(|| params.trim().to_string())
    })
}

/// RFC 3551 table 4: static payload types that carry an encoding without `a=rtpmap`.
fn static_encoding(pt: u8) -> Option<Encoding> {
    let (name, rate) = match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        4 => ("G723", 8000),
        5 => ("DVI4", 8000),
        6 => ("DVI4", 16000),
        7 => ("LPC", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        10 | 11 => ("L16", 44100),
        12 => ("QCELP", 8000),
        13 => ("CN", 8000),
        14 => ("MPA", 90000),
        15 => ("G728", 8000),
        16 => ("DVI4", 11025),
        17 => ("DVI4", 22050),
        18 => ("G729", 8000),
        _ => return None,
    };
    Some(Encoding {
        name: name.into(),
        rate,
        channels: if pt == 10 { 2 } else { 1 },
    })
}

/// The clock rate SDP states for a codec: G.722 is 8000 there although it samples at 16 kHz (RFC 3551 §4.5.2).
fn sdp_rate(spec: &CodecSpec) -> u32 {
    if spec.name.eq_ignore_ascii_case("G722") {
        8000
    } else {
        spec.clock_rate
    }
}

fn is_opus(name: &str) -> bool {
    name.eq_ignore_ascii_case("opus")
}

/// Our `a=rtpmap` value for a codec; Opus is always written with 2 channels (RFC 7587 §7).
fn rtpmap_of(spec: &CodecSpec) -> String {
    let rate = sdp_rate(spec);
    if is_opus(&spec.name) {
        format!("{}/{rate}/2", spec.name)
    } else if spec.channels > 1 {
        format!("{}/{rate}/{}", spec.name, spec.channels)
    } else {
        format!("{}/{rate}", spec.name)
    }
}

/// Whether payload type `pt`, described by `enc` (rtpmap or static table), is our codec `spec`.
fn spec_matches(spec: &CodecSpec, pt: u8, enc: Option<&Encoding>) -> bool {
    match enc {
        Some(e) => {
            e.name.eq_ignore_ascii_case(&spec.name)
                && e.rate == sdp_rate(spec)
                && (is_opus(&spec.name) || e.channels == spec.channels.max(1))
        }
        // A static number we know but the table does not (or a codec configured with its own static PT).
        None => pt < DYNAMIC_PT_START && spec.static_pt == Some(pt),
    }
}

fn choose_for_answer(md: &MediaDescription, local: &LocalMedia) -> Option<Chosen> {
    let maps = rtpmap_values(md);
    let pts = payload_types(md);
    let describe = |pt: u8| -> Option<(String, Encoding)> {
        match maps.iter().find(|(p, _, _)| *p == pt) {
            Some((_, raw, e)) => Some((raw.clone(), e.clone())),
            // Dynamic numbers mean nothing without an rtpmap.
            None if pt >= DYNAMIC_PT_START => None,
            None => static_encoding(pt).map(|e| (format!("{}/{}", e.name, e.rate), e)),
        }
    };
    let (codec, payload_type, rtpmap) = local.codecs.iter().find_map(|spec| {
        pts.iter().find_map(|&pt| {
            let d = describe(pt);
            if d.as_ref().is_some_and(|(_, e)| e.is_telephone_event()) {
                return None;
            }
            spec_matches(spec, pt, d.as_ref().map(|(_, e)| e)).then(|| {
                let raw = d.map(|(raw, _)| raw).unwrap_or_else(|| rtpmap_of(spec));
                (spec.clone(), pt, raw)
            })
        })
    })?;
    let rate = sdp_rate(&codec);
    let telephone_event = if local.telephone_event {
        pts.iter().find_map(|&pt| {
            let (raw, e) = maps
                .iter()
                .find(|(p, _, _)| *p == pt)
                .map(|(_, raw, e)| (raw, e))?;
            (e.is_telephone_event() && e.rate == rate).then(|| (pt, raw.clone(), fmtp(md, pt)))
        })
    } else {
        None
    };
    Some(Chosen {
        codec,
        payload_type,
        rtpmap,
        telephone_event,
    })
}

/// Media-level `c=` overrides session-level (RFC 8866 §5.7); the address may carry `/ttl` or `/count`.
fn connection_address(sd: &SessionDescription, md: &MediaDescription) -> Result<IpAddr, SdpError> {
    let ci = md
        .connection_information
        .as_ref()
        .or(sd.connection_information.as_ref())
        .ok_or(SdpError::MissingConnection)?;
    let addr = ci.address.as_ref().ok_or(SdpError::MissingConnection)?;
    let host = addr.address.split('/').next().unwrap_or("");
    host.parse::<IpAddr>()
        .map_err(|_| SdpError::BadConnection(truncated(&addr.address)))
}

/// Keeps peer text in error messages short.
fn truncated(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The peer's direction: media-level attribute, else session-level, else sendrecv (RFC 3264 §5.1); a `c=`
/// of 0.0.0.0 means it does not receive (RFC 3264 §8.4).
fn peer_direction(sd: &SessionDescription, md: &MediaDescription, remote: IpAddr) -> Direction {
    let find = |attrs: &[Attribute]| attrs.iter().find_map(|a| Direction::from_attribute(&a.key));
    let d = find(&md.attributes)
        .or_else(|| find(&sd.attributes))
        .unwrap_or(Direction::SendRecv);
    if remote.is_unspecified() {
        d.without_recv()
    } else {
        d
    }
}

fn remote_rtp(ip: IpAddr, md: &MediaDescription) -> Option<SocketAddr> {
    let port = u16::try_from(md.media_name.port.value).ok()?;
    (port != 0 && !ip.is_unspecified()).then(|| SocketAddr::new(ip, port))
}

/// The peer's RTCP address: `a=rtcp:PORT [IN IP4 ADDR]` (RFC 3605), else the RTP port + 1 (RFC 3550 §11).
fn remote_rtcp(ip: IpAddr, md: &MediaDescription) -> Option<SocketAddr> {
    let rtp = remote_rtp(ip, md)?;
    let explicit = md.attributes.iter().find_map(|a| {
        if a.key != "rtcp" {
            return None;
        }
        let mut words = a.value.as_deref()?.split_whitespace();
        let port: u16 = words.next()?.parse().ok().filter(|p| *p != 0)?;
        let addr = match (words.next(), words.next(), words.next()) {
            (Some("IN"), Some(_), Some(a)) => {
                a.parse().ok().filter(|a: &IpAddr| !a.is_unspecified())
            }
            _ => None,
        };
        Some(SocketAddr::new(addr.unwrap_or(rtp.ip()), port))
    });
    explicit.or_else(|| Some(SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1))))
}

/// `a=ptime` in whole milliseconds, media level first; fractional values are rounded down.
fn ptime(sd: &SessionDescription, md: &MediaDescription) -> Option<u32> {
    let find = |attrs: &[Attribute]| {
        attrs.iter().find_map(|a| {
            if a.key != "ptime" {
                return None;
            }
            let v = a.value.as_deref()?.trim();
            let whole = v.split('.').next()?;
            whole.parse::<u32>().ok().filter(|ms| *ms > 0)
        })
    };
    find(&md.attributes).or_else(|| find(&sd.attributes))
}

fn addr_type(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// `v=`, `o=`, `s=`, `c=`, `t=` of everything we send.
fn session_skeleton(local: &LocalMedia) -> SessionDescription {
    SessionDescription {
        version: 0,
        origin: Origin {
            username: USER_AGENT.into(),
            session_id: local.session_id,
            session_version: local.session_version,
            network_type: "IN".into(),
            address_type: addr_type(local.ip).into(),
            unicast_address: local.ip.to_string(),
        },
        session_name: USER_AGENT.into(),
        connection_information: Some(ConnectionInformation {
            network_type: "IN".into(),
            address_type: addr_type(local.ip).into(),
            address: Some(Address {
                address: local.ip.to_string(),
                ttl: None,
                range: None,
            }),
        }),
        time_descriptions: vec![TimeDescription {
            timing: Timing {
                start_time: 0,
                stop_time: 0,
            },
            repeat_times: vec![],
        }],
        ..Default::default()
    }
}

/// Our audio `m=` line: formats with their rtpmap (and fmtp), then telephone-event, ptime and direction.
fn audio_media(
    local: &LocalMedia,
    protos: Vec<String>,
    codecs: &[(u8, String, Option<String>)],
    telephone_event: Option<(u8, String, Option<String>)>,
    direction: Direction,
    rtcp_mux: bool,
) -> MediaDescription {
    let mut md = MediaDescription {
        media_name: MediaName {
            media: "audio".into(),
            port: RangedPort {
                value: local.port as isize,
                range: None,
            },
            protos,
            formats: vec![],
        },
        ..Default::default()
    };
    append_formats(&mut md, codecs);
    if let Some(te) = telephone_event {
        append_formats(&mut md, &[te]);
    }
    md.attributes.push(Attribute::new(
        "ptime".into(),
        Some(local.ptime_ms.to_string()),
    ));
    md.attributes
        .push(Attribute::new(direction.as_attribute().into(), None));
    if rtcp_mux {
        md.attributes.push(Attribute::new("rtcp-mux".into(), None));
    }
    md
}

/// Adds formats with their `a=rtpmap`/`a=fmtp`, keeping attributes after the last rtpmap/fmtp in place.
fn append_formats(md: &mut MediaDescription, formats: &[(u8, String, Option<String>)]) {
    let mut at = md
        .attributes
        .iter()
        .rposition(|a| a.key == "rtpmap" || a.key == "fmtp")
        .map_or(0, |i| i + 1);
    for (pt, map, params) in formats {
        md.media_name.formats.push(pt.to_string());
        md.attributes.insert(
            at,
            Attribute::new("rtpmap".into(), Some(format!("{pt} {map}"))),
        );
        at += 1;
        if let Some(p) = params {
            md.attributes
                .insert(at, Attribute::new("fmtp".into(), Some(format!("{pt} {p}"))));
            at += 1;
        }
    }
}

/// A stream we do not take: same media, proto and formats, port 0 (RFC 3264 §6).
fn rejected(offered: &MediaDescription) -> MediaDescription {
    MediaDescription {
        media_name: MediaName {
            media: offered.media_name.media.clone(),
            port: RangedPort {
                value: 0,
                range: None,
            },
            protos: offered.media_name.protos.clone(),
            formats: offered.media_name.formats.clone(),
        },
        ..Default::default()
    }
}
