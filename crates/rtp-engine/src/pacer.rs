//! The fixed media clock, sans-IO: which frames are due, computed from elapsed time since the start.
//!
//! Frame `n` is due at `start + n * ptime` (frame 0 at the start). Deadlines are multiplied out from the
//! start, never accumulated, so the clock does not drift however long the call. RTP timestamps are not
//! taken from here: they advance by samples per frame (see [`crate::session::RtpSession`]).

use std::time::{Duration, Instant};

/// More frames late than this (the process stalled) and the pacer skips ahead instead of bursting.
pub const MAX_CATCH_UP_FRAMES: u32 = 5;

/// A frame clock with a fixed period.
#[derive(Clone, Debug)]
pub struct Pacer {
    start: Instant,
    ptime: Duration,
    /// Index of the next frame not yet reported due.
    next_frame: u64,
    /// Frames skipped and not yet taken by [`Pacer::take_skipped`].
    skipped: u32,
}

impl Pacer {
    /// A clock whose frame 0 is due at `start`, one frame every `ptime_ms` (0 is taken as 20).
    pub fn new(start: Instant, ptime_ms: u32) -> Pacer {
        let ptime_ms = if ptime_ms == 0 { 20 } else { ptime_ms };
        Pacer {
            start,
            ptime: Duration::from_millis(u64::from(ptime_ms)),
            next_frame: 0,
            skipped: 0,
        }
    }

    /// The frame period.
    pub fn ptime(&self) -> Duration {
        self.ptime
    }

    /// When the next frame is due; the shell sleeps until then and calls [`Pacer::on_tick`].
    pub fn next_deadline(&self) -> Instant {
        self.deadline_of(self.next_frame)
    }

    fn deadline_of(&self, frame: u64) -> Instant {
        // Saturating: a frame index beyond u32 periods is ~2.7 years at 20 ms, and Duration
        // multiplication takes u32.
        let periods = u32::try_from(frame).unwrap_or(u32::MAX);
        self.start + self.ptime.saturating_mul(periods)
    }

    /// Frames due at `now` since the last call (0 before the deadline). When more than
    /// [`MAX_CATCH_UP_FRAMES`] are due, returns 1 and skips the rest (see [`Pacer::take_skipped`]),
    /// so a stalled process resumes on the clock rather than sending a burst.
    pub fn on_tick(&mut self, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.start);
        // Frames 0..=current are due at `now`.
        let current = (elapsed.as_nanos() / self.ptime.as_nanos()) as u64;
        if current < self.next_frame {
            return 0;
        }
        let due = current - self.next_frame + 1;
        self.next_frame = current + 1;
        if due > u64::from(MAX_CATCH_UP_FRAMES) {
            let skipped = u32::try_from(due - 1).unwrap_or(u32::MAX);
            self.skipped = self.skipped.saturating_add(skipped);
            tracing::debug!(skipped, "media clock stalled: skipping frames");
            1
        } else {
            // Bounded by MAX_CATCH_UP_FRAMES just above.
            due as u32
        }
    }

    /// Frames skipped by stalls since the last call; the shell advances RTP timestamps by them.
    pub fn take_skipped(&mut self) -> u32 {
        std::mem::take(&mut self.skipped)
    }

    /// Frames reported due so far (skipped ones included).
    pub fn frames_elapsed(&self) -> u64 {
        self.next_frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_frame_is_due_at_start() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0, 20);
        assert_eq!(p.next_deadline(), t0);
        assert_eq!(p.on_tick(t0), 1);
        assert_eq!(p.next_deadline(), t0 + Duration::from_millis(20));
        assert_eq!(p.on_tick(t0 + Duration::from_millis(19)), 0);
        assert_eq!(p.on_tick(t0 + Duration::from_millis(20)), 1);
    }

    #[test]
    fn ten_minutes_of_ticks_do_not_drift() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0, 20);
        let mut frames = 0u64;
        // Wake a little late each time, as a real timer does.
        for _ in 0..30_000 {
            let now = p.next_deadline() + Duration::from_micros(700);
            frames += u64::from(p.on_tick(now));
        }
        assert_eq!(frames, 30_000);
        assert_eq!(p.next_deadline(), t0 + Duration::from_secs(600));
        assert_eq!(p.take_skipped(), 0);
    }

    #[test]
    fn small_lateness_catches_up_frame_by_frame() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0, 20);
        assert_eq!(p.on_tick(t0), 1);
        // 60 ms late: frames 1, 2, 3, 4 are due.
        assert_eq!(p.on_tick(t0 + Duration::from_millis(80)), 4);
        assert_eq!(p.take_skipped(), 0);
        assert_eq!(p.next_deadline(), t0 + Duration::from_millis(100));
    }

    #[test]
    fn stall_skips_ahead_instead_of_bursting() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0, 20);
        assert_eq!(p.on_tick(t0), 1);
        // A 1 s stall: frames 1..=50 due; one is sent, 49 skipped.
        assert_eq!(p.on_tick(t0 + Duration::from_millis(1005)), 1);
        assert_eq!(p.take_skipped(), 49);
        assert_eq!(p.take_skipped(), 0);
        assert_eq!(p.next_deadline(), t0 + Duration::from_millis(1020));
        assert_eq!(p.on_tick(t0 + Duration::from_millis(1020)), 1);
        assert_eq!(p.frames_elapsed(), 52);
    }

    #[test]
    fn zero_ptime_falls_back_to_20ms() {
        let p = Pacer::new(Instant::now(), 0);
        assert_eq!(p.ptime(), Duration::from_millis(20));
    }
}
