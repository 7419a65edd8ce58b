//! Audio codecs on the media path and their RTP parameters (RFC 3551 §4.5, static payload types 0 and 8).

use crate::g711;

/// A codec the media path can encode and decode. Internal audio is 16-bit PCM at [`Codec::sample_rate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, RTP payload type 0.
    Pcmu,
    /// G.711 A-law, RTP payload type 8.
    Pcma,
}

impl Codec {
    /// The SDP encoding name (`a=rtpmap`), upper case.
    pub fn name(&self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The codec for an SDP encoding name, compared case-insensitively (RFC 8866 §6.6).
    pub fn from_name(name: &str) -> Option<Codec> {
        [Codec::Pcmu, Codec::Pcma]
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// The static RTP payload type from RFC 3551 table 4.
    pub fn static_payload_type(&self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The RTP timestamp clock rate in Hz.
    pub fn clock_rate(&self) -> u32 {
        8000
    }

    /// The PCM sample rate in Hz of the frames this codec takes and gives.
    pub fn sample_rate(&self) -> u32 {
        8000
    }

    /// PCM samples in one frame of `ptime_ms` milliseconds (160 for G.711 at 20 ms).
    pub fn samples_per_frame(&self, ptime_ms: u32) -> usize {
        (u64::from(self.sample_rate()) * u64::from(ptime_ms) / 1000) as usize
    }

    /// RTP timestamp units one PCM sample advances.
    pub(crate) fn timestamp_units(&self, samples: usize) -> u32 {
        // G.711: the RTP clock is the sample clock. Truncation to u32 is the RTP wrap.
        samples as u32
    }

    /// Encodes `pcm`, appending the payload bytes to `out`.
    pub fn encode(&self, pcm: &[i16], out: &mut Vec<u8>) {
        out.reserve(pcm.len());
        match self {
            Codec::Pcmu => out.extend(pcm.iter().map(|&s| g711::ulaw_encode(s))),
            Codec::Pcma => out.extend(pcm.iter().map(|&s| g711::alaw_encode(s))),
        }
    }

    /// Decodes an RTP payload, appending the PCM samples to `out`.
    pub fn decode(&self, payload: &[u8], out: &mut Vec<i16>) {
        out.reserve(payload.len());
        match self {
            Codec::Pcmu => out.extend(payload.iter().map(|&b| g711::ulaw_decode(b))),
            Codec::Pcma => out.extend(payload.iter().map(|&b| g711::alaw_decode(b))),
        }
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
        assert_eq!(Codec::from_name("G722"), None);
        assert_eq!(Codec::from_name(""), None);
        for c in [Codec::Pcmu, Codec::Pcma] {
            assert_eq!(Codec::from_name(c.name()), Some(c));
        }
    }

    #[test]
    fn rtp_parameters_follow_rfc3551() {
        assert_eq!(Codec::Pcmu.static_payload_type(), 0);
        assert_eq!(Codec::Pcma.static_payload_type(), 8);
        assert_eq!(Codec::Pcmu.clock_rate(), 8000);
        assert_eq!(Codec::Pcma.sample_rate(), 8000);
        assert_eq!(Codec::Pcmu.samples_per_frame(20), 160);
        assert_eq!(Codec::Pcma.samples_per_frame(30), 240);
    }

    #[test]
    fn encode_and_decode_append() {
        let mut bytes = vec![0xAB];
        Codec::Pcmu.encode(&[0, 0], &mut bytes);
        assert_eq!(bytes, [0xAB, 0xFF, 0xFF]);
        Codec::Pcma.encode(&[0], &mut bytes);
        assert_eq!(bytes, [0xAB, 0xFF, 0xFF, 0xD5]);
        let mut pcm = vec![7];
        Codec::Pcmu.decode(&[0xFF, 0x7F], &mut pcm);
        assert_eq!(pcm, [7, 0, 0]);
    }
}
