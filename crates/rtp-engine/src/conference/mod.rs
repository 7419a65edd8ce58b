//! Conference bridge: rooms on a fixed 20 ms clock where each member hears everyone but themselves.
//!
//! Two layers, as everywhere in this crate:
//! - [`mixer::Mixer`] is the sans-IO core: members at 8 kHz or 16 kHz, one call to
//!   [`mixer::Mixer::tick`] per 20 ms frame. It sums every talking member in 32 bits at the room rate
//!   (16 kHz), gives each member the mix-minus `total - own`, saturated once to 16 bits, and resamples
//!   in and out for 8 kHz members. It never reads a clock and does not allocate once members are added.
//! - [`room`] is the tokio shell: one task per room, woken every 20 ms, reading every member's frame from
//!   its channel, mixing, then writing every member's frame to its channel. No lock is taken on the audio
//!   path; members talk to the task only through bounded channels, and a member whose frames stop simply
//!   contributes silence.
//!
//! ```no_run
//! # async fn run() {
//! use chorus_rtp::conference::room::{RoomConfig, RoomHandle};
//! let room = RoomHandle::spawn("7", RoomConfig::default(), None);
//! let mut member = room.join(8000, false).await.expect("room has space");
//! let mut heard = [0i16; 160];
//! loop {
//!     // every 20 ms, on the call's own media clock:
//!     let _ = member.send(&[0i16; 160]);      // what the caller said
//!     member.next_frame(&mut heard);          // what the caller hears (silence if nothing yet)
//! #   break;
//! }
//! # }
//! ```
//!
//! ## Why a hand-written half-band filter, not rubato or dasp
//! The only rate pair is 2:1 (8 kHz G.711 against the 16 kHz room). A half-band FIR does that exactly,
//! in fixed 20 ms frames, with half of its taps zero, and with a delay of under 1.5 ms; it keeps a few
//! dozen samples of history per member and per direction, so it works frame by frame with no buffering.
//! rubato's FFT and sinc resamplers work on chunks and add a chunk of delay (or need
//! variable input sizes to avoid it), and keep per-instance buffers sized for general ratios; dasp's
//! interpolators (linear, sinc) either alias audibly (linear) or cost more per sample than a
//! half-band for the same stop band. With 500 members, the per-member constant matters.

pub mod mixer;
pub mod resample;
pub mod room;

pub use mixer::{MemberId, Mixer, MixerConfig, MixerError, RoomEvent};
pub use room::{JoinError, Member, MixTap, RoomConfig, RoomHandle};

/// The room's sample rate.
pub const ROOM_RATE: u32 = 16_000;
/// Samples in one 20 ms frame at the room rate.
pub const ROOM_FRAME: usize = 320;
/// Duration of one room frame.
pub const FRAME_DURATION: std::time::Duration = std::time::Duration::from_millis(20);

/// A sine beep at `rate` Hz: `freq` Hz for `ms` milliseconds at peak `amplitude`, with 5 ms raised-cosine
/// edges so that it starts and stops without a click. Used for join and leave tones and DTMF control
/// feedback.
pub fn tone(rate: u32, freq: f32, ms: u32, amplitude: i16) -> Vec<i16> {
    let rate = rate.max(1);
    let n = (u64::from(rate) * u64::from(ms) / 1000) as usize;
    let ramp = ((rate / 200) as usize).min(n / 2).max(1);
    let w = 2.0 * std::f32::consts::PI * freq / rate as f32;
    (0..n)
        .map(|i| {
            let edge = i.min(n - 1 - i);
            let env = if edge < ramp {
                0.5 - 0.5 * (std::f32::consts::PI * edge as f32 / ramp as f32).cos()
            } else {
                1.0
            };
            (f32::from(amplitude) * env * (w * i as f32).sin()) as i16
        })
        .collect()
}
