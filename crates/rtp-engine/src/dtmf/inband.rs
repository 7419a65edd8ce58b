//! In-band DTMF detector: finds key presses in decoded audio for peers that offer no telephone-event,
//! with the limits of ITU-T Q.24 (frequency, twist, level, duration) and talk-off protection.
//!
//! [`Detector`] is a sans-IO tap on a call's decoded frame path: give it every decoded frame with
//! [`Detector::process`], then drain [`Detector::poll_event`]. It is off (not attached) when RFC 4733
//! telephone-event was negotiated, since a sender then removes the tones from the audio.
//!
//! ```
//! # use chorus_rtp::dtmf::inband::Detector;
//! # use std::time::{Duration, Instant};
//! let mut det = Detector::new(8000).unwrap();
//! let t0 = Instant::now();
//! // 100 ms of '5' (770 + 1336 Hz, -10 dBm0 each), then 100 ms of silence, in 20 ms frames.
//! let tone = |n: usize| {
//!     let t = n as f64 / 8000.0;
//!     let a = 7200.0;
//!     (a * (2.0 * std::f64::consts::PI * 770.0 * t).sin()
//!         + a * (2.0 * std::f64::consts::PI * 1336.0 * t).sin()) as i16
//! };
//! let audio: Vec<i16> = (0..1600).map(|n| if n < 800 { tone(n) } else { 0 }).collect();
//! let mut digits = Vec::new();
//! for (i, frame) in audio.chunks(160).enumerate() {
//!     det.process(t0 + Duration::from_millis(20 * i as u64), frame);
//!     while let Some(ev) = det.poll_event() {
//!         digits.push(ev.digit);
//!     }
//! }
//! assert_eq!(digits, ['5']);
//! ```
//!
//! # How a press is found
//! Audio is cut into blocks of 10 ms (80 samples at 8 kHz, 160 at 16 kHz). In each block Goertzel
//! filters measure the 8 DTMF frequencies; the block holds a digit when the strongest row and column
//! tones pass all of these checks:
//! - level: each tone at least [`MIN_LEVEL_DBM0`] (0 dBm0 being a sine 3.17 dB below full scale, as in
//!   G.711 µ-law);
//! - twist: the row (low group) at most [`MAX_ROW_OVER_COLUMN_DB`] stronger than the column, the
//!   column at most [`MAX_COLUMN_OVER_ROW_DB`] stronger than the row;
//! - relative peak: the row [`MIN_ROW_PEAK_DB`] above the other rows, the column
//!   [`MIN_COLUMN_PEAK_DB`] above the other columns;
//! - share: the two tones carry at least [`MIN_TONE_SHARE`] of the block's energy. Speech and music
//!   spread their energy over many harmonics; this is the main talk-off defence.
//!
//! A block only partly covered by a tone passes when the tone covers about 70 % of it or more (the
//! share check), so three consecutive blocks with the same digit mean a tone of at least 24 ms: every
//! tone of 40 ms holds three whole blocks whatever its alignment, no tone of 20 ms can (Q.24: accept
//! 40 ms, reject under about 23 ms). Those three blocks are then checked for frequency over their joint
//! 30 ms: each tone must lie within [`FREQUENCY_TOLERANCE`] of its nominal frequency (Q.24: accept
//! within 1.5 %, reject beyond 3.5 %; 2.5 % is the midpoint). A block's own filters are too wide for
//! that (100 Hz bins), so three Hann-windowed probes per tone at f0 - 5 %, f0 and f0 + 5 % decide it:
//! the probe at f0 is the strongest on both sides exactly when the tone is within 2.5 % of f0.
//!
//! A press ends at the second consecutive block without its digit, so one bad block (a noise burst, a
//! short dropout) does not split a press, while a pause of 40 ms (three whole blocks) always does.
//!
//! # What is reported
//! Each press once, when it ends (like RFC 4733 end packets), with the digit, its start and its
//! measured duration. The start is the `now` of the frame holding the first sample of the press's
//! first digit block, plus that sample's offset in the frame; the duration runs from that block to the
//! end of the press's last digit block, so both are exact to a block (10 ms): an edge block counts
//! when the tone covers about 70 % of it, so each edge is off by -3 ms .. +10 ms.
//!
//! The hot path does not allocate: all buffers are sized in [`Detector::new`].

use std::collections::VecDeque;
use std::f32::consts::PI;
use std::time::{Duration, Instant};

use super::{DtmfEvent, DtmfSource};

/// Lowest level of each of the two tones, in dBm0. Q.24 receivers must work down to about -25 dBm0
/// per tone; 5 dB below leaves room for line loss while quiet noise and far echoes stay out.
pub const MIN_LEVEL_DBM0: f32 = -30.0;
/// Largest row (low group) excess over the column, in dB: Q.24's 8 dB plus 1 dB for measurement
/// error. Spandsp and Asterisk call this direction "normal" twist; some Q.24 tables call it reverse.
pub const MAX_ROW_OVER_COLUMN_DB: f32 = 9.0;
/// Largest column (high group) excess over the row, in dB: Q.24's 4 dB plus 1 dB for measurement
/// error ("reverse" twist in spandsp and Asterisk).
pub const MAX_COLUMN_OVER_ROW_DB: f32 = 5.0;
/// How far the row must stand above every other row, in dB. Adjacent rows are only 0.73 of a 10 ms
/// block's bin apart, so a row 1.5 % off towards its neighbour stands 6 dB above it.
pub const MIN_ROW_PEAK_DB: f32 = 4.0;
/// How far the column must stand above every other column, in dB (columns are 1.3 bins apart or more:
/// 13 dB at least in the worst case), in the unwindowed or in the Hann-windowed filters.
pub const MIN_COLUMN_PEAK_DB: f32 = 8.0;
/// Smallest share of a block's energy that the two tones must carry. A pure pair measures about 1.0,
/// a pair 1.5 % off frequency about 0.8, speech rarely above 0.5.
pub const MIN_TONE_SHARE: f32 = 0.7;
/// Largest relative frequency error accepted: midway between Q.24's must-accept 1.5 % and must-reject
/// 3.5 %.
pub const FREQUENCY_TOLERANCE: f32 = 0.025;
/// Sample rates the detector takes, in Hz.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 8000..=48000;

/// Row (low group) frequencies, Hz.
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high group) frequencies, Hz.
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad: `KEYS[row][column]`.
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// The row (low group) and column (high group) frequencies of a key, in Hz (Q.23); `None` for
/// anything but `0`-`9`, `*`, `#`, `A`-`D` (lowercase letters are taken as uppercase).
pub fn tone_pair(digit: char) -> Option<(f32, f32)> {
    let digit = digit.to_ascii_uppercase();
    KEYS.iter().enumerate().find_map(|(r, row)| {
        let c = row.iter().position(|k| *k == digit)?;
        Some((ROWS[r], COLS[c]))
    })
}

/// Peak amplitude, out of full scale 1.0, of a sine at `dbm0` (0 dBm0 is 3.17 dB below full scale).
pub fn dbm0_amplitude(dbm0: f32) -> f32 {
    DBM0_PEAK * 10f32.powf(dbm0 / 20.0)
}

/// Block length at 8 kHz (10 ms), scaled for other rates. Three whole blocks fit in every 40 ms tone
/// and two partly covered edge blocks of a 20 ms tone cannot both pass; longer blocks (the classic 102
/// samples) let a 20 ms tone straddling a block boundary pass in two blocks of 84 % and 73 %.
const BLOCK_AT_8K: u64 = 80;
/// Consecutive digit blocks that start a press (before the frequency check); also the number of
/// blocks kept for that check.
const CONFIRM_BLOCKS: u32 = 3;
/// Consecutive blocks without the digit that end a press.
const END_BLOCKS: u64 = 2;
/// Events kept for a caller that does not poll; the oldest is dropped beyond this.
const MAX_READY: usize = 16;
/// Peak amplitude of a 0 dBm0 sine relative to full scale: a full-scale sine is +3.17 dBm0 (G.711).
const DBM0_PEAK: f32 = 0.694_2;

/// Why a detector cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InbandError {
    /// The sample rate is outside [`SAMPLE_RATES`].
    #[error("unsupported sample rate {0} Hz for in-band dtmf (8000-48000)")]
    UnsupportedRate(u32),
}

/// A run of consecutive blocks holding the same digit.
#[derive(Clone, Copy, Debug)]
struct Run {
    row: usize,
    col: usize,
    len: u32,
    /// Index and start time of the run's first block.
    first: u64,
    start: Instant,
}

/// A confirmed press, reported when it ends.
#[derive(Clone, Copy, Debug)]
struct Press {
    digit: char,
    start: Instant,
    first: u64,
    /// Index of the last block that held the digit.
    last: u64,
}

/// In-band DTMF detector for one call's decoded audio (see the [module docs](self)).
#[derive(Debug)]
pub struct Detector {
    rate: u32,
    /// Block length in samples.
    n: usize,
    /// Goertzel coefficients `2 cos(2 pi f / fs)`: 8 frequencies unwindowed, then the same 8 again
    /// for the Hann-windowed filters.
    coef: [f32; 16],
    /// Hann window over one block.
    window: Vec<f32>,
    /// Hann window over [`CONFIRM_BLOCKS`] blocks, for the frequency check.
    window_long: Vec<f32>,
    /// Probe coefficients per frequency at f0 (1 - 2 tol), f0, f0 (1 + 2 tol).
    probes: [[f32; 3]; 8],
    /// Minimum energy of one tone over one block (sum of squares, full scale 1.0).
    min_energy: f32,
    max_row_over_col: f32,
    max_col_over_row: f32,
    row_peak: f32,
    col_peak: f32,
    /// The [`CONFIRM_BLOCKS`] most recent blocks, scaled to +-1.0: block `k` lives in slot
    /// `k % CONFIRM_BLOCKS`.
    ring: Vec<f32>,
    /// Samples in the block being filled.
    fill: usize,
    /// Index of the block being filled.
    block: u64,
    /// Start time of the block being filled.
    block_start: Option<Instant>,
    run: Option<Run>,
    press: Option<Press>,
    ready: VecDeque<DtmfEvent>,
}

impl Detector {
    /// A detector for audio at `sample_rate` Hz (8000 and 16000 are the usual ones; any rate in
    /// [`SAMPLE_RATES`] works).
    pub fn new(sample_rate: u32) -> Result<Detector, InbandError> {
        if !SAMPLE_RATES.contains(&sample_rate) {
            return Err(InbandError::UnsupportedRate(sample_rate));
        }
        let fs = sample_rate as f32;
        let n = ((u64::from(sample_rate) * BLOCK_AT_8K + 4000) / 8000) as usize;
        let goertzel = |f: f32| 2.0 * (2.0 * PI * f / fs).cos();
        let mut coef = [0.0; 16];
        for (i, f) in ROWS.iter().chain(COLS.iter()).enumerate() {
            coef[i] = goertzel(*f);
            coef[i + 8] = goertzel(*f);
        }
        let mut probes = [[0.0; 3]; 8];
        for (i, f) in ROWS.iter().chain(COLS.iter()).enumerate() {
            let d = 2.0 * FREQUENCY_TOLERANCE;
            probes[i] = [
                goertzel(f * (1.0 - d)),
                goertzel(*f),
                goertzel(f * (1.0 + d)),
            ];
        }
        let hann = |len: usize| -> Vec<f32> {
            (0..len)
                .map(|i| 0.5 - 0.5 * (2.0 * PI * (i as f32 + 0.5) / len as f32).cos())
                .collect()
        };
        let min_amp = DBM0_PEAK * db_to_amp(MIN_LEVEL_DBM0);
        Ok(Detector {
            rate: sample_rate,
            n,
            coef,
            window: hann(n),
            window_long: hann(CONFIRM_BLOCKS as usize * n),
            probes,
            min_energy: min_amp * min_amp * n as f32 / 2.0,
            max_row_over_col: db_to_power(MAX_ROW_OVER_COLUMN_DB),
            max_col_over_row: db_to_power(MAX_COLUMN_OVER_ROW_DB),
            row_peak: db_to_power(MIN_ROW_PEAK_DB),
            col_peak: db_to_power(MIN_COLUMN_PEAK_DB),
            ring: vec![0.0; CONFIRM_BLOCKS as usize * n],
            fill: 0,
            block: 0,
            block_start: None,
            run: None,
            press: None,
            ready: VecDeque::with_capacity(MAX_READY),
        })
    }

    /// The sample rate this detector was built for, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Length of one analysis block in samples (10 ms).
    pub fn block_len(&self) -> usize {
        self.n
    }

    /// Feeds one decoded frame, of any length, that arrived at `now`. Frames must be contiguous
    /// audio: feed a concealed frame for a lost packet rather than nothing.
    pub fn process(&mut self, now: Instant, pcm: &[i16]) {
        let mut i = 0;
        while i < pcm.len() {
            if self.fill == 0 {
                self.block_start = Some(now + self.samples_to_duration(i as u64));
            }
            let take = (self.n - self.fill).min(pcm.len() - i);
            let base = self.slot(self.block) + self.fill;
            for (dst, &s) in self.ring[base..base + take]
                .iter_mut()
                .zip(&pcm[i..i + take])
            {
                *dst = f32::from(s) * (1.0 / 32768.0);
            }
            self.fill += take;
            i += take;
            if self.fill == self.n {
                let start = self.block_start.unwrap_or(now);
                self.end_block(start);
                self.fill = 0;
                self.block += 1;
            }
        }
    }

    /// The next key press, in order, once it has ended. Call after every [`Detector::process`] (and
    /// [`Detector::flush`]) until `None`; at most 16 are kept for a caller that does not.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.ready.pop_front()
    }

    /// Ends a press still in progress, as if the audio stopped here, so that [`Detector::poll_event`]
    /// reports it. Call when the audio ends (hangup, detaching the tap).
    pub fn flush(&mut self) {
        if let Some(p) = self.press.take() {
            self.report(p);
        }
        self.run = None;
    }

    /// Forgets all audio and any press in progress, keeping unpolled events (e.g. after hold).
    pub fn reset(&mut self) {
        self.fill = 0;
        self.block_start = None;
        self.run = None;
        self.press = None;
    }

    /// Offset in `ring` of block `block`.
    fn slot(&self, block: u64) -> usize {
        (block % u64::from(CONFIRM_BLOCKS)) as usize * self.n
    }

    fn samples_to_duration(&self, samples: u64) -> Duration {
        Duration::from_nanos(samples * 1_000_000_000 / u64::from(self.rate))
    }

    /// Runs the state machine on the block just completed.
    fn end_block(&mut self, start: Instant) {
        let block = self.block;
        let hit = self.classify();

        // A run of one digit, broken by anything else.
        self.run = match (hit, self.run) {
            (Some((r, c)), Some(mut run)) if run.row == r && run.col == c => {
                run.len += 1;
                Some(run)
            }
            (Some((row, col)), _) => Some(Run {
                row,
                col,
                len: 1,
                first: block,
                start,
            }),
            (None, _) => None,
        };
        let digit = hit.map(|(r, c)| KEYS[r][c]);

        if let Some(mut p) = self.press {
            if digit == Some(p.digit) {
                p.last = block;
                self.press = Some(p);
            } else if block - p.last >= END_BLOCKS {
                self.press = None;
                self.report(p);
            }
        }
        if self.press.is_none() {
            if let Some(run) = self.run {
                if run.len >= CONFIRM_BLOCKS && self.in_tolerance(run.row, run.col) {
                    // The run may be longer than the check when the frequency check failed on its
                    // leading edge; the press still starts with the run.
                    self.press = Some(Press {
                        digit: KEYS[run.row][run.col],
                        start: run.start,
                        first: run.first,
                        last: block,
                    });
                }
            }
        }
    }

    fn report(&mut self, p: Press) {
        if self.ready.len() == MAX_READY {
            self.ready.pop_front();
        }
        let blocks = p.last - p.first + 1;
        self.ready.push_back(DtmfEvent {
            digit: p.digit,
            start: p.start,
            duration: self.samples_to_duration(blocks * self.n as u64),
            source: DtmfSource::InBand,
        });
    }

    /// The (row, column) of the digit the current block holds, if it passes the per-block checks.
    fn classify(&self) -> Option<(usize, usize)> {
        let block = &self.ring[self.slot(self.block)..][..self.n];
        let total: f32 = block.iter().map(|x| x * x).sum();
        // A Hann-windowed tone estimate is at most 3x the block energy: no tone can pass below this.
        if 3.0 * total < self.min_energy {
            return None;
        }

        // 16 Goertzel filters side by side (the compiler vectorises the inner loop): unwindowed for
        // the relative-peak checks (adjacent rows are only 0.73 bin apart, too close for a window)
        // and for the share (which then equals the covered part of a partly covered block),
        // Hann-windowed for level and twist (the unwindowed filters leak -20 dB between 941 and
        // 1209 Hz, which at 8 dB twist would swing the weaker tone by 2 dB).
        let mut s1 = [0.0f32; 16];
        let mut s2 = [0.0f32; 16];
        for (&x, &w) in block.iter().zip(&self.window) {
            let xw = x * w;
            for k in 0..16 {
                let input = if k < 8 { x } else { xw };
                let s0 = input + self.coef[k] * s1[k] - s2[k];
                s2[k] = s1[k];
                s1[k] = s0;
            }
        }
        let n = self.n as f32;
        let mut rect = [0.0f32; 8];
        let mut hann = [0.0f32; 8];
        for k in 0..16 {
            let p = s1[k] * s1[k] + s2[k] * s2[k] - self.coef[k] * s1[k] * s2[k];
            if k < 8 {
                // A tone of amplitude A gives |X| = A n / 2: scale to its energy A^2 n / 2.
                rect[k] = 2.0 * p / n;
            } else {
                // The Hann window sums to n / 2.
                hann[k - 8] = 8.0 * p / n;
            }
        }

        let row = argmax(&rect[..4]);
        let col = argmax(&rect[4..]);
        let (er, ec) = (hann[row], hann[4 + col]);
        if er < self.min_energy || ec < self.min_energy {
            return None;
        }
        if er > ec * self.max_row_over_col || ec > er * self.max_col_over_row {
            return None;
        }
        let rows_ok = (0..4).all(|i| i == row || rect[row] >= rect[i] * self.row_peak);
        // A second column tone shows in both views; leakage shows in one only: the unwindowed view
        // picks up a row 8 dB stronger through its -20 dB sidelobes, the Hann view spreads a column
        // into its neighbour 1.3 bins away. So another column fails the check only when it is too
        // strong in both.
        let cols_ok = (4..8).all(|i| {
            i == 4 + col
                || rect[4 + col] >= rect[i] * self.col_peak
                || hann[4 + col] >= hann[i] * self.col_peak
        });
        if !rows_ok || !cols_ok {
            return None;
        }
        if rect[row] + rect[4 + col] < MIN_TONE_SHARE * total {
            return None;
        }
        Some((row, col))
    }

    /// Whether both tones of the last [`CONFIRM_BLOCKS`] blocks lie within [`FREQUENCY_TOLERANCE`]
    /// of nominal.
    fn in_tolerance(&self, row: usize, col: usize) -> bool {
        // Oldest first: the block after the current one in ring order is the oldest kept.
        let k = u64::from(CONFIRM_BLOCKS);
        let samples = (1..=k).flat_map(|i| self.ring[self.slot(self.block + i)..][..self.n].iter());
        let mut coef = [0.0f32; 6];
        coef[..3].copy_from_slice(&self.probes[row]);
        coef[3..].copy_from_slice(&self.probes[4 + col]);
        let mut s1 = [0.0f32; 6];
        let mut s2 = [0.0f32; 6];
        for (&x, &w) in samples.zip(&self.window_long) {
            let xw = x * w;
            for k in 0..6 {
                let s0 = xw + coef[k] * s1[k] - s2[k];
                s2[k] = s1[k];
                s1[k] = s0;
            }
        }
        let p: [f32; 6] =
            std::array::from_fn(|k| s1[k] * s1[k] + s2[k] * s2[k] - coef[k] * s1[k] * s2[k]);
        p[1] >= p[0] && p[1] >= p[2] && p[4] >= p[3] && p[4] >= p[5]
    }
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &e) in v.iter().enumerate() {
        if e > v[best] {
            best = i;
        }
    }
    best
}

fn db_to_amp(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

fn db_to_power(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}
