//! Virtual-time harness shared by the jitter buffer tests: 20 ms ticks; at each tick the packets that
//! have arrived are pushed, then one pop.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use chorus_rtp::jitter::{JitterBuffer, JitterConfig, Playout, PushResult};

pub const F: u32 = 160;

#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    pub at_ms: u64,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub marker: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    Frame { seq: u16, ts: u32, tick: u64 },
    Lost(u32),
    Empty,
    Idle,
}

/// Packet `i` of a stream sent every 20 ms from `seq0`/`ts0`, arriving `delay_ms[i]` after it was sent.
pub fn stream(seq0: u16, ts0: u32, ssrc: u32, delays_ms: &[u64]) -> Vec<Arrival> {
    delays_ms
        .iter()
        .enumerate()
        .map(|(i, &d)| Arrival {
            at_ms: 20 * i as u64 + d,
            seq: seq0.wrapping_add(i as u16),
            ts: ts0.wrapping_add(F * i as u32),
            ssrc,
            marker: i == 0,
        })
        .collect()
}

pub fn payload_of(seq: u16) -> [u8; 4] {
    let [a, b] = seq.to_be_bytes();
    [a, b, !a, !b]
}

/// Runs `ticks` ticks; returns every pop's outcome and every push's result.
pub fn simulate(
    jb: &mut JitterBuffer,
    arrivals: &[Arrival],
    ticks: u64,
) -> (Vec<Out>, Vec<PushResult>) {
    let t0 = Instant::now();
    let mut arrivals = arrivals.to_vec();
    arrivals.sort_by_key(|a| a.at_ms); // stable: equal arrival times keep send order
    let mut next = 0;
    let (mut outs, mut pushes) = (Vec::new(), Vec::new());
    for tick in 0..ticks {
        let now = t0 + Duration::from_millis(20 * tick);
        while next < arrivals.len() && arrivals[next].at_ms <= 20 * tick {
            let a = arrivals[next];
            pushes.push(jb.push(now, a.seq, a.ts, a.ssrc, a.marker, &payload_of(a.seq)));
            next += 1;
        }
        let out = match jb.pop(now) {
            None => Out::Idle,
            Some(Playout::Empty) => Out::Empty,
            Some(Playout::Lost { timestamp }) => Out::Lost(timestamp),
            Some(Playout::Frame {
                payload,
                timestamp,
                seq,
            }) => {
                assert_eq!(payload, payload_of(seq), "payload travels with its packet");
                Out::Frame {
                    seq,
                    ts: timestamp,
                    tick,
                }
            }
        };
        assert!(jb.len() <= jb.capacity());
        outs.push(out);
    }
    (outs, pushes)
}

pub fn frames(outs: &[Out]) -> Vec<(u16, u32, u64)> {
    outs.iter()
        .filter_map(|o| match *o {
            Out::Frame { seq, ts, tick } => Some((seq, ts, tick)),
            _ => None,
        })
        .collect()
}

pub fn default_jb() -> JitterBuffer {
    JitterBuffer::new(JitterConfig::default())
}
