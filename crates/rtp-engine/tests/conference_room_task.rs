//! The room task on paused tokio time: members over channels, max members, join tones, recording tap,
//! and the room ending when its last member leaves.

mod conference_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chorus_rtp::conference::room::{JoinError, Member, MixTap, RoomConfig, RoomHandle};
use conference_common::{level_db, Tone};

#[derive(Clone, Default)]
struct Tape {
    pcm: Arc<Mutex<Vec<i16>>>,
    closed: Arc<Mutex<bool>>,
}

impl MixTap for Tape {
    fn write(&mut self, mix: &[i16]) {
        self.pcm.lock().unwrap().extend_from_slice(mix);
    }
    fn close(self: Box<Self>) {
        *self.closed.lock().unwrap() = true;
    }
}

/// Every member sends its tone and records what it hears, every 20 ms for `ticks` ticks.
async fn talk(members: &mut [(Member, Tone)], ticks: usize) -> Vec<Vec<i16>> {
    let mut heard = vec![Vec::new(); members.len()];
    let mut clock = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..ticks {
        clock.tick().await;
        for (k, (m, t)) in members.iter_mut().enumerate() {
            m.send(&t.frame()).unwrap();
            let mut out = vec![0i16; m.rate() as usize / 50];
            m.next_frame(&mut out);
            heard[k].extend_from_slice(&out);
        }
    }
    heard
}

#[tokio::test(start_paused = true)]
async fn three_members_hear_each_other_and_the_room_ends_empty() {
    let tape = Tape::default();
    let room = RoomHandle::spawn(
        "7",
        RoomConfig {
            tones: false,
            ..RoomConfig::default()
        },
        Some(Box::new(tape.clone())),
    );
    let freqs = [540.0, 1420.0, 1790.0];
    let rates = [8000u32, 16000, 8000];
    let mut members = Vec::new();
    for (f, r) in freqs.iter().zip(rates) {
        members.push((room.join(r, false).await.unwrap(), Tone::new(r, *f, 6000.0)));
    }
    let heard = talk(&mut members, 100).await;
    for (i, h) in heard.iter().enumerate() {
        let rate = rates[i];
        let steady = &h[h.len() / 2..];
        let own = level_db(steady, rate, freqs[i]);
        for (k, f) in freqs.iter().enumerate() {
            if k != i {
                let other = level_db(steady, rate, *f);
                assert!(other > -20.0, "member {i} hears {f} Hz at {other:.1} dB");
                assert!(own < other - 30.0, "member {i} own {own:.1} dB");
            }
        }
    }
    // The tap got the whole room at 16 kHz.
    {
        let pcm = tape.pcm.lock().unwrap();
        assert!(pcm.len() >= 90 * 320, "{} samples", pcm.len());
        for f in freqs {
            assert!(level_db(&pcm[pcm.len() / 2..], 16000, f) > -20.0);
        }
    }
    // Leaving is dropping the handle; the room ends once empty and closes the tap.
    drop(members);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(*tape.closed.lock().unwrap());
    assert!(room.is_closed());
    assert_eq!(room.join(8000, false).await.err(), Some(JoinError::Closed));
}

#[tokio::test(start_paused = true)]
async fn max_members_and_bad_rate() {
    let room = RoomHandle::spawn(
        "small",
        RoomConfig {
            max_members: Some(2),
            ..RoomConfig::default()
        },
        None,
    );
    let a = room.join(8000, false).await.unwrap();
    let _b = room.join(16000, false).await.unwrap();
    assert_eq!(room.join(8000, false).await.err(), Some(JoinError::Full));
    assert_eq!(
        room.join(11025, false).await.err(),
        Some(JoinError::UnsupportedRate(11025))
    );
    // A place frees up when a member leaves.
    a.leave();
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(room.join(8000, false).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn join_tone_is_heard_and_mute_takes_effect() {
    let room = RoomHandle::spawn("tones", RoomConfig::default(), None);
    let a = room.join(16000, false).await.unwrap();
    let mut members = vec![(a, Tone::new(16000, 0.0, 0.0))];
    talk(&mut members, 20).await;
    let b = room.join(8000, false).await.unwrap();
    members.push((b, Tone::new(8000, 1000.0, 6000.0)));
    let heard = talk(&mut members, 10).await;
    // a hears the 440 Hz join beep (150 ms), then b.
    assert!(level_db(&heard[0][..2400], 16000, 440.0) > -30.0);
    assert!(level_db(&heard[0][1600..], 16000, 1000.0) > -20.0);
    // Muting b: a stops hearing it within a couple of ticks.
    members[1].0.set_muted(true);
    assert!(members[1].0.is_muted());
    let heard = talk(&mut members, 20).await;
    assert!(level_db(&heard[0][3200..], 16000, 1000.0) < -60.0);
    // Leave tone when b goes.
    let (b, _) = members.pop().unwrap();
    drop(b);
    let heard = talk(&mut members, 15).await;
    assert!(level_db(&heard[0], 16000, 330.0) > -30.0);
}
