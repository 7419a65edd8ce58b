//! In-band DTMF: a caller that offers only PCMU (no telephone-event) can only send keys as tones in its
//! audio. SIPp plays PCMU written here: 500 ms of silence, then the keys 1 5 9 * as tone pairs of 100 ms
//! (each tone at -10 dBFS) with 100 ms of silence between; the call log must hold "159*". Speech must
//! not look like keys (talk-off): the greeting prompt played the same way leaves the log's dtmf empty.

mod common;

use std::time::Duration;

use common::audio::{goertzel, Audio};
use common::pcap::{self, Stream};
use common::{sipp_with_files, Chorus, Transport};

/// Plays `pcm` (8 kHz) to the echo route from a caller without telephone-event and returns the call's
/// log line. `linger_ms` is how long SIPp stays in the call after starting the audio.
fn play_inband(pcm: &[i16], linger_ms: u64, what: &str) -> serde_json::Value {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let dir = common::scratch_dir("dtmf-inband");
    let file = dir.join("inband.pcap");
    let mut stream = Stream {
        ssrc: 0x1b5e_7a11,
        seq: 3000,
        ts: 160_000,
    };
    pcap::write(&file, &pcap::pcmu_packets(pcm, &mut stream));
    let linger = linger_ms.to_string();
    let run = sipp_with_files(
        "uac_dtmf_inband.xml",
        chorus.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &["-d", &linger],
        Duration::from_secs(20),
        &[file.as_path()],
    );
    run.assert_success(&format!(
        "{what}: PCMU-only call (the answer must be PCMU alone)"
    ));
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let call = log[0].clone();
    assert_eq!(call["end_reason"], "caller_bye", "{what}: {call}");
    assert_eq!(call["rtp"]["codec"], "PCMU", "{what}: {call}");
    assert!(
        call["rtp"]["packets_received"]
            .as_u64()
            .is_some_and(|n| n * 160 >= pcm.len() as u64 * 9 / 10),
        "{what}: {} packets of audio were sent: {call}",
        pcm.len() / 160
    );
    std::fs::remove_dir_all(dir).unwrap();
    call
}

/// Checks the test's own signal before blaming the server: after µ-law coding, each 100 ms key window
/// holds its row and column tones well above the other six DTMF frequencies.
fn check_tones(pcm: &[i16], keys: &str) {
    const ALL: [f64; 8] = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0];
    let coded: Vec<i16> = pcm
        .iter()
        .map(|s| common::rtp::ulaw_decode(common::rtp::ulaw_encode(*s)))
        .collect();
    for (i, key) in keys.chars().enumerate() {
        let start = (500 + 200 * i) * 8;
        let window = &coded[start..start + 800];
        let (lo, hi) = pcap::dtmf_freqs(key);
        let power = |f: f64| goertzel(window, 8000, f);
        let weakest = power(lo).min(power(hi));
        let strongest_other = ALL
            .iter()
            .filter(|f| **f != lo && **f != hi)
            .map(|f| power(*f))
            .fold(0.0, f64::max);
        assert!(
            weakest > 100.0 * strongest_other,
            "test signal: key {key} is not a clean {lo}+{hi} Hz pair"
        );
    }
}

#[test]
fn tones_in_the_audio_are_keys() {
    let pcm = pcap::dtmf_audio("159*", 500, 100, 100, pcap::dbfs_amplitude(-10.0));
    check_tones(&pcm, "159*");
    // 500 ms + 4 × 200 ms of audio, then 700 ms more before the BYE.
    let call = play_inband(&pcm, 2000, "keys 159*");
    assert_eq!(
        call["dtmf"], "159*",
        "in-band 1 5 9 *: 100 ms tone pairs at -10 dBFS each, 100 ms apart: {call}"
    );
}

#[test]
fn speech_is_not_keys() {
    let hello = Audio::read(&common::repo_root().join("prompts/hello.wav"));
    assert_eq!(hello.rate, 8000, "prompts/hello.wav is 8 kHz");
    let linger = (hello.seconds() * 1000.0) as u64 + 700;
    let call = play_inband(&hello.samples, linger, "the greeting prompt");
    assert_eq!(
        call["dtmf"],
        "",
        "speech (prompts/hello.wav, {:.1} s) was taken for keys: {call}",
        hello.seconds()
    );
}
