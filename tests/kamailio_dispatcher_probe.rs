//! Kamailio's dispatcher probing Chorus with OPTIONS (ds_ping_interval 1 s, ds_probing_mode 1). Chorus is
//! listed as inactive and a dead port as active: Chorus's 200s bring it up (event dst-up, flags "AP" in
//! `kamcmd dispatcher.list`) while the dead port goes down (dst-down, "IP"). A call then reaches Chorus
//! through the dispatcher. When Chorus is killed, its probes fail and the dispatcher takes it down.

mod common;
#[path = "common/kamailio.rs"]
mod kamailio;

use std::net::UdpSocket;
use std::time::Duration;

use common::{sipp, Chorus, Transport};
use kamailio::{sip_uri, Dest, Kamailio, Upstream};

#[test]
fn dispatcher_probes_chorus_with_options() {
    let mut chorus = Chorus::start("tests/dialplans/test.yaml");
    // A UDP port nobody answers on: bound here, so nothing else takes it, and never read.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    let dests = [
        Dest {
            addr: chorus.sip_addr(),
            flags: 1, // inactive until a probe says otherwise
        },
        Dest::active(dead_addr),
    ];
    let proxy = Kamailio::start(Upstream::Dispatcher {
        dests: &dests,
        ping_interval: 1,
    });

    let chorus_uri = sip_uri(chorus.sip_addr());
    assert!(
        proxy.wait_line(&["dst-up", &chorus_uri], Duration::from_secs(10)),
        "chorus never came up from OPTIONS probing: {:#?}",
        proxy.test_lines()
    );
    let flags = proxy.wait_dispatcher_flags(chorus.sip_addr(), "AP", Duration::from_secs(5));
    assert_eq!(
        flags.as_deref(),
        Some("AP"),
        "chorus: active and probing\n{}",
        proxy.kamcmd(&["dispatcher.list"])
    );
    // The dead destination fails its probes (tm's own 408 after fr_timer) and goes down.
    assert!(
        proxy.wait_line(&["dst-down", &sip_uri(dead_addr)], Duration::from_secs(15)),
        "the dead destination never went down: {:#?}",
        proxy.test_lines()
    );
    let dead_flags = proxy.dispatcher_flags(dead_addr).unwrap_or_default();
    assert!(
        dead_flags.starts_with('I'),
        "dead destination: inactive, got {dead_flags}\n{}",
        proxy.kamcmd(&["dispatcher.list"])
    );
    assert!(
        proxy.lines_with(&["dst-down", &chorus_uri]).is_empty(),
        "chorus went down while answering probes: {:#?}",
        proxy.test_lines()
    );

    // Calls through the dispatcher go to the one active destination, whatever the hash says.
    let run = sipp(
        "uac_echo.xml",
        proxy.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(30),
    );
    run.assert_success("echo call through the dispatcher");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log[0]["end_reason"], "caller_bye", "{}", log[0]);

    // Chorus gone: its probes time out and the dispatcher takes it down.
    chorus.kill9();
    assert!(
        proxy.wait_line(&["dst-down", &chorus_uri], Duration::from_secs(15)),
        "chorus killed, but the dispatcher never took it down: {:#?}",
        proxy.test_lines()
    );
    drop(dead);
}
