//! With random packet loss, every press of which at least one packet arrives is reported exactly
//! once, in order; a press that lost every packet is simply absent.

use std::time::{Duration, Instant};

use chorus_rtp::dtmf::rfc4733::{EventBlock, Receiver};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[test]
fn each_surviving_press_once() {
    for seed in 0..200u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let t0 = Instant::now();
        let mut rx = Receiver::new(8000);
        let mut expected = String::new();
        let mut got = String::new();
        let mut t = 0u64;
        let mut ts = rng.gen::<u32>();
        for i in 0..20u8 {
            // Same digit repeated often, so losing whole presses must not merge neighbours.
            let code = if rng.gen_bool(0.5) { 5 } else { i % 16 };
            let dur = rng.gen_range(40..200u64);
            let mut packets = Vec::new();
            let mut k = 0;
            while k * 50 < dur {
                packets.push((t + k * 50, false, (k * 400) as u16));
                k += 1;
            }
            for e in 0..3 {
                packets.push((t + dur + 20 * e, true, (dur * 8) as u16));
            }
            let mut any = false;
            for (at, end, d) in packets {
                if rng.gen_bool(0.35) {
                    continue;
                }
                any = true;
                let payload = EventBlock {
                    code,
                    end,
                    volume: 10,
                    duration: d,
                }
                .to_bytes();
                rx.handle_packet(t0 + Duration::from_millis(at), ts, false, &payload);
                got.extend(std::iter::from_fn(|| rx.poll_event()).map(|e| e.digit));
            }
            if any {
                expected.push(chorus_rtp::dtmf::code_to_digit(code).unwrap());
            }
            let span = dur + 40 + rng.gen_range(50..300u64);
            t += span;
            ts = ts.wrapping_add(span as u32 * 8);
        }
        rx.handle_timeout(t0 + Duration::from_millis(t + 10_000));
        got.extend(std::iter::from_fn(|| rx.poll_event()).map(|e| e.digit));
        assert_eq!(got, expected, "seed {seed}");
    }
}
