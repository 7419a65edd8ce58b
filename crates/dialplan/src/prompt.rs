//! Prompts: audio files decoded once to 16-bit mono PCM at the call rate and shared between calls
//! (`Arc<[i16]>`), so 500 calls playing one prompt hold one copy. A file at another rate than the call's
//! (an 8 kHz prompt on a 16 kHz G.722 call) is resampled once with rubato and cached per rate.
//!
//! A prompt `name` is the first of `<name>.wav`, `<name>.flac`, `<name>.ogg` (Vorbis), `<name>.mp3` in the
//! prompts directory ([`PROMPT_EXTENSIONS`]). WAV is read with hound, the others with symphonia; any
//! channel count is down-mixed to mono and any sample format converted to 16-bit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A decoded prompt.
#[derive(Debug)]
pub struct Prompt {
    /// The prompt's name (file name without extension).
    pub name: String,
    /// Sample rate of `samples`.
    pub rate: u32,
    /// Mono 16-bit PCM.
    pub samples: Arc<[i16]>,
}

/// Why a prompt could not be loaded.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// No file of that name in the prompts directory.
    #[error("prompt '{0}' not found")]
    NotFound(String),
    /// The file is not audio this build can decode (corrupt, truncated, or an unsupported codec).
    #[error("prompt '{name}' cannot be decoded: {reason}")]
    Decode {
        /// The prompt.
        name: String,
        /// What the decoder said.
        reason: String,
    },
    /// The file's sample rate or the rate asked for is one the resampler cannot convert between.
    #[error("prompt '{name}' is at {rate} Hz and cannot be resampled to {want} Hz")]
    UnsupportedRate {
        /// The prompt.
        name: String,
        /// The file's rate.
        rate: u32,
        /// The rate asked for.
        want: u32,
    },
}

/// File extensions a prompt may have, in the order they are looked for: `<name>.wav` wins over
/// `<name>.flac`, which wins over `<name>.ogg`, which wins over `<name>.mp3`.
pub const PROMPT_EXTENSIONS: &[&str] = &["wav", "flac", "ogg", "mp3"];

/// The file for prompt `name` in `dir`, if there is one: the first of `<name>.wav`, `.flac`, `.ogg`,
/// `.mp3` that exists ([`PROMPT_EXTENSIONS`]).
pub fn find_prompt(dir: &Path, name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return None;
    }
    PROMPT_EXTENSIONS
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .find(|path| path.is_file())
}

/// Decoded prompts by (name, rate), loaded on first use and kept.
#[derive(Debug)]
pub struct PromptCache {
    dir: PathBuf,
    loaded: Mutex<HashMap<(String, u32), Arc<Prompt>>>,
}

impl PromptCache {
    /// A cache over the prompts directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> PromptCache {
        PromptCache {
            dir: dir.into(),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The prompt `name` at `rate` Hz, decoded once and shared.
    pub fn get(&self, name: &str, rate: u32) -> Result<Arc<Prompt>, PromptError> {
        let key = (name.to_string(), rate);
        if let Some(p) = self.lock().get(&key) {
            return Ok(p.clone());
        }
        let path =
            find_prompt(&self.dir, name).ok_or_else(|| PromptError::NotFound(name.to_string()))?;
        let prompt = Arc::new(decode(name, &path, rate)?);
        Ok(self.lock().entry(key).or_insert(prompt).clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u32), Arc<Prompt>>> {
        // A poisoned lock only means another thread panicked mid-insert of a complete value; the map is intact.
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Decodes the audio file at `path` (any of [`PROMPT_EXTENSIONS`]) to mono 16-bit PCM at `rate` Hz, not
/// cached: for files that change, such as recordings played back.
pub fn load_file(name: &str, path: &Path, rate: u32) -> Result<Prompt, PromptError> {
    decode(name, path, rate)
}

/// Decodes the prompt file at `path` to mono 16-bit PCM at `rate` Hz.
fn decode(name: &str, path: &Path, rate: u32) -> Result<Prompt, PromptError> {
    let is_wav = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
    let check_rate = |file_rate: u32| {
        if (MIN_RATE..=MAX_RATE).contains(&file_rate) && (MIN_RATE..=MAX_RATE).contains(&rate) {
            Ok(())
        } else {
            Err(PromptError::UnsupportedRate {
                name: name.to_string(),
                rate: file_rate,
                want: rate,
            })
        }
    };
    let (file_rate, mono) = if is_wav {
        read_wav(name, path, &check_rate)?
    } else {
        // Prompt files are untrusted input and symphonia's demuxers and codecs are large; a panic in them
        // on a malformed file must not take down the thread (the call, or the server at startup). Catch it
        // and report the file as undecodable. Nothing shared is touched inside, so unwind safety holds.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_compressed(name, path, &check_rate)
        }))
        .unwrap_or_else(|_| {
            Err(PromptError::Decode {
                name: name.to_string(),
                reason: "the decoder panicked".into(),
            })
        })?
    };
    let samples: Arc<[i16]> = if file_rate == rate {
        mono.into()
    } else {
        resample(&mono, file_rate, rate)
            .map_err(|e| {
                tracing::warn!(prompt = name, error = %e, "resampling failed");
                PromptError::UnsupportedRate {
                    name: name.to_string(),
                    rate: file_rate,
                    want: rate,
                }
            })?
            .into()
    };
    Ok(Prompt {
        name: name.to_string(),
        rate,
        samples,
    })
}

/// Down-mixes interleaved frames of `channels` samples to mono by averaging.
fn downmix(interleaved: impl IntoIterator<Item = i32>, channels: usize, out: &mut Vec<i16>) {
    let channels = channels.max(1);
    let mut sum = 0i32;
    let mut n = 0usize;
    for s in interleaved {
        sum += s;
        n += 1;
        if n == channels {
            out.push((sum / channels as i32).clamp(i16::MIN as i32, i16::MAX as i32) as i16);
            sum = 0;
            n = 0;
        }
    }
}

/// A WAV file's rate and mono samples (hound).
fn read_wav(
    name: &str,
    path: &Path,
    check_rate: &dyn Fn(u32) -> Result<(), PromptError>,
) -> Result<(u32, Vec<i16>), PromptError> {
    let err = |reason: String| PromptError::Decode {
        name: name.to_string(),
        reason,
    };
    let mut reader = hound::WavReader::open(path).map_err(|e| err(e.to_string()))?;
    let spec = reader.spec();
    check_rate(spec.sample_rate)?;
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<i32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => reader
            .samples::<i16>()
            .map(|s| s.map(i32::from))
            .collect::<Result<_, _>>()
            .map_err(|e| err(e.to_string()))?,
        (hound::SampleFormat::Int, 8 | 24 | 32) => {
            let shift = spec.bits_per_sample - 16;
            reader
                .samples::<i32>()
                .map(|s| {
                    s.map(|v| {
                        if spec.bits_per_sample == 8 {
                            v << 8
                        } else {
                            v >> shift
                        }
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(|e| err(e.to_string()))?
        }
        (hound::SampleFormat::Float, 32) => reader
            .samples::<f32>()
            .map(|s| s.map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i32))
            .collect::<Result<_, _>>()
            .map_err(|e| err(e.to_string()))?,
        (fmt, bits) => return Err(err(format!("unsupported sample format {fmt:?} {bits}-bit"))),
    };
    let mut mono = Vec::with_capacity(interleaved.len() / channels);
    downmix(interleaved, channels, &mut mono);
    Ok((spec.sample_rate, mono))
}

/// A FLAC, Ogg Vorbis or MP3 file's rate and mono samples (symphonia). Every packet must decode and, when
/// the container says how long the audio is, all of it must be there: a corrupt or truncated file is an
/// error, not a prompt that plays noise or stops short.
fn read_compressed(
    name: &str,
    path: &Path,
    check_rate: &dyn Fn(u32) -> Result<(), PromptError>,
) -> Result<(u32, Vec<i16>), PromptError> {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
    use symphonia::core::errors::Error;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    let err = |reason: String| PromptError::Decode {
        name: name.to_string(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let format_opts = FormatOptions {
        // Trim encoder delay and padding (MP3 LAME/Xing tags) so the prompt is as long as its source.
        enable_gapless: true,
        ..Default::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, stream, &format_opts, &MetadataOptions::default())
        .map_err(|e| err(format!("unrecognised audio file: {e}")))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| err("no audio track".into()))?;
    let track_id = track.id;
    let expected_frames = track.codec_params.n_frames;
    let mut file_rate = track.codec_params.sample_rate;
    if let Some(r) = file_rate {
        check_rate(r)?;
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| err(e.to_string()))?;
    let mut mono = Vec::new();
    let mut frames: u64 = 0;
    let mut buf: Option<SampleBuffer<i16>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            // symphonia reports the end of the stream as an unexpected end of file.
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(err(e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = decoder.decode(&packet).map_err(|e| err(e.to_string()))?;
        let spec = *decoded.spec();
        match file_rate {
            None => {
                check_rate(spec.rate)?;
                file_rate = Some(spec.rate);
            }
            Some(r) if r != spec.rate => {
                return Err(err(format!(
                    "sample rate changes from {r} Hz to {} Hz mid-file",
                    spec.rate
                )))
            }
            Some(_) => {}
        }
        if decoded.frames() == 0 {
            continue;
        }
        let needed = decoded.capacity() as u64;
        let b = match &mut buf {
            Some(b) if b.capacity() as u64 >= needed * spec.channels.count() as u64 => b,
            _ => buf.insert(SampleBuffer::new(needed, spec)),
        };
        // Converts whatever the codec produced (f32 Vorbis, 24-bit FLAC, ...) to interleaved i16.
        b.copy_interleaved_ref(decoded);
        let channels = spec.channels.count();
        frames += (b.samples().len() / channels.max(1)) as u64;
        downmix(
            b.samples().iter().map(|&s| i32::from(s)),
            channels,
            &mut mono,
        );
    }
    let file_rate = file_rate.ok_or_else(|| err("no audio".into()))?;
    if mono.is_empty() {
        return Err(err("no audio".into()));
    }
    if let Some(want) = expected_frames {
        // Allow a frame's worth of slack for codecs that round their last block.
        if frames + u64::from(file_rate / 50) < want {
            return Err(err(format!(
                "truncated: {frames} of {want} samples decoded"
            )));
        }
    }
    Ok((file_rate, mono))
}

/// Lowest sample rate a prompt file or a call may have.
const MIN_RATE: u32 = 4000;
/// Highest sample rate a prompt file or a call may have.
const MAX_RATE: u32 = 192_000;
/// Input frames the resampler takes per step.
const RESAMPLE_CHUNK: usize = 1024;

/// Resamples mono PCM from `from` Hz to `to` Hz with rubato's FFT resampler (a fixed ratio, which is
/// what prompts need), without its delay, keeping the duration: `to / from` times the samples.
fn resample(pcm: &[i16], from: u32, to: u32) -> Result<Vec<i16>, String> {
    use rubato::{FftFixedIn, Resampler};
    let mut r = FftFixedIn::<f32>::new(from as usize, to as usize, RESAMPLE_CHUNK, 2, 1)
        .map_err(|e| e.to_string())?;
    let want = (pcm.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    let delay = r.output_delay();
    let mut out: Vec<f32> = Vec::with_capacity(want + delay + RESAMPLE_CHUNK * 4);
    let input: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
    let mut pos = 0;
    // Whole chunks, then the tail zero-padded, then zeros until the delayed end has come out.
    while out.len() < want + delay {
        let need = r.input_frames_next();
        let chunk = if pos + need <= input.len() {
            let chunk = r.process(&[&input[pos..pos + need]], None);
            pos += need;
            chunk
        } else if pos < input.len() {
            let tail = &input[pos..];
            pos = input.len();
            r.process_partial(Some(&[tail]), None)
        } else {
            // Input used up: flush with `None`. An empty slice would mean "inactive channel" to rubato
            // and fail (a prompt whose length ends on a chunk boundary hit this).
            r.process_partial(None::<&[&[f32]]>, None)
        };
        let chunk = chunk.map_err(|e| e.to_string())?;
        match chunk.first() {
            Some(ch) if !ch.is_empty() => out.extend_from_slice(ch),
            _ => return Err("resampler produced nothing".into()),
        }
    }
    Ok(out[delay..delay + want]
        .iter()
        .map(|&s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for s in samples {
            w.write_sample(*s).unwrap();
        }
        w.finalize().unwrap();
    }

    #[test]
    fn decodes_once_and_shares() {
        let dir = std::env::temp_dir().join(format!("chorus-prompt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_wav(&dir.join("a.wav"), 8000, 1, &[1, 2, 3]);
        write_wav(&dir.join("st.wav"), 8000, 2, &[100, 300, -100, -300]);
        write_wav(&dir.join("wide.wav"), 16000, 1, &[0; 4]);
        write_wav(&dir.join("odd.wav"), 1000, 1, &[0; 4]);
        std::fs::write(dir.join("junk.wav"), b"not a wav").unwrap();
        let cache = PromptCache::new(&dir);
        let a1 = cache.get("a", 8000).unwrap();
        let a2 = cache.get("a", 8000).unwrap();
        assert!(Arc::ptr_eq(&a1.samples, &a2.samples));
        assert_eq!(&*a1.samples, &[1, 2, 3]);
        assert_eq!(&*cache.get("st", 8000).unwrap().samples, &[200, -200]);
        assert_eq!(cache.get("wide", 8000).unwrap().samples.len(), 2);
        assert!(matches!(
            cache.get("odd", 8000),
            Err(PromptError::UnsupportedRate { .. })
        ));
        assert!(matches!(
            cache.get("junk", 8000),
            Err(PromptError::Decode { .. })
        ));
        assert!(matches!(
            cache.get("none", 8000),
            Err(PromptError::NotFound(_))
        ));
        assert!(matches!(
            cache.get("../a", 8000),
            Err(PromptError::NotFound(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tone(freq: f64, rate: u32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()).round() as i16
            })
            .collect()
    }

    /// Power of `freq` in `pcm` at `rate` (Goertzel).
    fn goertzel(pcm: &[i16], freq: f64, rate: u32) -> f64 {
        let k = 2.0 * (2.0 * std::f64::consts::PI * freq / f64::from(rate)).cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in pcm {
            let s0 = f64::from(x) + k * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        s1 * s1 + s2 * s2 - k * s1 * s2
    }

    #[test]
    fn an_8k_prompt_plays_at_16k_with_its_pitch_and_length() {
        let dir = std::env::temp_dir().join(format!("chorus-prompt-rs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // 1.5 s of 1 kHz, not a whole number of resampler chunks.
        write_wav(&dir.join("beep.wav"), 8000, 1, &tone(1000.0, 8000, 12_000));
        let cache = PromptCache::new(&dir);
        let wide = cache.get("beep", 16000).unwrap();
        assert_eq!(wide.rate, 16000);
        assert_eq!(wide.samples.len(), 24_000, "duration kept: 1.5 s at 16 kHz");
        let body = &wide.samples[1600..22_400];
        let at_1k = goertzel(body, 1000.0, 16000);
        for other in [500.0, 2000.0, 3000.0, 5000.0, 7000.0] {
            assert!(
                at_1k > 1000.0 * goertzel(body, other, 16000),
                "1 kHz must dominate {other} Hz"
            );
        }
        // Level kept within 1 dB, and the tone starts at the start (the resampler's delay removed).
        let rms =
            (body.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / body.len() as f64).sqrt();
        assert!((rms - 8000.0 / 2f64.sqrt()).abs() < 600.0, "rms {rms}");
        assert!(
            wide.samples[..40].iter().any(|s| s.abs() > 2000),
            "tone starts at once"
        );
        // Cached per rate: the 8 kHz original and the 16 kHz copy are separate and each shared.
        assert!(Arc::ptr_eq(
            &wide.samples,
            &cache.get("beep", 16000).unwrap().samples
        ));
        assert_eq!(cache.get("beep", 8000).unwrap().samples.len(), 12_000);
        // And back down: 16 kHz to 8 kHz halves the length.
        write_wav(
            &dir.join("wide.wav"),
            16000,
            1,
            &tone(1000.0, 16000, 16_000),
        );
        let narrow = cache.get("wide", 8000).unwrap();
        assert_eq!(narrow.samples.len(), 8000);
        assert!(
            goertzel(&narrow.samples[800..7200], 1000.0, 8000)
                > 1000.0 * goertzel(&narrow.samples[800..7200], 2000.0, 8000)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
