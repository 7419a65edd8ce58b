//! The hello route plays its prompt and hangs up: Chorus sends BYE to the caller (SIPp answers it 200)
//! and logs the call with end_reason "server_bye".

mod common;

use std::time::Duration;

use common::{sipp, Chorus, Transport};

#[test]
fn hello_route_ends_with_server_bye() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let run = sipp(
        "uac_hello.xml",
        chorus.sip_addr(),
        "hello",
        Transport::Udp,
        2,
        &[],
        Duration::from_secs(30),
    );
    run.assert_success("server BYE after the hello prompt");
    let log = chorus.wait_call_log(2, Duration::from_secs(5));
    for line in &log {
        assert_eq!(line["route"], "hello", "{line}");
        assert_eq!(line["end_reason"], "server_bye", "{line}");
        assert_eq!(line["status"], 200, "{line}");
        assert!(line["answered_at"].is_string(), "{line}");
    }
}
