//! Live reload of the dialplan file (SIGHUP, and a change of the file without a signal), with raw SIP
//! INVITEs probing which plan routes new calls (200 for a route of the plan in service, 404 otherwise):
//! 1. plan A (routes echo, hello) serves: echo 200, newroute 404;
//! 2. a broken file + SIGHUP: refused (logged), plan A still serves;
//! 3. another broken file, no signal: the file watch refuses it too, plan A still serves;
//! 4. a call to `hello` (plays a 3.6 s greeting, then Chorus hangs up) is started on plan A; plan B (echo,
//!    newroute; no hello) + SIGHUP, written with the old file's length and modification time so that only
//!    the signal can have loaded it: newroute 200, hello 404, and the call in progress still finishes as
//!    `hello` on plan A (BYE from Chorus after its greeting);
//! 5. plan C (adds third), no signal: picked up within 5 s, third 200.

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::sip::{final_response, recv, response_to, Leg};
use common::{free_udp_block, Chorus};

const PLAN_A: &str = "\
# plan A
routes:
  - name: echo
    match: echo
    steps: [answer, echo]
  - name: hello
    match: hello
    steps: [answer, {play: hello}, hangup]
";

/// `plya` is not a step: the checker refuses the file.
const BROKEN_1: &str = "\
routes:
  - name: echo
    match: echo
    steps: [answer, {plya: hello}]
  - name: newroute
    match: newroute
    steps: [answer, echo]
";

/// A regex that does not compile, and an undefined menu. Longer than plan B, which step 4 writes with
/// this file's length.
const BROKEN_2: &str = "\
# Broken on purpose: the pattern below does not compile and the menu it runs is not defined anywhere,
# so the checker refuses this file and the plan in service stays.
routes:
  - name: newroute
    match: 'new(route'
    steps: [answer, {menu: nowhere}]
";

const PLAN_B: &str = "\
# plan B
routes:
  - name: echo
    match: echo
    steps: [answer, echo]
  - name: newroute
    match: newroute
    steps: [answer, echo]
";

const PLAN_C: &str = "\
# plan C
routes:
  - name: echo
    match: echo
    steps: [answer, echo]
  - name: newroute
    match: newroute
    steps: [answer, echo]
  - name: third
    match: third
    steps: [answer, echo]
";

/// Sends an INVITE to `user` and returns the final status; a 200 is acknowledged and hung up at once.
fn probe(chorus: &Chorus, user: &str) -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = chorus.sip_addr();
    let mut leg = Leg::new(&sock, target, user, "reload");
    sock.send_to(leg.invite(free_udp_block(2)).as_bytes(), target)
        .unwrap();
    let resp = final_response(&sock, "INVITE", Duration::from_secs(5));
    let status = resp.status().unwrap();
    leg.to_tag = resp.to_tag();
    if status == 200 {
        sock.send_to(leg.ack_2xx().as_bytes(), target).unwrap();
        sock.send_to(leg.bye().as_bytes(), target).unwrap();
        let ok = final_response(&sock, "BYE", Duration::from_secs(5));
        assert_eq!(ok.status(), Some(200), "BYE to {user}: {}", ok.start);
    } else {
        let ack = leg.request("ACK", 1, &leg.invite_branch.clone());
        sock.send_to(ack.as_bytes(), target).unwrap();
    }
    status
}

/// Replaces the file's content (through a rename, as editors do).
fn write_plan(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Waits until the log has `n` lines containing all of `needles`.
fn wait_lines(chorus: &Chorus, needles: &[&str], n: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let count = chorus
            .log_text()
            .lines()
            .filter(|l| needles.iter().all(|s| l.contains(s)))
            .count();
        if count >= n {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

const REFUSED: &str = "dialplan reload refused";
const RELOADED: &str = "dialplan reloaded";

#[test]
fn reload_keeps_the_old_plan_on_errors_and_takes_a_valid_one() {
    let dir = common::scratch_dir("dialplan-reload");
    let plan = dir.join("plan.yaml");
    std::fs::write(&plan, PLAN_A).unwrap();
    let chorus = Chorus::start(plan.to_str().unwrap());
    assert_eq!(probe(&chorus, "echo"), 200, "plan A routes echo");
    assert_eq!(probe(&chorus, "newroute"), 404, "plan A has no newroute");

    // 2. Broken file, SIGHUP.
    write_plan(&plan, BROKEN_1);
    chorus.sighup();
    assert!(
        wait_lines(&chorus, &[REFUSED, "SIGHUP"], 1, Duration::from_secs(5)),
        "SIGHUP with a broken file: no '{REFUSED}' in the log"
    );
    assert!(
        chorus.log_text().contains("unknown step 'plya'"),
        "the refused file's errors should be logged"
    );
    assert_eq!(probe(&chorus, "echo"), 200, "plan A still routes echo");
    assert_eq!(
        probe(&chorus, "newroute"),
        404,
        "the broken file's newroute must not serve"
    );

    // 3. Another broken file, no signal: the file watch sees it (and refuses it).
    write_plan(&plan, BROKEN_2);
    assert!(
        wait_lines(
            &chorus,
            &[REFUSED, "file changed"],
            1,
            Duration::from_secs(5)
        ),
        "a changed broken file should be noticed (and refused) within 5 s without SIGHUP"
    );
    assert_eq!(probe(&chorus, "echo"), 200, "plan A still routes echo");
    assert_eq!(probe(&chorus, "hello"), 200, "plan A still routes hello");
    assert_eq!(probe(&chorus, "newroute"), 404);
    assert_eq!(
        chorus.log_count(RELOADED),
        0,
        "nothing valid was loaded yet"
    );

    // 4. A call on plan A in progress, then plan B by SIGHUP only (same length and mtime as before).
    let hello_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (hello_leg, _) = common::sip::establish(
        &hello_sock,
        chorus.sip_addr(),
        "hello",
        "reload-hello",
        free_udp_block(2),
    );
    let answered = Instant::now();
    let before = std::fs::metadata(&plan).unwrap();
    let mut b = PLAN_B.to_string();
    let old_len = before.len() as usize;
    assert!(
        b.len() <= old_len,
        "plan B must fit in the old file's length"
    );
    b.push_str(&"#".repeat(old_len - b.len() - 1));
    b.push('\n');
    write_plan(&plan, &b);
    let f = std::fs::File::options().write(true).open(&plan).unwrap();
    f.set_modified(before.modified().unwrap_or(SystemTime::now()))
        .unwrap();
    drop(f);
    // Let a file-watch tick pass: it must see nothing new.
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(
        probe(&chorus, "newroute"),
        404,
        "the file watch reloaded a file whose length and mtime did not change?"
    );
    chorus.sighup();
    assert!(
        wait_lines(&chorus, &[RELOADED, "SIGHUP"], 1, Duration::from_secs(5)),
        "SIGHUP with a valid file: no '{RELOADED}' in the log"
    );
    assert_eq!(probe(&chorus, "newroute"), 200, "plan B routes newroute");
    assert_eq!(probe(&chorus, "hello"), 404, "plan B has no hello");
    // The hello call goes on with plan A: its greeting, then Chorus's BYE.
    let deadline = Instant::now() + Duration::from_secs(8);
    let bye = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "the call in progress on plan A's hello got no BYE"
        );
        if let Some((m, _)) = recv(&hello_sock, left) {
            if m.method() == Some("BYE") {
                break m;
            }
        }
    };
    let after = answered.elapsed().as_secs_f64();
    hello_sock
        .send_to(
            response_to(&bye, 200, "OK", None).as_bytes(),
            chorus.sip_addr(),
        )
        .unwrap();
    assert!(
        after >= 3.0,
        "the hello call ended {after:.2} s after the answer, before its 3.6 s greeting"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let log = chorus.call_log();
        if let Some(l) = log
            .iter()
            .find(|l| l["call_id"] == hello_leg.call_id.as_str())
        {
            break l.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no call log line for the hello call: {log:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(line["route"], "hello", "{line}");
    assert_eq!(line["end_reason"], "server_bye", "{line}");

    // 5. Plan C, no signal.
    write_plan(&plan, PLAN_C);
    assert!(
        wait_lines(
            &chorus,
            &[RELOADED, "file changed"],
            1,
            Duration::from_secs(5)
        ),
        "a changed valid file should be loaded within 5 s without SIGHUP"
    );
    assert_eq!(probe(&chorus, "third"), 200, "plan C routes third");
    assert_eq!(probe(&chorus, "newroute"), 200, "plan C routes newroute");
    drop(chorus);
    std::fs::remove_dir_all(dir).unwrap();
}
