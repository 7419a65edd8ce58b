//! Early media through Kamailio: a PJSUA2 call to `early-404` goes through the proxy; Chorus's 183 with
//! SDP reaches the caller through it, the caller hears the announcement before any answer, and the 404
//! that follows comes through as the call's final status: the common "announce, then refuse" deployment.

mod common;
#[path = "common/kamailio.rs"]
mod kamailio;

use std::time::Duration;

use common::audio::{envelope_similarity, Audio};
use common::{pjsua_call, repo_root, Chorus, PjCall};
use kamailio::{Kamailio, Upstream};

#[test]
fn the_announcement_and_the_404_come_through_the_proxy() {
    let chorus = Chorus::start("tests/dialplans/early_media.yaml");
    let proxy = Kamailio::start(Upstream::One(chorus.sip_addr()));
    let dir = common::scratch_dir("kamailio-early");
    let heard = dir.join("heard.wav");
    let result = pjsua_call(
        proxy.sip_addr(),
        &PjCall {
            user: "early-404",
            play: None,
            record: &heard,
            seconds: 15.0,
            wait_bye: true,
            codec: Some("PCMU"),
        },
    );
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(result["early_media"], true, "{result}");
    assert_eq!(result["connected"], false, "{result}");
    assert_eq!(result["status"], 404, "the 404 came through: {result}");

    let prompt = Audio::read(&repo_root().join("prompts/hello.wav"));
    let audio = Audio::read(&heard);
    let similarity = envelope_similarity(&prompt, &audio, 1.0);
    eprintln!("through kamailio: envelope correlation {similarity:.2}");
    assert!(
        similarity > 0.8,
        "the announcement was not heard in early media (correlation {similarity:.2})"
    );

    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    assert_eq!(log.len(), 1, "{log:#?}");
    let line = &log[0];
    assert_eq!(line["status"], 404, "{line}");
    assert!(line["early_media_at"].is_string(), "{line}");
    assert!(line["answered_at"].is_null(), "{line}");
    assert_eq!(
        proxy.lines_with(&["new INVITE early-404"]).len(),
        1,
        "kamailio relayed the INVITE once: {:#?}",
        proxy.test_lines()
    );
    std::fs::remove_dir_all(dir).unwrap();
}
