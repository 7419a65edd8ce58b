//! Crash-safe call and room recordings: 16-bit mono PCM WAV at the call's rate plus a `<name>.json` sidecar.
//!
//! The [`Recorder`] does no timing of its own: the call task feeds it each received frame
//! ([`Recorder::write`]) and it rewrites the WAV header after every second of audio, so a crash (even
//! `kill -9`) leaves a file whose header covers all but at most the last second; [`repair_dir`], run at
//! startup, makes the header cover everything that reached the disk. [`Recorder::finish`] trims trailing
//! silence (the caller going quiet before hanging up or pressing `#`).
//!
//! ```text
//! let mut rec = Recorder::create(dir, "20261202T061500000-record", 8000, &meta)?;
//! for frame in frames { rec.write(&frame)?; if rec.silent_for() >= silence_timeout { break } }
//! let info = rec.finish()?;   // path, duration_ms
//! ```

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::time::LocalTime;

/// Samples whose magnitude stays at or below this count as silence (about -36 dBFS).
pub const SILENCE_THRESHOLD: i16 = 500;
/// Silence kept after the last sound when trailing silence is trimmed, so words do not end clipped.
pub const TRIM_TAIL: Duration = Duration::from_millis(200);
const HEADER_LEN: u64 = 44;

/// Who a recording belongs to, written to the sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingMeta {
    /// The call's Call-ID (ignored for rooms).
    pub call_id: String,
    /// The From URI (ignored for rooms).
    pub from: String,
    /// The To URI (ignored for rooms).
    pub to: String,
    /// For a conference room's mix: the room's name, written instead of the call fields.
    pub room: Option<String>,
    /// When recording started.
    pub started_at: SystemTime,
}

/// A finished recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    /// The WAV file.
    pub path: PathBuf,
    /// Audio kept, after trailing silence was trimmed.
    pub duration_ms: u64,
}

/// Why a recording could not be written. The call goes on; the server logs it and puts it in the call log.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Creating, writing or closing a file failed (disk full, directory removed, permissions).
    #[error("recording {path}: {reason}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// An earlier write failed; the file holds what was written before it.
    #[error("recording {0} stopped after an earlier write error")]
    AlreadyFailed(PathBuf),
}

fn io_err(path: &Path, e: std::io::Error) -> RecordError {
    RecordError::Io {
        path: path.to_path_buf(),
        reason: e.to_string().to_lowercase(),
    }
}

/// One recording being written. Feed it frames; it never reads a clock.
#[derive(Debug)]
pub struct Recorder {
    file: File,
    path: PathBuf,
    rate: u32,
    /// 1 (mono) or 2 (stereo, interleaved left-right).
    channels: u16,
    meta: RecordingMeta,
    /// Sample frames (one sample per channel) on disk.
    written: u64,
    /// Frames written since the header was last brought up to date.
    since_header: u64,
    /// Frames up to and including the last one with a sample above the silence threshold.
    sound_end: u64,
    failed: bool,
    /// Cut trailing silence at [`Recorder::finish`] (the default; off for whole-call recordings).
    trim: bool,
    /// Reused byte buffer for one frame.
    bytes: Vec<u8>,
}

impl Recorder {
    /// Creates `dir/name.wav` (or `name-2.wav`, `name-3.wav`… if taken; `dir` is created if missing) and its
    /// sidecar. `name` should be a plain file name; path separators are replaced.
    pub fn create(
        dir: &Path,
        name: &str,
        rate: u32,
        meta: &RecordingMeta,
    ) -> Result<Recorder, RecordError> {
        Recorder::create_channels(dir, name, rate, 1, meta)
    }

    /// [`Recorder::create`] with 1 or 2 channels: a stereo recording takes interleaved frames
    /// (left, right), and its sidecar says `"channels":2`.
    pub fn create_channels(
        dir: &Path,
        name: &str,
        rate: u32,
        channels: u16,
        meta: &RecordingMeta,
    ) -> Result<Recorder, RecordError> {
        let channels = channels.clamp(1, 2);
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let name = crate::interpreter::safe_file_name(name);
        let mut attempt = 1;
        let (file, path) = loop {
            let file_name = if attempt == 1 {
                format!("{name}.wav")
            } else {
                format!("{name}-{attempt}.wav")
            };
            let path = dir.join(file_name);
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => break (f, path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                    attempt += 1
                }
                Err(e) => return Err(io_err(&path, e)),
            }
        };
        let mut rec = Recorder {
            file,
            path,
            rate: rate.max(1),
            channels,
            meta: meta.clone(),
            written: 0,
            since_header: 0,
            sound_end: 0,
            failed: false,
            trim: true,
            bytes: Vec::new(),
        };
        let header = wav_header(rec.rate, rec.channels, 0);
        rec.file
            .write_all(&header)
            .map_err(|e| io_err(&rec.path, e))?;
        rec.write_sidecar(0)?;
        Ok(rec)
    }

    /// Keeps trailing silence at [`Recorder::finish`]: a recording of a whole call lasts as long as
    /// the call's media, silent end included.
    pub fn keep_trailing_silence(&mut self) {
        self.trim = false;
    }

    /// The WAV file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends received audio. After every second of audio the header is rewritten to cover it. After an
    /// error every later call fails at once with [`RecordError::AlreadyFailed`].
    pub fn write(&mut self, pcm: &[i16]) -> Result<(), RecordError> {
        if self.failed {
            return Err(RecordError::AlreadyFailed(self.path.clone()));
        }
        self.bytes.clear();
        let ch = usize::from(self.channels);
        for (i, s) in pcm.iter().enumerate() {
            self.bytes.extend_from_slice(&s.to_le_bytes());
            if s.unsigned_abs() > SILENCE_THRESHOLD.unsigned_abs() {
                self.sound_end = self.written + (i / ch) as u64 + 1;
            }
        }
        let result = self.file.write_all(&self.bytes);
        if let Err(e) = result {
            self.failed = true;
            return Err(io_err(&self.path, e));
        }
        let frames = (pcm.len() / ch) as u64;
        self.written += frames;
        self.since_header += frames;
        if self.since_header >= u64::from(self.rate) {
            self.since_header = 0;
            if let Err(e) = self.update_header(self.written) {
                self.failed = true;
                return Err(e);
            }
        }
        Ok(())
    }

    /// How long the audio has been silent up to now (from the last sample above [`SILENCE_THRESHOLD`]); the
    /// media layer stops a recording on its silence timeout with it.
    pub fn silent_for(&self) -> Duration {
        samples_to_duration(self.written - self.sound_end, self.rate)
    }

    /// Audio written so far.
    pub fn duration(&self) -> Duration {
        samples_to_duration(self.written, self.rate)
    }

    /// Closes the recording: trailing silence beyond [`TRIM_TAIL`] is cut (unless
    /// [`Recorder::keep_trailing_silence`]), the header and the sidecar get the final length.
    pub fn finish(mut self) -> Result<RecordingInfo, RecordError> {
        let tail = self.rate as u64 * TRIM_TAIL.as_millis() as u64 / 1000;
        let keep = if !self.trim {
            self.written
        } else if self.sound_end == 0 {
            0
        } else {
            (self.sound_end + tail).min(self.written)
        };
        let keep = if self.failed {
            // What reached the disk is unknown after a failed write: keep the length the header last had.
            self.written.min(keep.max(self.written - self.since_header))
        } else {
            keep
        };
        self.file
            .set_len(HEADER_LEN + keep * 2 * u64::from(self.channels))
            .map_err(|e| io_err(&self.path, e))?;
        self.update_header(keep)?;
        self.file.sync_all().map_err(|e| io_err(&self.path, e))?;
        let duration_ms = keep * 1000 / u64::from(self.rate);
        self.write_sidecar(duration_ms)?;
        Ok(RecordingInfo {
            path: self.path.clone(),
            duration_ms,
        })
    }

    fn update_header(&mut self, samples: u64) -> Result<(), RecordError> {
        let header = wav_header(self.rate, self.channels, samples);
        let r = (|| {
            self.file.seek(SeekFrom::Start(0))?;
            self.file.write_all(&header)?;
            self.file.seek(SeekFrom::End(0))?;
            Ok(())
        })();
        r.map_err(|e| io_err(&self.path, e))
    }

    fn write_sidecar(&self, duration_ms: u64) -> Result<(), RecordError> {
        let json = sidecar_json(&self.meta, duration_ms, self.rate, self.channels);
        let side = self.path.with_extension("json");
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, &side))
            .map_err(|e| io_err(&side, e))
    }
}

fn samples_to_duration(samples: u64, rate: u32) -> Duration {
    Duration::from_micros(samples * 1_000_000 / u64::from(rate.max(1)))
}

/// The canonical 44-byte header of a 16-bit mono PCM WAV holding `samples` samples.
/// A 16-bit PCM WAV header for `frames` sample frames of `channels` channels.
fn wav_header(rate: u32, channels: u16, frames: u64) -> [u8; 44] {
    let block = 2 * channels;
    let data = u32::try_from(frames * u64::from(block)).unwrap_or(u32::MAX - 36);
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * u32::from(block)).to_le_bytes());
    h[32..34].copy_from_slice(&block.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The sidecar: who, when, how long, the rate; `"channels":2` for stereo (mono, the format's original
/// shape, says nothing).
fn sidecar_json(meta: &RecordingMeta, duration_ms: u64, rate: u32, channels: u16) -> String {
    let started = LocalTime::at(meta.started_at, 0).rfc3339(0);
    let who = match &meta.room {
        Some(room) => format!("\"room\":{}", json_string(room)),
        None => format!(
            "\"call_id\":{},\"from\":{},\"to\":{}",
            json_string(&meta.call_id),
            json_string(&meta.from),
            json_string(&meta.to)
        ),
    };
    let channels = if channels == 2 { ",\"channels\":2" } else { "" };
    format!(
        "{{{who},\"started_at\":{},\"duration_ms\":{duration_ms},\"sample_rate\":{rate}{channels}}}\n",
        json_string(&started)
    )
}

/// Brings the headers of WAV files in `dir` that a crash left unfinished up to date with what is on disk
/// (and their sidecars' `duration_ms`). Returns the files repaired; files that are not Chorus recordings are
/// left alone. A missing directory is not an error (nothing to repair).
pub fn repair_dir(dir: &Path) -> Result<Vec<PathBuf>, RecordError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir, e)),
    };
    let mut repaired = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("wav") {
            continue;
        }
        match repair_file(&path) {
            Ok(true) => repaired.push(path),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot repair recording"),
        }
    }
    repaired.sort();
    Ok(repaired)
}

/// Fixes one file's header; true when it needed it.
fn repair_file(path: &Path) -> Result<bool, RecordError> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    let mut h = [0u8; 44];
    if f.read_exact(&mut h).is_err() {
        return Ok(false);
    }
    let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let ours = &h[0..4] == b"RIFF"
        && &h[8..16] == b"WAVEfmt "
        && u32_at(16) == 16
        && u16_at(20) == 1
        && matches!(u16_at(22), 1 | 2)
        && u16_at(34) == 16
        && &h[36..40] == b"data";
    if !ours {
        return Ok(false);
    }
    let channels = u16_at(22);
    let block = 2 * u64::from(channels);
    let len = f.metadata().map_err(|e| io_err(path, e))?.len();
    let samples = (len - HEADER_LEN) / block;
    if u64::from(u32_at(40)) == samples * block && len == HEADER_LEN + samples * block {
        return Ok(false);
    }
    let rate = u32_at(24).max(1);
    let r = (|| {
        f.set_len(HEADER_LEN + samples * block)?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&wav_header(rate, channels, samples))?;
        f.sync_all()
    })();
    r.map_err(|e| io_err(path, e))?;
    let side = path.with_extension("json");
    if let Ok(text) = std::fs::read_to_string(&side) {
        let duration_ms = samples * 1000 / u64::from(rate);
        if let Ok(re) = regex::Regex::new(r#""duration_ms":\s*\d+"#) {
            let fixed = re.replace(&text, format!("\"duration_ms\":{duration_ms}").as_str());
            std::fs::write(&side, fixed.as_bytes()).map_err(|e| io_err(&side, e))?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("chorus-rec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn meta() -> RecordingMeta {
        RecordingMeta {
            call_id: "abc\"1".into(),
            from: "sip:alice@example.com".into(),
            to: "sip:record@chorus".into(),
            room: None,
            started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_192_100),
        }
    }

    fn tone(n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| ((i as f64 * 0.3).sin() * 8000.0) as i16)
            .collect()
    }

    fn read(path: &Path) -> (hound::WavSpec, Vec<i16>) {
        let mut r = hound::WavReader::open(path).unwrap();
        let spec = r.spec();
        let s = r.samples::<i16>().map(|s| s.unwrap()).collect();
        (spec, s)
    }

    #[test]
    fn writes_wav_and_sidecar_and_trims_trailing_silence() {
        let dir = tmp("basic");
        let mut rec = Recorder::create(&dir, "a/b", 8000, &meta()).unwrap();
        assert!(rec.path().ends_with("a_b.wav"));
        for _ in 0..100 {
            rec.write(&tone(160)).unwrap(); // 2 s of tone
        }
        for _ in 0..150 {
            rec.write(&[0; 160]).unwrap(); // 3 s of silence
        }
        assert_eq!(rec.silent_for(), Duration::from_secs(3));
        let info = rec.finish().unwrap();
        assert_eq!(info.duration_ms, 2200, "2 s of tone + 200 ms tail");
        let (spec, samples) = read(&info.path);
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 8000, 16)
        );
        assert_eq!(samples.len(), 17_600);
        let side = std::fs::read_to_string(info.path.with_extension("json")).unwrap();
        assert_eq!(
            side.trim(),
            r#"{"call_id":"abc\"1","from":"sip:alice@example.com","to":"sip:record@chorus","started_at":"2026-12-02T06:15:00.000Z","duration_ms":2200,"sample_rate":8000}"#
        );
        // Same name again: a new file, not an overwrite.
        let again = Recorder::create(&dir, "a/b", 8000, &meta()).unwrap();
        assert!(again.path().ends_with("a_b-2.wav"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stereo_frames_interleave_and_repair_keeps_whole_frames() {
        let dir = tmp("stereo");
        let mut rec = Recorder::create_channels(&dir, "st", 8000, 2, &meta()).unwrap();
        rec.keep_trailing_silence();
        let left = tone(160);
        let frame: Vec<i16> = left.iter().flat_map(|&l| [l, 0]).collect();
        for _ in 0..75 {
            rec.write(&frame).unwrap(); // 1.5 s
        }
        assert_eq!(rec.duration(), Duration::from_millis(1500));
        let path = rec.path().to_path_buf();
        // A crash now: the header covers the first second only; repair brings it to 1.5 s.
        drop(rec);
        let (spec, samples) = read(&path);
        assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
        assert_eq!(samples.len(), 16_000, "the header covers the first second");
        // Half a frame (one sample) dangling, as a crash mid-write may leave.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[1, 2]).unwrap();
        drop(f);
        assert_eq!(repair_dir(&dir).unwrap(), vec![path.clone()]);
        let (spec, samples) = read(&path);
        assert_eq!(spec.channels, 2);
        assert_eq!(samples.len(), 24_000, "1.5 s of whole frames");
        assert_eq!(samples[0..6], [left[0], 0, left[1], 0, left[2], 0]);
        let side = std::fs::read_to_string(path.with_extension("json")).unwrap();
        assert!(
            side.contains("\"duration_ms\":1500") && side.contains("\"channels\":2"),
            "{side}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_whole_call_recording_keeps_its_silent_end() {
        let dir = tmp("untrimmed");
        let mut rec = Recorder::create(&dir, "call", 8000, &meta()).unwrap();
        rec.keep_trailing_silence();
        rec.write(&tone(8000)).unwrap();
        rec.write(&[0; 16000]).unwrap();
        let info = rec.finish().unwrap();
        assert_eq!(info.duration_ms, 3000);
        assert_eq!(read(&info.path).1.len(), 24_000);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn header_is_current_every_second_and_repair_fixes_the_rest() {
        let dir = tmp("crash");
        let mut rec = Recorder::create(&dir, "crash", 16000, &meta()).unwrap();
        // 2.5 s at 16 kHz, then the process "dies" (the recorder is leaked: no finish, no drop logic).
        for _ in 0..125 {
            rec.write(&tone(320)).unwrap();
        }
        let path = rec.path().to_path_buf();
        std::mem::forget(rec);
        let (_, before) = read(&path);
        assert_eq!(before.len(), 32_000, "header covers the last whole second");
        assert_eq!(repair_dir(&dir).unwrap(), vec![path.clone()]);
        let (spec, after) = read(&path);
        assert_eq!((spec.sample_rate, after.len()), (16000, 40_000));
        let side = std::fs::read_to_string(path.with_extension("json")).unwrap();
        assert!(side.contains("\"duration_ms\":2500"), "{side}");
        assert!(
            repair_dir(&dir).unwrap().is_empty(),
            "nothing left to repair"
        );
        // A half-written last sample and a foreign file.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[1])
            .unwrap();
        std::fs::write(dir.join("junk.wav"), b"hello").unwrap();
        assert_eq!(repair_dir(&dir).unwrap(), vec![path.clone()]);
        assert_eq!(read(&path).1.len(), 40_000);
        assert!(repair_dir(&dir.join("missing")).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn room_sidecar_and_unwritable_dir() {
        let dir = tmp("room");
        let m = RecordingMeta {
            room: Some("1".into()),
            ..meta()
        };
        let rec = Recorder::create(&dir, "room-1", 8000, &m).unwrap();
        let info = rec.finish().unwrap();
        assert_eq!(info.duration_ms, 0);
        let side = std::fs::read_to_string(info.path.with_extension("json")).unwrap();
        assert!(side.starts_with("{\"room\":\"1\",\"started_at\""), "{side}");
        // A directory that is a file: an error value, no panic.
        let file_dir = dir.join("room-1.wav");
        assert!(matches!(
            Recorder::create(&file_dir, "x", 8000, &meta()),
            Err(RecordError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn disk_full_is_an_error_value() {
        // /dev/full accepts opens and fails every write with ENOSPC.
        let Ok(file) = OpenOptions::new().read(true).write(true).open("/dev/full") else {
            return;
        };
        let mut rec = Recorder {
            file,
            path: PathBuf::from("/dev/full"),
            rate: 8000,
            channels: 1,
            meta: meta(),
            written: 0,
            since_header: 0,
            sound_end: 0,
            failed: false,
            trim: true,
            bytes: Vec::new(),
        };
        let e = rec.write(&tone(160)).unwrap_err();
        assert!(e.to_string().contains("no space"), "{e}");
        assert!(matches!(
            rec.write(&tone(160)),
            Err(RecordError::AlreadyFailed(_))
        ));
    }
}
