//! Audio codecs on the media path behind one pair of traits, and their RTP parameters (RFC 3551 §4.5
//! and table 4; RFC 7587 for Opus).
//!
//! [`Codec`] is the small `Copy` name of a codec with its RTP facts; [`Codec::encoder`] and
//! [`Codec::decoder`] make the per-direction state ([`AudioEncoder`], [`AudioDecoder`]) that stateful
//! codecs (G.722's ADPCM predictors, Opus) need. Internal audio is mono 16-bit PCM at
//! [`Codec::sample_rate`], 8000 or 16000 Hz; the RTP timestamp runs at [`Codec::clock_rate`], which
//! differs for G.722 (8000, an RFC 3551 §4.5.2 quirk) and Opus (48000, RFC 7587 §4.1).

use crate::{g711, g722, opus};

/// Turns PCM frames into RTP payloads. One per sending direction: it may keep state between frames.
pub trait AudioEncoder: Send {
    /// Encodes one frame of `pcm` at the codec's sample rate, appending the payload bytes to `out`.
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>);
}

/// Turns RTP payloads into PCM frames. One per receiving direction: it may keep state between packets.
pub trait AudioDecoder: Send {
    /// Decodes one RTP payload, appending PCM samples at the codec's sample rate to `out`. A payload
    /// the codec cannot decode appends nothing; no input makes it panic.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>);

    /// Appends `samples` samples standing in for a lost packet (packet loss concealment). The default
    /// is silence; codecs with their own concealment (Opus) override it.
    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        out.resize(out.len() + samples, 0);
    }
}

/// A codec the media path can encode and decode, named as in SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law at 8 kHz, static payload type 0.
    Pcmu,
    /// G.711 A-law at 8 kHz, static payload type 8.
    Pcma,
    /// G.722 at 64 kbit/s: 16 kHz audio, an 8000 Hz RTP clock, static payload type 9.
    G722,
    /// Linear 16-bit big-endian PCM, mono at 16 kHz, on a dynamic payload type (RFC 3551 §4.5.11; the
    /// static types 10 and 11 are 44.1 kHz, which telephony peers do not use).
    L16,
    /// Opus (RFC 7587) on a dynamic payload type: 48000 Hz RTP clock, 16 kHz audio here.
    Opus,
}

impl Codec {
    /// Every codec this build supports, in the order the server prefers them by default.
    pub const ALL: [Codec; 5] = [
        Codec::G722,
        Codec::Pcmu,
        Codec::Pcma,
        Codec::Opus,
        Codec::L16,
    ];

    /// The SDP encoding name (`a=rtpmap`): upper case, except `opus` as RFC 7587 writes it.
    pub fn name(&self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
            Codec::L16 => "L16",
            Codec::Opus => "opus",
        }
    }

    /// The codec for an SDP encoding name, compared case-insensitively (RFC 8866 §6.6).
    pub fn from_name(name: &str) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// The static RTP payload type from RFC 3551 table 4, `None` for codecs sent on dynamic ones.
    pub fn static_payload_type(&self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::G722 => Some(9),
            Codec::L16 | Codec::Opus => None,
        }
    }

    /// The RTP timestamp clock rate in Hz, as SDP states it: 8000 for G.722 (RFC 3551 §4.5.2),
    /// 48000 for Opus (RFC 7587 §4.1).
    pub fn clock_rate(&self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 => 8000,
            Codec::L16 => 16000,
            Codec::Opus => 48000,
        }
    }

    /// The PCM sample rate in Hz of the frames this codec takes and gives.
    pub fn sample_rate(&self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::G722 | Codec::L16 | Codec::Opus => 16000,
        }
    }

    /// PCM samples in one frame of `ptime_ms` milliseconds (160 for G.711 at 20 ms, 320 for G.722).
    pub fn samples_per_frame(&self, ptime_ms: u32) -> usize {
        (u64::from(self.sample_rate()) * u64::from(ptime_ms) / 1000) as usize
    }

    /// RTP timestamp units that `samples` PCM samples span: the samples themselves for G.711 and L16,
    /// half of them for G.722, three times them for Opus. Truncation to `u32` is the RTP wrap.
    pub fn timestamp_units(&self, samples: usize) -> u32 {
        let units = samples as u64 * u64::from(self.clock_rate()) / u64::from(self.sample_rate());
        units as u32
    }

    /// A fresh encoder for one sending direction.
    pub fn encoder(&self) -> Box<dyn AudioEncoder> {
        match self {
            Codec::Pcmu => Box::new(G711::Ulaw),
            Codec::Pcma => Box::new(G711::Alaw),
            Codec::G722 => Box::new(g722::Encoder::new()),
            Codec::L16 => Box::new(L16),
            Codec::Opus => Box::new(opus::Encoder::new()),
        }
    }

    /// A fresh decoder for one receiving direction.
    pub fn decoder(&self) -> Box<dyn AudioDecoder> {
        match self {
            Codec::Pcmu => Box::new(G711::Ulaw),
            Codec::Pcma => Box::new(G711::Alaw),
            Codec::G722 => Box::new(g722::Decoder::new()),
            Codec::L16 => Box::new(L16),
            Codec::Opus => Box::new(opus::Decoder::new()),
        }
    }
}

/// G.711 is stateless: one value serves as encoder and decoder.
#[derive(Clone, Copy, Debug)]
enum G711 {
    Ulaw,
    Alaw,
}

impl AudioEncoder for G711 {
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        out.reserve(pcm.len());
        match self {
            G711::Ulaw => out.extend(pcm.iter().map(|&s| g711::ulaw_encode(s))),
            G711::Alaw => out.extend(pcm.iter().map(|&s| g711::alaw_encode(s))),
        }
    }
}

impl AudioDecoder for G711 {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        out.reserve(payload.len());
        match self {
            G711::Ulaw => out.extend(payload.iter().map(|&b| g711::ulaw_decode(b))),
            G711::Alaw => out.extend(payload.iter().map(|&b| g711::alaw_decode(b))),
        }
    }
}

/// L16: samples in network byte order (RFC 3551 §4.5.11), stateless.
#[derive(Clone, Copy, Debug)]
struct L16;

impl AudioEncoder for L16 {
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        out.reserve(pcm.len() * 2);
        for s in pcm {
            out.extend_from_slice(&s.to_be_bytes());
        }
    }
}

impl AudioDecoder for L16 {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        // An odd trailing byte is half a sample: dropped.
        out.extend(
            payload
                .chunks_exact(2)
                .map(|b| i16::from_be_bytes([b[0], b[1]])),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively() {
        assert_eq!(Codec::from_name("pcmu"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_name("PCMA"), Some(Codec::Pcma));
        assert_eq!(Codec::from_name("PcMa"), Some(Codec::Pcma));
        assert_eq!(Codec::from_name("g722"), Some(Codec::G722));
        assert_eq!(Codec::from_name("OPUS"), Some(Codec::Opus));
        assert_eq!(Codec::from_name("l16"), Some(Codec::L16));
        assert_eq!(Codec::from_name("G729"), None);
        assert_eq!(Codec::from_name(""), None);
        for c in Codec::ALL {
            assert_eq!(Codec::from_name(c.name()), Some(c));
        }
    }

    #[test]
    fn rtp_parameters_follow_rfc3551_and_rfc7587() {
        assert_eq!(Codec::Pcmu.static_payload_type(), Some(0));
        assert_eq!(Codec::Pcma.static_payload_type(), Some(8));
        assert_eq!(Codec::G722.static_payload_type(), Some(9));
        assert_eq!(Codec::L16.static_payload_type(), None);
        assert_eq!(Codec::Opus.static_payload_type(), None);
        assert_eq!(Codec::Pcmu.clock_rate(), 8000);
        assert_eq!(Codec::Pcma.sample_rate(), 8000);
        assert_eq!(Codec::G722.clock_rate(), 8000);
        assert_eq!(Codec::G722.sample_rate(), 16000);
        assert_eq!(Codec::Opus.clock_rate(), 48000);
        assert_eq!(Codec::Opus.sample_rate(), 16000);
        assert_eq!(Codec::L16.clock_rate(), 16000);
        assert_eq!(Codec::Pcmu.samples_per_frame(20), 160);
        assert_eq!(Codec::Pcma.samples_per_frame(30), 240);
        assert_eq!(Codec::G722.samples_per_frame(20), 320);
        assert_eq!(Codec::Opus.samples_per_frame(20), 320);
    }

    #[test]
    fn timestamp_units_follow_the_rtp_clock() {
        assert_eq!(Codec::Pcmu.timestamp_units(160), 160);
        assert_eq!(Codec::G722.timestamp_units(320), 160);
        assert_eq!(Codec::Opus.timestamp_units(320), 960);
        assert_eq!(Codec::L16.timestamp_units(320), 320);
    }

    #[test]
    fn g711_encode_and_decode_append() {
        let mut bytes = vec![0xAB];
        Codec::Pcmu.encoder().encode(&[0, 0], &mut bytes);
        assert_eq!(bytes, [0xAB, 0xFF, 0xFF]);
        Codec::Pcma.encoder().encode(&[0], &mut bytes);
        assert_eq!(bytes, [0xAB, 0xFF, 0xFF, 0xD5]);
        let mut pcm = vec![7];
        Codec::Pcmu.decoder().decode(&[0xFF, 0x7F], &mut pcm);
        assert_eq!(pcm, [7, 0, 0]);
    }

    #[test]
    fn l16_is_big_endian_and_exact() {
        let mut bytes = Vec::new();
        Codec::L16.encoder().encode(&[0x0102, -2], &mut bytes);
        assert_eq!(bytes, [0x01, 0x02, 0xFF, 0xFE]);
        let mut pcm = Vec::new();
        Codec::L16
            .decoder()
            .decode(&[0x01, 0x02, 0xFF, 0xFE, 0x33], &mut pcm);
        assert_eq!(pcm, [0x0102, -2]);
    }

    #[test]
    fn default_concealment_is_silence() {
        let mut pcm = vec![5];
        Codec::Pcmu.decoder().conceal(3, &mut pcm);
        assert_eq!(pcm, [5, 0, 0, 0]);
    }
}
