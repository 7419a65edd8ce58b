//! One RTP session's bookkeeping, sans-IO (RFC 3550 §5, §8; symmetric RTP per RFC 4961 and the
//! common "latching" practice for peers behind NAT).
//!
//! The session never touches a socket or a clock: the shell hands it each datagram with the time it
//! arrived ([`RtpSession::handle_datagram`]) and asks it to build outgoing packets
//! ([`RtpSession::packetize`]), sending them to [`RtpSession::send_target`].
//!
//! Latching: the address from SDP is only the initial send target. The first source that sends valid
//! RTP with an expected payload type becomes the peer, and the send target follows it. From then on,
//! packets from any other address are dropped (an unrelated source must not hijack the call), while a
//! new SSRC from the latched address is accepted (a peer may restart its stream, RFC 3550 §8.2).

use std::net::SocketAddr;
use std::time::Instant;

use rtp::header::{Header, EXTENSION_PROFILE_ONE_BYTE, EXTENSION_PROFILE_TWO_BYTE};
use webrtc_util::Unmarshal;

use crate::codec::{AudioDecoder, AudioEncoder, Codec};
use crate::dtmf::rfc4733::EventPacket;

/// Size of an RTP header without CSRCs or extension.
const HEADER_LEN: usize = 12;
/// Extension element id that ends one-byte extension parsing (RFC 8285 §4.2).
const ONE_BYTE_ID_RESERVED: u8 = 0x0F;

/// How a session is set up, from the SDP offer/answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our SSRC (from the injected random source).
    pub ssrc: u32,
    /// Sequence number of our first packet (random, RFC 3550 §5.1).
    pub initial_seq: u16,
    /// RTP timestamp of our first packet (random, RFC 3550 §5.1).
    pub initial_timestamp: u32,
    /// The negotiated audio codec.
    pub codec: Codec,
    /// The payload type negotiated for `codec` (sent and expected on receive).
    pub payload_type: u8,
    /// The payload type negotiated for RFC 4733 telephone-event, if any.
    pub telephone_event_pt: Option<u8>,
    /// The peer's RTP address from SDP: the send target until a source latches.
    pub remote: Option<SocketAddr>,
    /// Packetization time in milliseconds.
    pub ptime_ms: u32,
}

/// Counters of one session, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// RTP packets handed to the socket successfully.
    pub packets_sent: u64,
    /// Bytes of those packets, headers included.
    pub bytes_sent: u64,
    /// Valid RTP packets accepted from the peer.
    pub packets_received: u64,
    /// Bytes of those packets, headers included.
    pub bytes_received: u64,
    /// Valid RTP from an address other than the latched peer.
    pub dropped_foreign: u64,
    /// Datagrams that are not valid RTP (too short, wrong version, bad padding or extension, empty).
    pub dropped_invalid: u64,
    /// Valid RTP with a payload type that was not negotiated.
    pub dropped_payload_type: u64,
    /// RTCP datagrams (RFC 5761 §4 payload type range), ignored for now.
    pub rtcp_ignored: u64,
    /// Times the latched peer changed its SSRC.
    pub ssrc_changes: u64,
    /// Sends the socket refused (would block, ICMP unreachable); the call goes on.
    pub send_errors: u64,
    /// Frames whose time passed without a packet (sending off, no target, or a stall skipped).
    pub frames_skipped: u64,
}

/// What a received datagram carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// Decoded PCM at the codec's sample rate (the session's reusable buffer).
    Audio(&'a [i16]),
    /// An RFC 4733 telephone-event payload, raw (event, E/R/volume, duration, possibly redundant blocks).
    TelephoneEvent(&'a [u8]),
}

/// A valid RTP packet from the peer, with its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Received<'a> {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// RTP marker bit (start of a talkspurt, or of a telephone event).
    pub marker: bool,
    /// The sender's SSRC.
    pub ssrc: u32,
    /// The payload.
    pub payload: Payload<'a>,
}

/// A valid RTP packet from the peer with its payload still encoded ([`RtpSession::receive`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct ReceivedRaw<'a> {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// RTP marker bit.
    pub marker: bool,
    /// The sender's SSRC.
    pub ssrc: u32,
    /// True for an RFC 4733 telephone-event payload, false for audio.
    pub is_event: bool,
    /// The payload, padding removed.
    pub payload: &'a [u8],
}

/// The sans-IO core of one RTP session: latching, validation, decoding, packetizing.
pub struct RtpSession {
    cfg: SessionConfig,
    seq: u16,
    timestamp: u32,
    /// The next packet starts a talkspurt (first packet, or first after frames were skipped).
    marker_next: bool,
    send_target: Option<SocketAddr>,
    latched: Option<SocketAddr>,
    remote_ssrc: Option<u32>,
    last_received: Option<Instant>,
    last_heard: Option<Instant>,
    /// Decoded audio of the last packet (reused, so receiving does not allocate).
    pcm: Vec<i16>,
    /// Our direction's codec state.
    encoder: Box<dyn AudioEncoder>,
    /// The peer's direction's codec state.
    decoder: Box<dyn AudioDecoder>,
    stats: Stats,
}

impl std::fmt::Debug for RtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtpSession")
            .field("cfg", &self.cfg)
            .field("seq", &self.seq)
            .field("timestamp", &self.timestamp)
            .field("send_target", &self.send_target)
            .field("latched", &self.latched)
            .field("remote_ssrc", &self.remote_ssrc)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl RtpSession {
    /// A session that has sent and received nothing yet.
    pub fn new(cfg: SessionConfig) -> RtpSession {
        RtpSession {
            cfg,
            seq: cfg.initial_seq,
            timestamp: cfg.initial_timestamp,
            marker_next: true,
            send_target: cfg.remote,
            latched: None,
            remote_ssrc: None,
            last_received: None,
            last_heard: None,
            pcm: Vec::with_capacity(cfg.codec.samples_per_frame(cfg.ptime_ms.max(20)) * 2),
            encoder: cfg.codec.encoder(),
            decoder: cfg.codec.decoder(),
            stats: Stats::default(),
        }
    }

    /// The configuration the session was made with.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// Where outgoing packets go: the latched peer, else the SDP address, else nowhere.
    pub fn send_target(&self) -> Option<SocketAddr> {
        self.send_target
    }

    /// The latched peer, once one sent valid RTP.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// The peer's current SSRC, once known.
    pub fn remote_ssrc(&self) -> Option<u32> {
        self.remote_ssrc
    }

    /// When the last valid packet from the peer arrived.
    pub fn last_received(&self) -> Option<Instant> {
        self.last_received
    }

    /// When the last RTP packet of any payload type came from the peer (before latching: from anyone):
    /// comfort noise (PT 13) from a phone doing silence suppression still shows the caller is there.
    pub fn last_heard(&self) -> Option<Instant> {
        self.last_heard
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Sequence number the next packet will carry.
    pub fn next_seq(&self) -> u16 {
        self.seq
    }

    /// RTP timestamp the next packet will carry.
    pub fn next_timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Takes the peer's SDP address from a re-INVITE or UPDATE. The same address as before changes
    /// nothing (an already latched peer stays latched: it has proved it receives our packets at its
    /// source address). A new one means the peer moved its media, as signalled: the latch is released,
    /// packets go to the new address, and the first valid RTP from then on latches again.
    pub fn set_remote(&mut self, remote: Option<SocketAddr>) {
        if remote != self.cfg.remote {
            tracing::debug!(old = ?self.cfg.remote, new = ?remote, "rtp: peer moved its media");
            self.latched = None;
        }
        self.cfg.remote = remote;
        if self.latched.is_none() {
            self.send_target = remote;
        }
    }

    /// Takes a codec and payload types renegotiated by a re-INVITE or UPDATE, keeping our SSRC,
    /// sequence numbers and timestamps (the stream goes on, RFC 3264 §8.3.2). A new codec gets fresh
    /// encoder and decoder state; the caller keeps the sample rate the same (timestamps keep counting
    /// in the same units).
    pub fn set_codec(&mut self, codec: Codec, payload_type: u8, telephone_event_pt: Option<u8>) {
        if codec != self.cfg.codec {
            self.encoder = codec.encoder();
            self.decoder = codec.decoder();
            self.marker_next = true;
        }
        self.cfg.codec = codec;
        self.cfg.payload_type = payload_type;
        self.cfg.telephone_event_pt = telephone_event_pt;
    }

    /// The audio decoded from the last datagram that returned [`Payload::Audio`].
    pub fn last_audio(&self) -> &[i16] {
        &self.pcm
    }

    /// Audio standing in for `samples` samples the peer's packets did not bring (loss), from the
    /// decoder's concealment; it replaces [`RtpSession::last_audio`].
    pub fn conceal(&mut self, samples: usize) -> &[i16] {
        self.pcm.clear();
        self.decoder.conceal(samples, &mut self.pcm);
        &self.pcm
    }

    /// Handles one datagram that arrived at `now` from `from`.
    ///
    /// Returns `None` for anything that is not valid RTP from the peer with a negotiated payload type
    /// (each case counted in [`Stats`]); never panics on any input.
    pub fn handle_datagram<'a>(
        &'a mut self,
        now: Instant,
        from: SocketAddr,
        data: &'a [u8],
    ) -> Option<Received<'a>> {
        let raw = self.receive(now, from, data)?;
        let (seq, timestamp, marker, ssrc) = (raw.seq, raw.timestamp, raw.marker, raw.ssrc);
        let payload = if raw.is_event {
            Payload::TelephoneEvent(raw.payload)
        } else {
            self.pcm.clear();
            self.decoder.decode(raw.payload, &mut self.pcm);
            Payload::Audio(&self.pcm)
        };
        Some(Received {
            seq,
            timestamp,
            marker,
            ssrc,
            payload,
        })
    }

    /// Like [`RtpSession::handle_datagram`] but leaves audio encoded, for a jitter buffer that decodes
    /// at playout time with [`RtpSession::decode`].
    pub fn receive<'d>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &'d [u8],
    ) -> Option<ReceivedRaw<'d>> {
        let (header, payload) = self.parse(data)?;
        if self.latched.is_none_or(|peer| peer == from) {
            self.last_heard = Some(now);
        }
        let pt = header.payload_type;
        let is_event = self.cfg.telephone_event_pt == Some(pt);
        if pt != self.cfg.payload_type && !is_event {
            self.stats.dropped_payload_type += 1;
            return None;
        }
        // RFC 4733 §2.3: an event block is 4 bytes; audio with no samples is not worth latching on.
        if payload.is_empty() || (is_event && payload.len() < 4) {
            self.stats.dropped_invalid += 1;
            return None;
        }
        match self.latched {
            Some(peer) if peer != from => {
                self.stats.dropped_foreign += 1;
                return None;
            }
            Some(_) => {}
            None => {
                tracing::debug!(%from, sdp = ?self.cfg.remote, "rtp: latched to peer");
                self.latched = Some(from);
                self.send_target = Some(from);
            }
        }
        match self.remote_ssrc {
            Some(ssrc) if ssrc != header.ssrc => {
                tracing::debug!(old = ssrc, new = header.ssrc, "rtp: peer changed ssrc");
                self.stats.ssrc_changes += 1;
            }
            _ => {}
        }
        self.remote_ssrc = Some(header.ssrc);
        self.last_received = Some(now);
        self.stats.packets_received += 1;
        self.stats.bytes_received += data.len() as u64;
        Some(ReceivedRaw {
            seq: header.sequence_number,
            timestamp: header.timestamp,
            marker: header.marker,
            ssrc: header.ssrc,
            is_event,
            payload,
        })
    }

    /// Decodes one encoded audio payload (from [`RtpSession::receive`]) into the session's buffer.
    pub fn decode(&mut self, payload: &[u8]) -> &[i16] {
        self.pcm.clear();
        self.decoder.decode(payload, &mut self.pcm);
        &self.pcm
    }

    /// Splits a datagram into its RTP header and payload (padding removed), counting what it rejects.
    fn parse<'d>(&mut self, data: &'d [u8]) -> Option<(Header, &'d [u8])> {
        if data.len() < HEADER_LEN || data[0] >> 6 != 2 {
            self.stats.dropped_invalid += 1;
            return None;
        }
        // RTCP multiplexed on the RTP port (RFC 5761 §4): second byte 200..=204, i.e. M=1, PT 72..=76.
        if (72..=76).contains(&(data[1] & 0x7F)) {
            self.stats.rtcp_ignored += 1;
            return None;
        }
        if !extension_fits(data) {
            self.stats.dropped_invalid += 1;
            return None;
        }
        let mut buf = data;
        let header = match Header::unmarshal(&mut buf) {
            Ok(h) => h,
            Err(_) => {
                self.stats.dropped_invalid += 1;
                return None;
            }
        };
        // The rtp crate consumed exactly the header; the rest is payload and padding (RFC 3550 §5.1).
        let mut payload = buf;
        if header.padding {
            let pad = payload.last().map_or(0, |&n| usize::from(n));
            // The count includes itself, so 0 is as malformed as a count beyond the payload.
            if pad == 0 || pad > payload.len() {
                self.stats.dropped_invalid += 1;
                return None;
            }
            payload = &payload[..payload.len() - pad];
        }
        Some((header, payload))
    }

    /// Builds the next RTP packet carrying `pcm` into `out` (cleared first), and advances the sequence
    /// number by one and the timestamp by the frame's samples in RTP clock units
    /// ([`Codec::timestamp_units`]: 160 for 20 ms of G.722, 960 for Opus).
    pub fn packetize(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        out.clear();
        out.reserve(HEADER_LEN + 2 * pcm.len());
        out.push(0x80); // V=2, no padding, no extension, no CSRC.
        out.push((u8::from(self.marker_next) << 7) | (self.cfg.payload_type & 0x7F));
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.cfg.ssrc.to_be_bytes());
        self.encoder.encode(pcm, out);
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self
            .timestamp
            .wrapping_add(self.cfg.codec.timestamp_units(pcm.len()));
        self.marker_next = false;
    }

    /// Builds an RFC 4733 telephone-event packet into `out` (cleared first): our SSRC, the next
    /// sequence number, and the event's payload type, marker and timestamp (its start, the same in all
    /// its packets, §2.5.1). The audio timestamp does not move: the frame the event replaces passes
    /// with [`RtpSession::advance`].
    pub fn packetize_event(&mut self, ev: &EventPacket, out: &mut Vec<u8>) {
        out.clear();
        out.push(0x80);
        out.push((u8::from(ev.marker) << 7) | (ev.payload_type & 0x7F));
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&ev.timestamp.to_be_bytes());
        out.extend_from_slice(&self.cfg.ssrc.to_be_bytes());
        out.extend_from_slice(&ev.payload);
        self.seq = self.seq.wrapping_add(1);
        // The event's own marker starts it; the audio that follows continues the stream.
        self.marker_next = false;
    }

    /// Lets the time of one frame of `samples` pass while telephone-events are sent in its place: the
    /// timestamp advances with the sample clock, the sequence number does not (the events took theirs),
    /// and the audio after the event continues the stream (no talkspurt marker, nothing skipped).
    pub fn advance(&mut self, samples: usize) {
        self.timestamp = self
            .timestamp
            .wrapping_add(self.cfg.codec.timestamp_units(samples));
    }

    /// Lets the time of one frame of `samples` pass without sending it: the timestamp advances with
    /// the sample clock, the sequence number does not (RFC 3550 §5.1), and the next packet is marked
    /// as the start of a talkspurt.
    pub fn skip(&mut self, samples: usize) {
        self.timestamp = self
            .timestamp
            .wrapping_add(self.cfg.codec.timestamp_units(samples));
        self.marker_next = true;
        self.stats.frames_skipped += 1;
    }

    /// Records that a packet of `bytes` left the socket.
    pub fn on_sent(&mut self, bytes: usize) {
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += bytes as u64;
    }

    /// Records that the socket refused a packet.
    pub fn on_send_error(&mut self) {
        self.stats.send_errors += 1;
    }
}

/// Whether the header extension, if any, lies inside the datagram.
///
/// The rtp crate's parser reads RFC 8285 extension elements without checking them against the end of
/// the buffer and panics on a truncated element (an element length running past the datagram). This
/// walks the elements the same way, over the slice, so only datagrams it can parse reach it.
fn extension_fits(data: &[u8]) -> bool {
    if data[0] & 0x10 == 0 {
        return true;
    }
    let cc = usize::from(data[0] & 0x0F);
    let mut off = HEADER_LEN + 4 * cc;
    let Some(&[p0, p1, l0, l1]) = data.get(off..off + 4) else {
        return false;
    };
    let profile = u16::from_be_bytes([p0, p1]);
    let ext_len = usize::from(u16::from_be_bytes([l0, l1])) * 4;
    off += 4;
    let end = off + ext_len;
    if end > data.len() {
        return false;
    }
    match profile {
        EXTENSION_PROFILE_ONE_BYTE => {
            while off < end {
                let b = data[off];
                off += 1;
                if b == 0 {
                    continue;
                }
                if b >> 4 == ONE_BYTE_ID_RESERVED {
                    break;
                }
                off += usize::from(b & 0x0F) + 1;
                if off > data.len() {
                    return false;
                }
            }
            true
        }
        EXTENSION_PROFILE_TWO_BYTE => {
            while off < end {
                let b = data[off];
                off += 1;
                if b == 0 {
                    continue;
                }
                let Some(&len) = data.get(off) else {
                    return false;
                };
                off += 1 + usize::from(len);
                if off > data.len() {
                    return false;
                }
            }
            true
        }
        _ => true,
    }
}
