//! Kamailio in front of one Chorus, Record-Routing the INVITE (README "Using Chorus behind a proxy"): a
//! SIPp call to `echo` through the proxy ends with the caller's BYE, and a call to `hello` ends with
//! Chorus's BYE; both BYEs follow the route set through Kamailio, which logs every in-dialog request it
//! routes with loose_route() and where it came from.

mod common;
#[path = "common/kamailio.rs"]
mod kamailio;

use std::time::Duration;

use common::{sipp, Chorus, Transport};
use kamailio::{Kamailio, Upstream};

#[test]
fn caller_bye_goes_through_the_proxy() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let proxy = Kamailio::start(Upstream::One(chorus.sip_addr()));
    let run = sipp(
        "uac_echo.xml",
        proxy.sip_addr(),
        "echo",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(30),
    );
    run.assert_success("echo call through kamailio");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log.len(), 1, "{log:#?}");
    let line = &log[0];
    assert_eq!(line["route"], "echo", "{line}");
    assert_eq!(line["end_reason"], "caller_bye", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    let call_id = line["call_id"].as_str().unwrap().to_string();

    // Chorus put Kamailio's Record-Route back in its 200, so SIPp's ACK and BYE carry the route set.
    assert!(
        run.messages.contains("Record-Route:") || run.messages.contains("record-route:"),
        "the 200 SIPp got has no Record-Route:\n{run}"
    );
    let new = proxy.lines_with(&["new INVITE echo", &call_id]);
    assert_eq!(
        new.len(),
        1,
        "kamailio relayed the INVITE once: {:#?}",
        proxy.test_lines()
    );
    for method in ["ACK", "BYE"] {
        let routed = proxy.lines_with(&[&format!("in-dialog {method} from"), &call_id]);
        assert_eq!(
            routed.len(),
            1,
            "kamailio loose-routed the caller's {method} once: {:#?}",
            proxy.test_lines()
        );
    }
    assert!(
        proxy.lines_with(&["without a route"]).is_empty(),
        "{:#?}",
        proxy.test_lines()
    );
}

#[test]
fn server_bye_goes_through_the_proxy() {
    let chorus = Chorus::start("tests/dialplans/test.yaml");
    let proxy = Kamailio::start(Upstream::One(chorus.sip_addr()));
    let run = sipp(
        "uac_hello.xml",
        proxy.sip_addr(),
        "hello",
        Transport::Udp,
        1,
        &[],
        Duration::from_secs(30),
    );
    run.assert_success("hello call through kamailio, chorus hangs up");
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    let line = &log[0];
    assert_eq!(line["route"], "hello", "{line}");
    assert_eq!(line["end_reason"], "server_bye", "{line}");
    let call_id = line["call_id"].as_str().unwrap().to_string();

    // The BYE reached SIPp either way; it went through the proxy only if Chorus sent it to the Route
    // (Kamailio) rather than straight to SIPp's Contact. Kamailio logs it, from Chorus's address.
    let from_chorus = format!("in-dialog BYE from {}", chorus.sip_addr());
    let routed = proxy.lines_with(&[&from_chorus, &call_id]);
    assert_eq!(
        routed.len(),
        1,
        "kamailio loose-routed chorus's BYE once ({from_chorus}): {:#?}\n{run}",
        proxy.test_lines()
    );
    // And SIPp got the BYE from the proxy's address, with the proxy's Via on top.
    let via = format!("Via: SIP/2.0/UDP {}", proxy.sip_addr());
    assert!(
        run.messages
            .split("BYE sip:")
            .nth(1)
            .is_some_and(|bye| bye.contains(&via)),
        "the BYE SIPp received has no `{via}` (did it bypass the proxy?):\n{run}"
    );
}
