//! A recording survives `kill -9`: PJSUA2 calls the demo's `record` route sending a steady tone; about 4 s
//! into the recording Chorus is killed with SIGKILL (no shutdown, no header written at the end). Then:
//! - even before any repair, the WAV header on disk covers all but at most the last second (the recorder
//!   rewrites it at least every second);
//! - a new Chorus started on the same recordings directory repairs the file at startup: it parses as a WAV,
//!   is 16-bit mono 8 kHz, holds at least (time recorded - 1 s) of the caller's tone and not more than was
//!   recorded, and its sidecar's duration_ms matches.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::audio::{rms, tone_share, write_tone, Audio};
use common::recording::Recording;
use common::{pjsua_call_args, Chorus, PjCall};

const TONE_HZ: f64 = 700.0;
/// How long to record before the kill: between two header rewrites, so there is something to repair.
const RECORD_FOR: Duration = Duration::from_millis(4500);

fn wavs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "wav"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The data length the WAV header claims, in seconds at `rate` (16-bit mono).
fn header_seconds(path: &Path) -> f64 {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.len() >= 44,
        "{} is shorter than a WAV header",
        path.display()
    );
    let rate = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
    let data = u32::from_le_bytes(bytes[40..44].try_into().unwrap());
    data as f64 / 2.0 / rate as f64
}

#[test]
fn recording_survives_kill_9_and_is_repaired_at_startup() {
    let mut chorus = Chorus::start("dialplans/demo.yaml");
    let recordings = chorus.recordings_dir();
    let dir = common::scratch_dir("recording-crash");
    let tone = dir.join("tone.wav");
    write_tone(&tone, 8000, TONE_HZ, 10.0, 8000.0);
    let heard = dir.join("heard.wav");
    let target = chorus.sip_addr();
    let (tone2, heard2) = (tone.clone(), heard.clone());
    let caller = std::thread::spawn(move || {
        pjsua_call_args(
            target,
            &PjCall {
                user: "record",
                play: Some(&tone2),
                record: &heard2,
                seconds: 6.0,
                wait_bye: false,
                codec: Some("PCMU"),
            },
            &[],
        )
    });

    // The recorder creates the file when recording starts (after the beep).
    let deadline = Instant::now() + Duration::from_secs(8);
    let path = loop {
        if let Some(p) = wavs(&recordings).into_iter().next() {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "no recording started in {}",
            recordings.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let started = Instant::now();
    std::thread::sleep(RECORD_FOR);
    chorus.kill9();
    let recorded = started.elapsed().as_secs_f64();

    let on_disk = (std::fs::metadata(&path).unwrap().len().saturating_sub(44)) as f64 / 16000.0;
    let header = header_seconds(&path);
    eprintln!(
        "killed after {recorded:.2} s of recording: {on_disk:.2} s on disk, header says {header:.2} s"
    );
    assert!(
        header >= recorded - 1.0 - 0.1,
        "before repair the header covers {header:.2} s of {recorded:.2} s recorded: more than the last second lost"
    );

    let chorus = chorus.restart();
    if on_disk - header > 0.05 {
        assert!(
            chorus.wait_log("repaired recordings", Duration::from_secs(2)),
            "the header lagged the data by {:.2} s: the new chorus should log a repair",
            on_disk - header
        );
    }
    let rel = path
        .strip_prefix(&recordings)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let rec = Recording::read(&chorus.recordings_dir(), &rel);
    let spec = hound::WavReader::open(&rec.path).unwrap().spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 8000, 16),
        "{}",
        rec.path.display()
    );
    let secs = rec.audio.seconds();
    eprintln!("after repair: {secs:.2} s; sidecar {}", rec.sidecar);
    assert!(
        secs >= recorded - 1.0,
        "after repair the WAV holds {secs:.2} s of {recorded:.2} s recorded: more than the last second lost"
    );
    assert!(
        secs <= recorded + 0.2,
        "the WAV holds {secs:.2} s, more than the {recorded:.2} s recorded"
    );
    let header_after = header_seconds(&rec.path);
    assert!(
        (header_after - on_disk).abs() < 0.01,
        "the repaired header says {header_after:.3} s but {on_disk:.3} s are on disk"
    );
    let body = rec.audio.slice(0.2, secs - 0.1);
    let share = tone_share(body, 8000, TONE_HZ);
    assert!(
        rms(body) > 2000.0 && share > 0.8,
        "the repaired recording does not hold the caller's tone: rms {:.0}, share {share:.2}",
        rms(body)
    );
    let loud = Audio {
        rate: 8000,
        samples: body.to_vec(),
    }
    .loud_seconds(1000.0);
    assert!(
        loud >= secs - 0.5,
        "only {loud:.2} s of the {secs:.2} s recording is tone: audio lost in the middle"
    );
    let ms = rec.sidecar["duration_ms"].as_u64().unwrap_or(0) as f64;
    assert!(
        (ms - secs * 1000.0).abs() <= 25.0,
        "sidecar duration_ms {ms} after repair, the WAV holds {:.0} ms: {}",
        secs * 1000.0,
        rec.sidecar
    );
    assert_eq!(rec.sidecar["sample_rate"], 8000, "{}", rec.sidecar);
    assert!(
        rec.sidecar["call_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{}",
        rec.sidecar
    );
    assert_eq!(rec.sidecar["to"], "sip:record@127.0.0.1", "{}", rec.sidecar);

    let _ = caller.join();
    std::fs::remove_dir_all(dir).unwrap();
}
