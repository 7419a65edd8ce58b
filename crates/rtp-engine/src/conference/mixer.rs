//! The sans-IO room mixer: mix-minus at 16 kHz in 32 bits with one clamp, talker detection, mute, deaf
//! and gain per member.
//!
//! Per 20 ms tick: [`Mixer::push`] each member's frame (at the member's rate; a member with no frame
//! contributes silence), then [`Mixer::tick`], then read [`Mixer::output`] for each member and
//! [`Mixer::mix`] for the recording tap, then drain [`Mixer::poll_event`]. Members whose voice activity
//! detector says silent are left out of the sum, so a big room where few talk costs little: everyone who
//! does not talk hears the same mix, computed once (and downsampled once for all 8 kHz listeners).

use std::collections::{HashMap, VecDeque};

use super::resample::{Downsampler, Upsampler};
use super::ROOM_FRAME;

/// A member of one room, named by whoever adds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(pub u64);

impl std::fmt::Display for MemberId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "m{}", self.0)
    }
}

/// Talker detection, one event per change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomEvent {
    /// The member started talking.
    Talking(MemberId),
    /// The member has been quiet for the hangover time (or left while talking).
    Silent(MemberId),
}

/// Why the mixer refused a request.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MixerError {
    /// Members are 8000 or 16000 Hz.
    #[error("unsupported member rate {0} hz (8000 or 16000)")]
    UnsupportedRate(u32),
    /// The id is taken.
    #[error("member {0} is already in the room")]
    Duplicate(MemberId),
    /// The id is not a member.
    #[error("member {0} is not in the room")]
    UnknownMember(MemberId),
}

/// Mixer settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MixerConfig {
    /// RMS level (in 16-bit sample units) from which a frame counts as speech; 0 puts every member with a
    /// frame in the mix. Default 64 (about -54 dBFS): only near-digital silence is skipped.
    pub vad_level: u16,
    /// Frames a member stays "talking" after its last loud frame (default 10: 200 ms), so word tails and
    /// short pauses are not cut.
    pub vad_hangover: u32,
}

impl Default for MixerConfig {
    fn default() -> MixerConfig {
        MixerConfig {
            vad_level: 64,
            vad_hangover: 10,
        }
    }
}

/// Where a member's output of the last tick is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    /// Its own buffer (it talked, or it is deaf, or its resampler was not in step with the shared one).
    Own,
    /// The shared 16 kHz mix (16 kHz members who did not talk).
    Mix,
    /// The shared 8 kHz mix (8 kHz members who did not talk).
    Mix8,
}

#[derive(Debug)]
struct Slot {
    id: MemberId,
    /// 8 kHz member: frames are 160 samples and go through the resamplers.
    narrow: bool,
    muted: bool,
    deaf: bool,
    gain: f32,
    input: Vec<i16>,
    has_input: bool,
    /// Its contribution to this tick's total, at 16 kHz, gain applied.
    contrib: Vec<i32>,
    contributing: bool,
    up: Option<Upsampler>,
    down: Option<Downsampler>,
    /// The downsampler's last input was the shared mix (so its state is the shared one's).
    down_shared: bool,
    wide: Vec<f32>,
    out: Vec<i16>,
    out_at: Out,
    /// Voice activity: frames of hangover left (0: silent).
    hang: u32,
    talking: bool,
}

/// One room's mixer. See the module docs for the per-tick calls.
#[derive(Debug)]
pub struct Mixer {
    cfg: MixerConfig,
    vad_energy: u64,
    slots: Vec<Slot>,
    index: HashMap<MemberId, usize>,
    total: Vec<i32>,
    /// Saturated total: what non-talkers hear and what the recording gets.
    mix: Vec<i16>,
    /// Last tick's `mix`, for downsamplers joining or leaving the shared one.
    prev_mix: Vec<i16>,
    mix8: Vec<i16>,
    down8: Downsampler,
    overlay: Vec<i16>,
    overlay_len: usize,
    /// Per-member mix-minus before downsampling (reused).
    scratch: Vec<i16>,
    events: VecDeque<RoomEvent>,
    ticks: u64,
}

fn frame_len(narrow: bool) -> usize {
    if narrow {
        ROOM_FRAME / 2
    } else {
        ROOM_FRAME
    }
}

impl Mixer {
    /// An empty room.
    pub fn new(cfg: MixerConfig) -> Mixer {
        let level = u64::from(cfg.vad_level);
        Mixer {
            cfg,
            vad_energy: level * level,
            slots: Vec::new(),
            index: HashMap::new(),
            total: vec![0; ROOM_FRAME],
            mix: vec![0; ROOM_FRAME],
            prev_mix: vec![0; ROOM_FRAME],
            mix8: vec![0; ROOM_FRAME / 2],
            down8: Downsampler::new(ROOM_FRAME / 2),
            overlay: vec![0; ROOM_FRAME],
            overlay_len: 0,
            scratch: vec![0; ROOM_FRAME],
            events: VecDeque::with_capacity(64),
            ticks: 0,
        }
    }

    /// Adds a member whose frames are at `rate` (8000 or 16000); it is heard from the next tick. This
    /// allocates the member's buffers (the only allocation besides the event queue growing).
    pub fn add_member(&mut self, id: MemberId, rate: u32) -> Result<(), MixerError> {
        let narrow = match rate {
            8000 => true,
            16000 => false,
            other => return Err(MixerError::UnsupportedRate(other)),
        };
        if self.index.contains_key(&id) {
            return Err(MixerError::Duplicate(id));
        }
        let n = frame_len(narrow);
        self.index.insert(id, self.slots.len());
        self.slots.push(Slot {
            id,
            narrow,
            muted: false,
            deaf: false,
            gain: 1.0,
            input: vec![0; n],
            has_input: false,
            contrib: vec![0; ROOM_FRAME],
            contributing: false,
            up: narrow.then(|| Upsampler::new(n)),
            down: narrow.then(|| Downsampler::new(n)),
            down_shared: false,
            wide: if narrow {
                vec![0.0; ROOM_FRAME]
            } else {
                Vec::new()
            },
            out: vec![0; n],
            out_at: Out::Own,
            hang: 0,
            talking: false,
        });
        Ok(())
    }

    /// Removes a member (a talker is reported [`RoomEvent::Silent`]). False when it was not a member.
    pub fn remove_member(&mut self, id: MemberId) -> bool {
        let Some(i) = self.index.remove(&id) else {
            return false;
        };
        let slot = self.slots.swap_remove(i);
        if slot.talking {
            self.events.push_back(RoomEvent::Silent(id));
        }
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.id, i);
        }
        true
    }

    /// Members in the room.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the room has no member.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether `id` is a member.
    pub fn contains(&self, id: MemberId) -> bool {
        self.index.contains_key(&id)
    }

    fn slot(&mut self, id: MemberId) -> Result<&mut Slot, MixerError> {
        match self.index.get(&id) {
            Some(&i) => Ok(&mut self.slots[i]),
            None => Err(MixerError::UnknownMember(id)),
        }
    }

    /// A muted member is heard by nobody (it still hears the room).
    pub fn set_muted(&mut self, id: MemberId, muted: bool) -> Result<(), MixerError> {
        self.slot(id)?.muted = muted;
        Ok(())
    }

    /// A deaf member hears silence (it is still heard).
    pub fn set_deaf(&mut self, id: MemberId, deaf: bool) -> Result<(), MixerError> {
        let s = self.slot(id)?;
        s.deaf = deaf;
        Ok(())
    }

    /// Scales what the member contributes (1.0 unchanged; clamped to 0..=8; not a number counts as 1).
    pub fn set_gain(&mut self, id: MemberId, gain: f32) -> Result<(), MixerError> {
        let g = if gain.is_nan() {
            1.0
        } else {
            gain.clamp(0.0, 8.0)
        };
        self.slot(id)?.gain = g;
        Ok(())
    }

    /// Whether the member's voice activity detector says it is talking.
    pub fn is_talking(&self, id: MemberId) -> bool {
        self.index.get(&id).is_some_and(|&i| self.slots[i].talking)
    }

    /// The member's frame for the next tick, at its own rate (160 samples at 8 kHz, 320 at 16 kHz;
    /// shorter frames are padded with silence, longer ones cut). A second push before the tick replaces
    /// the first.
    pub fn push(&mut self, id: MemberId, frame: &[i16]) -> Result<(), MixerError> {
        let s = self.slot(id)?;
        let n = s.input.len().min(frame.len());
        s.input[..n].copy_from_slice(&frame[..n]);
        s.input[n..].fill(0);
        s.has_input = true;
        Ok(())
    }

    /// Audio added to everyone's output on the next tick only (join and leave tones), 16 kHz, up to one
    /// frame.
    pub fn set_overlay(&mut self, pcm: &[i16]) {
        let n = pcm.len().min(ROOM_FRAME);
        self.overlay[..n].copy_from_slice(&pcm[..n]);
        self.overlay_len = n;
    }

    /// Mixes one 20 ms frame: everyone's output and the room mix are ready after it.
    pub fn tick(&mut self) {
        self.ticks += 1;
        std::mem::swap(&mut self.mix, &mut self.prev_mix);
        self.total.fill(0);
        for (t, o) in self.total.iter_mut().zip(&self.overlay[..self.overlay_len]) {
            *t = i32::from(*o);
        }
        self.overlay_len = 0;

        // Read every member: voice activity, then its contribution.
        for s in self.slots.iter_mut() {
            let energy = if s.has_input {
                let sum: u64 = s
                    .input
                    .iter()
                    .map(|&v| {
                        let v = i64::from(v);
                        (v * v) as u64
                    })
                    .sum();
                sum / s.input.len().max(1) as u64
            } else {
                0
            };
            let loud = s.has_input && energy >= self.vad_energy;
            if loud {
                s.hang = self.cfg.vad_hangover.max(1);
            } else {
                s.hang = s.hang.saturating_sub(1);
            }
            let talking = s.hang > 0;
            if talking != s.talking {
                s.talking = talking;
                self.events.push_back(if talking {
                    RoomEvent::Talking(s.id)
                } else {
                    RoomEvent::Silent(s.id)
                });
            }
            if !s.has_input {
                s.input.fill(0);
            }
            s.contributing = s.has_input && !s.muted && s.gain > 0.0 && talking;
            s.has_input = false;
            match (s.up.as_mut(), s.contributing) {
                (Some(up), true) => {
                    up.process(&s.input, s.gain, &mut s.wide);
                    for ((t, c), w) in self.total.iter_mut().zip(&mut s.contrib).zip(&s.wide) {
                        *c = *w as i32;
                        *t += *c;
                    }
                }
                (Some(up), false) => up.skip(&s.input),
                (None, true) if s.gain == 1.0 => {
                    for ((t, c), v) in self.total.iter_mut().zip(&mut s.contrib).zip(&s.input) {
                        *c = i32::from(*v);
                        *t += *c;
                    }
                }
                (None, true) => {
                    for ((t, c), v) in self.total.iter_mut().zip(&mut s.contrib).zip(&s.input) {
                        *c = (f32::from(*v) * s.gain) as i32;
                        *t += *c;
                    }
                }
                (None, false) => {}
            }
        }

        // The one clamp of the shared mix.
        for (m, t) in self.mix.iter_mut().zip(&self.total) {
            *m = (*t).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
        // The shared 8 kHz mix, fed every tick so its state stays the one every 8 kHz non-talker shares.
        self.down8.process(&self.mix, &mut self.mix8);

        // Write every member.
        for s in self.slots.iter_mut() {
            if s.deaf {
                s.out.fill(0);
                s.out_at = Out::Own;
                if let Some(d) = s.down.as_mut() {
                    d.reset();
                }
                s.down_shared = false;
                continue;
            }
            if !s.contributing {
                if !s.narrow {
                    s.out_at = Out::Mix;
                    continue;
                }
                if s.down_shared {
                    s.out_at = Out::Mix8;
                    continue;
                }
                // Its downsampler was fed something else last tick: one tick on its own, in step after.
                if let Some(d) = s.down.as_mut() {
                    d.process(&self.mix, &mut s.out);
                }
                s.out_at = Out::Own;
                s.down_shared = true;
                continue;
            }
            // Mix-minus: total less its own contribution, saturated once.
            let target: &mut [i16] = if s.narrow {
                &mut self.scratch
            } else {
                &mut s.out
            };
            for ((o, t), c) in target.iter_mut().zip(&self.total).zip(&s.contrib) {
                *o = (*t - *c).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
            }
            if let Some(d) = s.down.as_mut() {
                if s.down_shared {
                    d.set_history(&self.prev_mix);
                }
                d.process(&self.scratch, &mut s.out);
            }
            s.down_shared = false;
            s.out_at = Out::Own;
        }
    }

    /// What `id` hears from the last tick, at its own rate; `None` if it is not a member.
    pub fn output(&self, id: MemberId) -> Option<&[i16]> {
        let s = &self.slots[*self.index.get(&id)?];
        Some(match s.out_at {
            Out::Own => &s.out,
            Out::Mix => &self.mix,
            Out::Mix8 => &self.mix8,
        })
    }

    /// Every member's id with its output of the last tick, in no particular order.
    pub fn outputs(&self) -> impl Iterator<Item = (MemberId, &[i16])> + '_ {
        self.slots.iter().map(move |s| {
            let out: &[i16] = match s.out_at {
                Out::Own => &s.out,
                Out::Mix => &self.mix,
                Out::Mix8 => &self.mix8,
            };
            (s.id, out)
        })
    }

    /// The room mix of the last tick at 16 kHz: everyone who talked, plus tones (the recording tap).
    pub fn mix(&self) -> &[i16] {
        &self.mix
    }

    /// Ticks mixed so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// The next talker event. Call after each [`Mixer::tick`] until `None`.
    pub fn poll_event(&mut self) -> Option<RoomEvent> {
        self.events.pop_front()
    }
}
