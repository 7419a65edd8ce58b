//! Every codec behind the `AudioEncoder`/`AudioDecoder` traits: a tone encoded frame by frame and
//! decoded again keeps its pitch and level, and, for the waveform codecs, its shape (SNR).

mod support;

use chorus_rtp::codec::Codec;
use support::{goertzel_at, tone_at};

/// One second of `freq` at the codec's rate through a fresh encoder and decoder, in 20 ms frames.
fn round_trip(codec: Codec, freq: f64) -> (Vec<i16>, Vec<i16>) {
    let rate = codec.sample_rate();
    let n = codec.samples_per_frame(20);
    let (mut enc, mut dec) = (codec.encoder(), codec.decoder());
    let sent = tone_at(rate, freq, 10_000.0, 0, rate as usize);
    let mut heard = Vec::new();
    let mut payload = Vec::new();
    for frame in sent.chunks(n) {
        payload.clear();
        enc.encode(frame, &mut payload);
        assert!(!payload.is_empty(), "{codec:?}: empty payload");
        let before = heard.len();
        dec.decode(&payload, &mut heard);
        assert_eq!(
            heard.len() - before,
            n,
            "{codec:?}: one frame in, one frame out"
        );
    }
    (sent, heard)
}

/// Best SNR in dB over codec delays 0..400 samples, skipping the first 100 ms (start-up).
fn snr_db(sent: &[i16], heard: &[i16]) -> f64 {
    let skip = sent.len() / 10;
    (0..400)
        .map(|delay| {
            let (mut sig, mut noise) = (0.0f64, 0.0f64);
            for i in skip..sent.len() - 400 {
                let (s, h) = (f64::from(sent[i]), f64::from(heard[i + delay]));
                sig += s * s;
                noise += (s - h) * (s - h);
            }
            10.0 * (sig / noise.max(1.0)).log10()
        })
        .fold(f64::MIN, f64::max)
}

fn rms(pcm: &[i16]) -> f64 {
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
}

/// Checks pitch and level of `heard` (past its first 100 ms) against a tone of `freq` at 10000 peak.
fn assert_tone(codec: Codec, freq: f64, heard: &[i16]) {
    let rate = codec.sample_rate();
    let body = &heard[heard.len() / 10..];
    let at = goertzel_at(rate, body, freq);
    for other in [freq * 0.5, freq * 1.5, freq * 2.0] {
        if other < f64::from(rate) / 2.0 {
            assert!(
                at > 100.0 * goertzel_at(rate, body, other),
                "{codec:?} {freq} Hz: {other} Hz too strong"
            );
        }
    }
    let level = rms(body);
    let want = 10_000.0 / 2f64.sqrt();
    assert!(
        (20.0 * (level / want).log10()).abs() < 2.0,
        "{codec:?} {freq} Hz: level {level:.0} RMS, want {want:.0}"
    );
}

#[test]
fn g711_keeps_a_1khz_tone() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let (sent, heard) = round_trip(codec, 1000.0);
        assert_tone(codec, 1000.0, &heard);
        let snr = snr_db(&sent, &heard);
        assert!(snr >= 30.0, "{codec:?}: snr {snr:.1} dB");
    }
}

#[test]
fn g722_keeps_1khz_and_5khz_tones() {
    for freq in [1000.0, 5000.0] {
        let (sent, heard) = round_trip(Codec::G722, freq);
        assert_tone(Codec::G722, freq, &heard);
        let snr = snr_db(&sent, &heard);
        assert!(snr >= 20.0, "G722 {freq} Hz: snr {snr:.1} dB");
    }
}

#[test]
fn l16_is_lossless() {
    let (sent, heard) = round_trip(Codec::L16, 5000.0);
    assert_eq!(sent, heard);
}

#[test]
fn opus_keeps_1khz_and_5khz_tones() {
    for freq in [1000.0, 5000.0] {
        let (_, heard) = round_trip(Codec::Opus, freq);
        assert_tone(Codec::Opus, freq, &heard);
    }
}

#[test]
fn opus_conceals_a_lost_frame_with_sound() {
    let codec = Codec::Opus;
    let (mut enc, mut dec) = (codec.encoder(), codec.decoder());
    let sent = tone_at(16000, 1000.0, 10_000.0, 0, 16000);
    let mut heard = Vec::new();
    let mut payload = Vec::new();
    for (i, frame) in sent.chunks(320).enumerate() {
        payload.clear();
        enc.encode(frame, &mut payload);
        if i == 30 {
            dec.conceal(320, &mut heard);
        } else {
            dec.decode(&payload, &mut heard);
        }
    }
    assert_eq!(heard.len(), sent.len());
    let lost = &heard[30 * 320..31 * 320];
    assert!(
        rms(lost) > 1000.0,
        "concealment is not silence: {:.0}",
        rms(lost)
    );
}
