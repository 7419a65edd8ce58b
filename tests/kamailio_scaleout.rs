//! Scale-out on Kamailio's dispatcher: two Chorus instances in one set, the proxy hashing over the
//! Request-URI user (algorithm 7, hash_pvar "$rU"). Three callers of conference room conf-7, all up at
//! once, land on the same instance and meet in one room there; rooms conf-1..conf-8 spread over both
//! instances, each room on one of them, conf-7 again where it was.

mod common;
#[path = "common/kamailio.rs"]
mod kamailio;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Chorus;
use kamailio::{call_users, users_of, Dest, Kamailio, Upstream};

fn room_created(chorus: &Chorus, room: &str) -> usize {
    chorus.log_count(&format!("room created room={room} "))
}

#[test]
fn callers_of_one_room_meet_on_one_instance_and_rooms_spread() {
    let chorus = [
        Chorus::start("tests/kamailio/dialplan.yaml"),
        Chorus::start("tests/kamailio/dialplan.yaml"),
    ];
    let dests = [
        Dest::active(chorus[0].sip_addr()),
        Dest::active(chorus[1].sip_addr()),
    ];
    let proxy = Kamailio::start(Upstream::Dispatcher {
        dests: &dests,
        ping_interval: 1,
    });
    for c in &chorus {
        let flags = proxy.wait_dispatcher_flags(c.sip_addr(), "AP", Duration::from_secs(10));
        assert_eq!(
            flags.as_deref(),
            Some("AP"),
            "{}",
            proxy.kamcmd(&["dispatcher.list"])
        );
    }

    // Three callers of room 7 at once.
    let run = call_users(
        proxy.sip_addr(),
        &["conf-7", "conf-7", "conf-7"],
        Duration::from_secs(3),
        Duration::from_secs(30),
    );
    run.assert_success("three callers of conf-7 through the dispatcher");
    let counts: Vec<usize> = chorus
        .iter()
        .map(|c| {
            users_of(&c.call_log())
                .iter()
                .filter(|u| *u == "conf-7")
                .count()
        })
        .collect();
    let home = counts
        .iter()
        .position(|n| *n == 3)
        .unwrap_or_else(|| panic!("conf-7's callers split over the instances: {counts:?}"));
    let log = chorus[home].wait_call_log(3, Duration::from_secs(5));
    for line in &log {
        assert_eq!(line["route"], "conf", "{line}");
        assert_eq!(line["vars"]["room"], "7", "{line}");
        assert_eq!(line["end_reason"], "caller_bye", "{line}");
    }
    // They were in the room together: each was answered before any of them left.
    let answered: Vec<&str> = log
        .iter()
        .filter_map(|l| l["answered_at"].as_str())
        .collect();
    let ended: Vec<&str> = log.iter().filter_map(|l| l["ended_at"].as_str()).collect();
    assert_eq!(answered.len(), 3, "{log:#?}");
    assert!(
        answered.iter().max() < ended.iter().min(),
        "the three calls were not up at the same time: {log:#?}"
    );
    assert_eq!(
        room_created(&chorus[home], "7"),
        1,
        "one room 7 on instance {home}:\n{}",
        chorus[home].log_text()
    );
    assert_eq!(room_created(&chorus[1 - home], "7"), 0);

    // Rooms 1..8, one caller each: spread over both instances, room 7 back at its home.
    let rooms: Vec<String> = (1..=8).map(|n| format!("conf-{n}")).collect();
    let users: Vec<&str> = rooms.iter().map(String::as_str).collect();
    let run = call_users(
        proxy.sip_addr(),
        &users,
        Duration::from_secs(1),
        Duration::from_secs(30),
    );
    run.assert_success("calls to rooms 1..8 through the dispatcher");
    let logs: Vec<Vec<serde_json::Value>> = vec![
        chorus[0].wait_call_log(1, Duration::from_secs(5)),
        chorus[1].wait_call_log(1, Duration::from_secs(5)),
    ];
    let total: usize = logs.iter().map(Vec::len).sum();
    assert_eq!(total, 3 + 8, "every call logged once: {logs:#?}");
    let mut placement: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, log) in logs.iter().enumerate() {
        for user in users_of(log) {
            placement.entry(user).or_default().push(i);
        }
    }
    for (room, instances) in &placement {
        assert!(
            instances.iter().all(|i| *i == instances[0]),
            "{room} on both instances: {placement:?}"
        );
    }
    assert_eq!(placement["conf-7"][0], home, "{placement:?}");
    for (i, log) in logs.iter().enumerate() {
        assert!(
            !log.is_empty(),
            "no room on instance {i}: the hash did not spread: {placement:?}"
        );
    }
    eprintln!("placement (room: instances of its calls): {placement:?}");
}
