//! The room task on paused tokio time: waiting for a moderator (hold audio, nobody mixed) and ending
//! the room when the last moderator leaves.

mod conference_common;

use std::time::Duration;

use chorus_rtp::conference::room::{Member, RoomConfig, RoomHandle};
use conference_common::{level_db, Tone};

/// Every member sends its tone and records what it hears, every 20 ms for `ticks` ticks.
async fn talk(members: &mut [(Member, Tone)], ticks: usize) -> Vec<Vec<i16>> {
    let mut heard = vec![Vec::new(); members.len()];
    let mut clock = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..ticks {
        clock.tick().await;
        for (k, (m, t)) in members.iter_mut().enumerate() {
            let _ = m.send(&t.frame());
            let mut out = vec![0i16; m.rate() as usize / 50];
            m.next_frame(&mut out);
            heard[k].extend_from_slice(&out);
        }
    }
    heard
}

const HOLD_HZ: f64 = 425.0;

/// The loudest level of `freq` in any 400 ms window (half overlapping) of `x`.
fn loudest(x: &[i16], rate: u32, freq: f64) -> f64 {
    let w = rate as usize * 2 / 5;
    x.windows(w)
        .step_by(w / 2)
        .map(|win| level_db(win, rate, freq))
        .fold(f64::MIN, f64::max)
}

#[tokio::test(start_paused = true)]
async fn members_hear_hold_audio_and_not_each_other_until_the_moderator_joins() {
    let room = RoomHandle::spawn(
        "wait",
        RoomConfig {
            tones: false,
            wait_for_moderator: true,
            ..RoomConfig::default()
        },
        None,
    );
    let freqs = [700.0, 1300.0];
    let rates = [8000u32, 16000];
    let mut members = Vec::new();
    for (f, r) in freqs.iter().zip(rates) {
        members.push((room.join(r, false).await.unwrap(), Tone::new(r, *f, 6000.0)));
    }
    // 4 s: more than a period of hold audio.
    let heard = talk(&mut members, 200).await;
    for (i, h) in heard.iter().enumerate() {
        assert!(members[i].0.is_waiting());
        let other = loudest(h, rates[i], freqs[1 - i]);
        let hold = loudest(h, rates[i], HOLD_HZ);
        assert!(hold > -30.0, "member {i} hears hold at {hold:.1} dB");
        assert!(
            other < hold - 30.0,
            "member {i} hears the other at {other:.1} dB while waiting"
        );
    }
    // The moderator joins: everyone is mixed, the hold audio stops.
    let moderator = room.join_as(8000, false, true).await.unwrap();
    assert!(!moderator.is_waiting());
    members.push((moderator, Tone::new(8000, 1900.0, 6000.0)));
    let heard = talk(&mut members, 100).await;
    for (i, h) in heard.iter().take(2).enumerate() {
        assert!(!members[i].0.is_waiting());
        let steady = &h[h.len() / 2..];
        let other = level_db(steady, rates[i], freqs[1 - i]);
        let moderator = level_db(steady, rates[i], 1900.0);
        let hold = level_db(steady, rates[i], HOLD_HZ);
        assert!(other > -20.0, "member {i} hears the other at {other:.1} dB");
        assert!(
            moderator > -20.0,
            "member {i} hears the moderator at {moderator:.1} dB"
        );
        assert!(
            hold < other - 30.0,
            "member {i} still hears hold at {hold:.1} dB"
        );
    }
    // Without end_with_moderator, the moderator leaving puts the others on hold again.
    let (moderator, _) = members.pop().unwrap();
    moderator.leave();
    talk(&mut members, 5).await;
    assert!(members.iter().all(|(m, _)| m.is_waiting() && !m.is_ended()));
}

#[tokio::test(start_paused = true)]
async fn the_room_ends_for_everyone_when_the_last_moderator_leaves() {
    let room = RoomHandle::spawn(
        "end",
        RoomConfig {
            end_with_moderator: true,
            ..RoomConfig::default()
        },
        None,
    );
    let a = room.join(8000, false).await.unwrap();
    let b = room.join(16000, false).await.unwrap();
    let m1 = room.join_as(8000, false, true).await.unwrap();
    let m2 = room.join_as(8000, false, true).await.unwrap();
    let mut members = vec![
        (a, Tone::new(8000, 700.0, 6000.0)),
        (b, Tone::new(16000, 1300.0, 6000.0)),
        (m1, Tone::new(8000, 1900.0, 6000.0)),
        (m2, Tone::new(8000, 900.0, 6000.0)),
    ];
    talk(&mut members, 20).await;
    // One moderator of two leaves: the room goes on.
    let (m2, _) = members.pop().unwrap();
    m2.leave();
    talk(&mut members, 20).await;
    assert!(members
        .iter()
        .all(|(m, _)| !m.is_ended() && m.is_connected()));
    // The last one leaves: the others are removed and the room ends.
    let (m1, _) = members.pop().unwrap();
    m1.leave();
    talk(&mut members, 5).await;
    for (m, _) in &members {
        assert!(m.is_ended());
        assert!(!m.is_connected());
        assert!(m.send(&[0; 160]).is_err());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(room.is_closed());
}

#[tokio::test(start_paused = true)]
async fn a_room_without_moderators_never_ends_by_moderation() {
    let room = RoomHandle::spawn(
        "plain",
        RoomConfig {
            end_with_moderator: true,
            ..RoomConfig::default()
        },
        None,
    );
    let a = room.join(8000, false).await.unwrap();
    let b = room.join(8000, false).await.unwrap();
    let mut members = vec![
        (a, Tone::new(8000, 700.0, 6000.0)),
        (b, Tone::new(8000, 1300.0, 6000.0)),
    ];
    let (c, _) = (room.join(8000, false).await.unwrap(), ());
    c.leave();
    talk(&mut members, 20).await;
    assert!(members
        .iter()
        .all(|(m, _)| !m.is_ended() && !m.is_waiting()));
}
