//! OPTIONS, as proxies send for keepalive, is answered 200 with an Allow header that lists what Chorus
//! does, over UDP and TCP, and leaves no call-log line.

mod common;

use std::time::Duration;

use common::{sipp, Chorus, Transport};

#[test]
fn options_is_answered_with_allow_over_udp_and_tcp() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    for transport in [Transport::Udp, Transport::Tcp] {
        let run = sipp(
            "uac_options.xml",
            chorus.sip_addr(),
            "options",
            transport,
            3,
            &[],
            Duration::from_secs(15),
        );
        run.assert_success(&format!("OPTIONS over {transport:?}"));
    }
    let reply = common::sip::ping(chorus.sip_addr());
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    let allow = reply.header_all("Allow").join(",").to_ascii_uppercase();
    for method in ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"] {
        assert!(allow.contains(method), "Allow lacks {method}: {allow}");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(chorus.call_log().is_empty(), "OPTIONS is not a call");
}
