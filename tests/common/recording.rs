//! Recordings made by Chorus, as the call log and the Recordings contract in ARCHITECTURE.md describe them:
//! a WAV in the recordings directory (named in the call log line's `recordings`, relative to that directory)
//! and a sidecar `<same name>.json`.

use std::path::{Path, PathBuf};

use super::audio::Audio;

/// One recording: its WAV read back, and its sidecar.
pub struct Recording {
    /// The WAV file.
    pub path: PathBuf,
    /// Its audio.
    pub audio: Audio,
    /// The sidecar `<same name>.json`, parsed.
    pub sidecar: serde_json::Value,
}

impl Recording {
    /// Reads `dir/rel` and its sidecar; fails the test when either is missing or unreadable.
    pub fn read(dir: &Path, rel: &str) -> Recording {
        assert!(
            !rel.starts_with('/') && !rel.contains(".."),
            "the call log should list recordings relative to the recordings directory, got {rel:?}"
        );
        let path = dir.join(rel);
        assert!(
            path.is_file(),
            "recording {} listed in the call log does not exist",
            path.display()
        );
        assert_eq!(
            path.extension().and_then(|e| e.to_str()),
            Some("wav"),
            "recording {rel} is not a .wav"
        );
        let audio = Audio::read(&path);
        let side = path.with_extension("json");
        let text = std::fs::read_to_string(&side)
            .unwrap_or_else(|e| panic!("sidecar {} missing: {e}", side.display()));
        let sidecar = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("sidecar {} is not JSON ({e}): {text}", side.display()));
        Recording {
            path,
            audio,
            sidecar,
        }
    }

    /// The only recording a call log line lists.
    pub fn only_of(dir: &Path, call: &serde_json::Value) -> Recording {
        let list = call["recordings"]
            .as_array()
            .unwrap_or_else(|| panic!("call log line has no recordings list: {call}"));
        assert_eq!(list.len(), 1, "expected one recording: {call}");
        let rel = list[0]
            .as_str()
            .unwrap_or_else(|| panic!("recording is not a string: {call}"));
        Recording::read(dir, rel)
    }

    /// Checks the sidecar against the call log line and the WAV: `call_id`, `from`, `to` as in the call log,
    /// `started_at` within the call, `duration_ms` the WAV's length (±25 ms), `sample_rate` the WAV's rate.
    pub fn check_sidecar(&self, call: &serde_json::Value) {
        let side = &self.sidecar;
        for key in ["call_id", "from", "to"] {
            assert_eq!(
                side[key], call[key],
                "sidecar {key} differs from the call log\nsidecar: {side}\ncall: {call}"
            );
        }
        assert_eq!(
            side["sample_rate"].as_u64(),
            Some(self.audio.rate as u64),
            "sidecar sample_rate vs the WAV's: {side}"
        );
        let ms = side["duration_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("sidecar duration_ms missing: {side}"));
        let wav_ms = self.audio.seconds() * 1000.0;
        assert!(
            (ms as f64 - wav_ms).abs() <= 25.0,
            "sidecar duration_ms {ms} but the WAV holds {wav_ms:.0} ms: {side}"
        );
        let started = rfc3339_seconds(side["started_at"].as_str().unwrap_or(""))
            .unwrap_or_else(|| panic!("sidecar started_at is not RFC 3339: {side}"));
        let from = rfc3339_seconds(call["started_at"].as_str().unwrap_or(""))
            .unwrap_or_else(|| panic!("call log started_at is not RFC 3339: {call}"));
        let to = rfc3339_seconds(call["ended_at"].as_str().unwrap_or(""))
            .unwrap_or_else(|| panic!("call log ended_at is not RFC 3339: {call}"));
        // Whole seconds in the sidecar: allow the truncation.
        assert!(
            started >= from - 1.0 && started <= to + 1.0,
            "sidecar started_at is not within the call ({from}..{to}): {side}\n{call}"
        );
    }
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp (`2026-12-02T07:02:03.123+01:00`, `...Z`).
pub fn rfc3339_seconds(s: &str) -> Option<f64> {
    let (date, rest) = s.split_once(['T', 't', ' '])?;
    let mut d = date.split('-');
    let (y, mo, da): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (time, offset) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0i64)
    } else {
        let i = rest.rfind(['+', '-'])?;
        let (t, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':')?;
        (
            t,
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60),
        )
    };
    let mut t = time.split(':');
    let (h, mi): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let sec: f64 = t.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some((days * 86400 + h * 3600 + mi * 60 - offset) as f64 + sec)
}
