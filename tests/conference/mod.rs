//! Shared by the conference end-to-end tests (`tests/conference_*.rs`): several PJSUA2 callers in one room
//! at once, each sending its own tone and recording what it hears, and measurements of those recordings by
//! Goertzel power in 200 ms windows.
//!
//! Each caller is its own `tests/pjsua/call.py` process (own endpoint, own SIP and RTP ports), started on
//! its own thread after its own delay. The recordings are not aligned in time with each other, so the tests
//! find the stretches they measure from the audio itself (e.g. "the windows where both other tones are
//! heard").
//!
//! Tones are 540, 1420 and 1790 Hz: no one of them is a harmonic or a second- or third-order
//! intermodulation product of the other two (the nearest product is 170 Hz away), none is a DTMF
//! frequency, and none is the 1 kHz of Chorus's beep. Levels are in dB of the length-normalised Goertzel
//! power: a sine of amplitude A measures 20·log10(A/2), so 6000 is 69.5 dB and [`PRESENT_DB`] (50 dB) is
//! an amplitude of about 630 (-34 dBFS).

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::common::audio::{goertzel, write_tone, Audio};
use crate::common::{pjsua_call_args, scratch_dir, PjCall};

/// The members' tones, in Hz.
pub const TONES: [f64; 3] = [540.0, 1420.0, 1790.0];
/// Each member's tone amplitude (out of 32767): two of them summed stay far from clipping.
pub const AMPLITUDE: f64 = 6000.0;
/// Analysis window, seconds.
pub const WINDOW: f64 = 0.2;
/// A tone at or above this level (dB, see the module docs) is heard.
pub const PRESENT_DB: f64 = 50.0;

/// Conference tests run one at a time within a test binary: a room mixes in a debug build of Chorus, and
/// two rooms plus six user agents on a 2-core machine would measure the machine, not the bridge.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// Takes [`SERIAL`] (also after another test panicked holding it).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// One caller.
#[derive(Clone, Debug)]
pub struct Member {
    /// A short name for messages ("A").
    pub name: &'static str,
    /// The Request-URI user (`conf-7`).
    pub user: String,
    /// The tone it sends, if any (it sends nothing otherwise).
    pub tone: Option<f64>,
    /// Seconds to wait before starting the caller.
    pub delay: f64,
    /// Seconds in the call after media is up (the limit with `wait_bye`).
    pub seconds: f64,
    /// Wait for Chorus to hang up.
    pub wait_bye: bool,
    /// The only codec offered.
    pub codec: &'static str,
    /// More `call.py` arguments (`--dtmf-at 2.5:*6`, `--clock-rate 16000`).
    pub extra: Vec<String>,
}

impl Member {
    /// A member calling `user` with `tone`, starting after `delay`, in the call for `seconds`, PCMU.
    pub fn new(
        name: &'static str,
        user: &str,
        tone: Option<f64>,
        delay: f64,
        seconds: f64,
    ) -> Member {
        Member {
            name,
            user: user.to_string(),
            tone,
            delay,
            seconds,
            wait_bye: false,
            codec: "PCMU",
            extra: Vec::new(),
        }
    }

    /// With these extra `call.py` arguments.
    pub fn args(mut self, extra: &[&str]) -> Member {
        self.extra.extend(extra.iter().map(|s| s.to_string()));
        self
    }

    /// Offering only `codec` (G722 also runs the user agent's media at 16 kHz).
    pub fn codec(mut self, codec: &'static str) -> Member {
        self.codec = codec;
        if codec == "G722" {
            self.extra.extend(["--clock-rate".into(), "16000".into()]);
        }
        self
    }

    /// Waiting for Chorus to hang up (at most `seconds`).
    pub fn wait_bye(mut self) -> Member {
        self.wait_bye = true;
        self
    }
}

/// What a caller reported and heard.
pub struct Heard {
    /// The member's name.
    pub name: &'static str,
    /// `call.py`'s JSON result.
    pub result: serde_json::Value,
    /// Its recording.
    pub audio: Audio,
    /// Where the recording is.
    pub path: PathBuf,
}

/// Runs every member at once (each after its delay) against `target` and returns what each heard, in the
/// order given. Tone files and recordings go to `dir`.
pub fn call_all(target: std::net::SocketAddr, dir: &Path, members: &[Member]) -> Vec<Heard> {
    let results: Vec<(serde_json::Value, PathBuf)> = std::thread::scope(|s| {
        let handles: Vec<_> = members
            .iter()
            .map(|m| {
                s.spawn(move || {
                    let play = m.tone.map(|f| {
                        let p = dir.join(format!("tone-{}-{f}.wav", m.name));
                        write_tone(&p, 8000, f, m.seconds + m.delay + 3.0, AMPLITUDE);
                        p
                    });
                    let record = dir.join(format!("heard-{}.wav", m.name));
                    std::thread::sleep(std::time::Duration::from_secs_f64(m.delay));
                    let extra: Vec<&str> = m.extra.iter().map(String::as_str).collect();
                    let result = pjsua_call_args(
                        target,
                        &PjCall {
                            user: &m.user,
                            play: play.as_deref(),
                            record: &record,
                            seconds: m.seconds,
                            wait_bye: m.wait_bye,
                            codec: Some(m.codec),
                        },
                        &extra,
                    );
                    (result, record)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("caller thread panicked"))
            .collect()
    });
    members
        .iter()
        .zip(results)
        .map(|(m, (result, path))| {
            assert_eq!(result["connected"], true, "member {}: {result}", m.name);
            assert_eq!(result["media_active"], true, "member {}: {result}", m.name);
            assert!(
                path.is_file(),
                "member {} recorded nothing at {}: {result}",
                m.name,
                path.display()
            );
            Heard {
                name: m.name,
                audio: Audio::read(&path),
                result,
                path,
            }
        })
        .collect()
}

/// A fresh directory for a test's files.
pub fn work_dir(what: &str) -> PathBuf {
    scratch_dir(what)
}

/// Level of `freq` in `samples`, dB (see the module docs).
pub fn level_db(samples: &[i16], rate: u32, freq: f64) -> f64 {
    10.0 * goertzel(samples, rate, freq).max(1e-3).log10()
}

/// The level of each of `freqs` in each [`WINDOW`] of `audio` (a last partial window is dropped).
pub fn windows(audio: &Audio, freqs: &[f64]) -> Vec<Vec<f64>> {
    let n = (audio.rate as f64 * WINDOW) as usize;
    audio
        .samples
        .chunks_exact(n)
        .map(|w| freqs.iter().map(|f| level_db(w, audio.rate, *f)).collect())
        .collect()
}

/// The mean power over the windows `which` of tone `k`, in dB.
pub fn mean_db(levels: &[Vec<f64>], which: &[usize], k: usize) -> f64 {
    if which.is_empty() {
        return f64::NEG_INFINITY;
    }
    let p: f64 = which
        .iter()
        .map(|i| 10f64.powf(levels[*i][k] / 10.0))
        .sum::<f64>()
        / which.len() as f64;
    10.0 * p.log10()
}

/// The window levels as text, one line per window: `  1.40 s  62  63   3`, for failure messages.
pub fn timeline(levels: &[Vec<f64>], freqs: &[f64]) -> String {
    let mut s = format!(
        "   time  {}\n",
        freqs
            .iter()
            .map(|f| format!("{:>5}", *f as i64))
            .collect::<String>()
    );
    for (i, l) in levels.iter().enumerate() {
        s.push_str(&format!(
            "{:>5.2} s  {}\n",
            i as f64 * WINDOW,
            l.iter().map(|d| format!("{:>5.0}", d)).collect::<String>()
        ));
    }
    s
}

/// Seconds covered by `n` windows.
pub fn secs(n: usize) -> f64 {
    n as f64 * WINDOW
}
