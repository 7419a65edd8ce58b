//! A key press sent two ways at once counts once. Some phones send each key both as RFC 4733 events and
//! as SIP INFO: SIPp sends 9 as events (SIPp's capture) and, 60 ms after they start, as INFO
//! `Signal=9`; the call log must say "9". A second press of 9 1.2 s later, as events only (the same
//! stream: later sequence numbers and timestamp), is a new key: "99".

mod common;

use std::time::Duration;

use common::pcap::{self, Stream};
use common::{fixture, sipp_with_files, Chorus, Transport};

/// Where SIPp's `dtmf_2833_9.pcap` leaves its stream: SSRC, the sequence number after its end
/// packets, and its event timestamp.
const SSRC: u32 = 0x0e05_384e;
const NEXT_SEQ: u16 = 8301;
const FIRST_TS: u32 = 67840;

#[test]
fn one_press_by_events_and_info_is_one_key() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let dir = common::scratch_dir("dtmf-both");
    // 500 ms + 60 ms + INFO round trip + 1200 ms after the first press started: about 1.4 s of
    // RTP clock later.
    let mut stream = Stream {
        ssrc: SSRC,
        seq: NEXT_SEQ,
        ts: FIRST_TS + 8000 * 14 / 10,
    };
    let again = dir.join("dtmf_2833_9_again.pcap");
    pcap::write(&again, &pcap::rfc4733_press('9', 101, 8, &mut stream));
    let first = fixture("dtmf_2833_9.pcap");

    let run = sipp_with_files(
        "uac_dtmf_both.xml",
        chorus.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(20),
        &[first.as_path(), again.as_path()],
    );
    run.assert_success("9 as events + INFO, then 9 as events; INFO expects 200");

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let call = &log[0];
    assert_eq!(call["end_reason"], "caller_bye", "{call}");
    assert_eq!(
        call["dtmf"], "99",
        "first 9 sent as RFC 4733 and as INFO (one press), then a second 9 1.2 s later: {call}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
