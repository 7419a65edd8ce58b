//! Prompts: audio files decoded once to 16-bit mono PCM at the call rate and shared between calls
//! (`Arc<[i16]>`), so 500 calls playing one prompt hold one copy.

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
    /// The file is not a WAV this build can decode.
    #[error("prompt '{name}' cannot be decoded: {reason}")]
    Decode {
        /// The prompt.
        name: String,
        /// What the decoder said.
        reason: String,
    },
    /// The file's sample rate differs from the call's and resampling is not available for it.
    #[error("prompt '{name}' is at {rate} Hz; this build plays prompts at {want} Hz")]
    UnsupportedRate {
        /// The prompt.
        name: String,
        /// The file's rate.
        rate: u32,
        /// The rate asked for.
        want: u32,
    },
}

/// The file for prompt `name` in `dir`, if there is one.
pub fn find_prompt(dir: &Path, name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return None;
    }
    let path = dir.join(format!("{name}.wav"));
    path.is_file().then_some(path)
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
        let prompt = Arc::new(decode_wav(name, &path, rate)?);
        Ok(self.lock().entry(key).or_insert(prompt).clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u32), Arc<Prompt>>> {
        // A poisoned lock only means another thread panicked mid-insert of a complete value; the map is intact.
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn decode_wav(name: &str, path: &Path, rate: u32) -> Result<Prompt, PromptError> {
    let err = |reason: String| PromptError::Decode {
        name: name.to_string(),
        reason,
    };
    let mut reader = hound::WavReader::open(path).map_err(|e| err(e.to_string()))?;
    let spec = reader.spec();
    if spec.sample_rate != rate {
        return Err(PromptError::UnsupportedRate {
            name: name.to_string(),
            rate: spec.sample_rate,
            want: rate,
        });
    }
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
    // Down-mix to mono by averaging channels.
    let samples: Arc<[i16]> = interleaved
        .chunks(channels)
        .map(|frame| {
            let sum: i32 = frame.iter().sum();
            (sum / frame.len() as i32).clamp(i16::MIN as i32, i16::MAX as i32) as i16
        })
        .collect();
    Ok(Prompt {
        name: name.to_string(),
        rate,
        samples,
    })
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
        std::fs::write(dir.join("junk.wav"), b"not a wav").unwrap();
        let cache = PromptCache::new(&dir);
        let a1 = cache.get("a", 8000).unwrap();
        let a2 = cache.get("a", 8000).unwrap();
        assert!(Arc::ptr_eq(&a1.samples, &a2.samples));
        assert_eq!(&*a1.samples, &[1, 2, 3]);
        assert_eq!(&*cache.get("st", 8000).unwrap().samples, &[200, -200]);
        assert!(matches!(
            cache.get("wide", 8000),
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
}
