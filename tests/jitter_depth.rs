//! The jitter buffer's depth (`jitter_ms`, default 60): a caller whose every fifth packet arrives 100 ms
//! behind the others loses those packets as late with the default depth, and none with `jitter_ms: 200`.
//! Read off the call log's `rtp` object (late packets and concealed frames).

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::rtp::{packet, ulaw_encode};
use common::sip::{establish, final_response, sdp_media};
use common::Chorus;

/// Packets sent in the call: 5 s of 20 ms frames.
const FRAMES: u32 = 250;
/// Every this many packets, one is held back by `HELD`.
const EVERY: u32 = 5;
const HELD: Duration = Duration::from_millis(100);

/// One echo call with the lagging sender; returns the call's call-log line.
fn lagging_call(config: Option<&str>) -> serde_json::Value {
    let chorus = Chorus::start_with_config("tests/dialplans/test.yaml", config);
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (leg, ok) = establish(
        &sip,
        chorus.sip_addr(),
        "echo",
        "jitter",
        rtp.local_addr().unwrap().port(),
    );
    let media = sdp_media(&ok.body).expect("media address in the 200");
    let payload: Vec<u8> = (0..160)
        .map(|i| ulaw_encode((3000.0 * (i as f64 * 0.3).sin()) as i16))
        .collect();
    let start = Instant::now();
    // (when to send, frame number), in sending order.
    let mut schedule: Vec<(Duration, u32)> = (0..FRAMES)
        .map(|n| {
            let due = Duration::from_millis(20 * u64::from(n));
            let lag = if n % EVERY == EVERY - 1 {
                HELD
            } else {
                Duration::ZERO
            };
            (due + lag, n)
        })
        .collect();
    schedule.sort();
    for (at, n) in schedule {
        if let Some(wait) = at.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let p = packet(0, n as u16, 160 * n, 0x0bad_cafe, n == 0, &payload);
        rtp.send_to(&p, media).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    sip.send_to(leg.bye().as_bytes(), chorus.sip_addr())
        .unwrap();
    let ok = final_response(&sip, "BYE", Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "BYE: {}", ok.start);
    let log = chorus.wait_call_log(1, Duration::from_secs(5));
    log[0].clone()
}

#[test]
fn a_deeper_jitter_buffer_keeps_packets_the_default_drops() {
    let (shallow, deep) = std::thread::scope(|s| {
        let shallow = s.spawn(|| lagging_call(None));
        let deep = s.spawn(|| lagging_call(Some("jitter_ms: 200\n")));
        (shallow.join().unwrap(), deep.join().unwrap())
    });
    let held = u64::from(FRAMES / EVERY);
    eprintln!("60 ms: {}\n200 ms: {}", shallow["rtp"], deep["rtp"]);
    for line in [&shallow, &deep] {
        assert_eq!(
            line["rtp"]["packets_received"].as_u64(),
            Some(u64::from(FRAMES)),
            "{line}"
        );
    }
    let late = shallow["rtp"]["late"].as_u64().unwrap_or(0);
    assert!(
        late >= held * 8 / 10,
        "60 ms deep: the {held} packets held back 100 ms should be late, {late} were: {shallow}"
    );
    assert_eq!(
        deep["rtp"]["late"].as_u64(),
        Some(0),
        "200 ms deep: none late: {deep}"
    );
    let concealed = deep["rtp"]["concealed"].as_u64().unwrap_or(u64::MAX);
    assert!(concealed <= 2, "200 ms deep: nothing to conceal: {deep}");
}
