//! The tokio shell of a room: one task per room on a 20 ms interval, members attached by channels.
//!
//! Each tick the task reads every member (its channel drained into a small per-member queue, one frame
//! taken), mixes, writes every member (one frame each, dropped if the member's channel is full), and
//! hands the room mix to the recording tap. Members join through a [`RoomHandle`] and leave by dropping
//! their [`Member`] (the task sees the channel close). The task ends, closing the tap, once the room has
//! had members and is empty again; a [`RoomHandle::join`] racing with that end gets
//! [`JoinError::Closed`] and should create a new room.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use super::mixer::{MemberId, Mixer, MixerConfig, RoomEvent};
use super::{tone, FRAME_DURATION, ROOM_FRAME, ROOM_RATE};

/// Most samples in one frame (20 ms at 16 kHz).
pub const MAX_FRAME: usize = ROOM_FRAME;
/// Frames a member's channel holds each way before frames are dropped.
const CHANNEL_FRAMES: usize = 8;
/// Frames kept in a receive queue; beyond it the oldest go, so delay cannot grow.
const QUEUE_FRAMES: usize = 4;
/// Ticks a queue may stay more than one frame deep before one frame is dropped (latency creeping up
/// after a burst is given back).
const QUEUE_SLACK_TICKS: u32 = 50;
/// Ticks a new room waits for its first member before it ends.
const FIRST_JOIN_TICKS: u32 = 250;

/// One 20 ms frame of 16-bit PCM, by value (no allocation per frame through the channels).
#[derive(Clone, Copy)]
pub struct Frame {
    len: u16,
    pcm: [i16; MAX_FRAME],
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame").field("len", &self.len).finish()
    }
}

impl Frame {
    /// A frame holding the first [`MAX_FRAME`] samples of `pcm`.
    pub fn new(pcm: &[i16]) -> Frame {
        let n = pcm.len().min(MAX_FRAME);
        let mut f = Frame {
            len: n as u16,
            pcm: [0; MAX_FRAME],
        };
        f.pcm[..n].copy_from_slice(&pcm[..n]);
        f
    }

    /// The samples.
    pub fn samples(&self) -> &[i16] {
        &self.pcm[..usize::from(self.len)]
    }
}

/// A small receive queue with latency control: one frame out per tick.
#[derive(Debug)]
struct Queue {
    frames: VecDeque<Frame>,
    deep_ticks: u32,
}

impl Queue {
    fn new() -> Queue {
        Queue {
            frames: VecDeque::with_capacity(QUEUE_FRAMES + 1),
            deep_ticks: 0,
        }
    }

    fn push(&mut self, f: Frame) {
        if self.frames.len() >= QUEUE_FRAMES {
            self.frames.pop_front();
        }
        self.frames.push_back(f);
    }

    fn pop(&mut self) -> Option<Frame> {
        if self.frames.len() > 1 {
            self.deep_ticks += 1;
            if self.deep_ticks >= QUEUE_SLACK_TICKS {
                self.deep_ticks = 0;
                self.frames.pop_front();
            }
        } else {
            self.deep_ticks = 0;
        }
        self.frames.pop_front()
    }
}

/// Where the room mix goes every tick (the room recording). Runs on the room task: keep it quick.
pub trait MixTap: Send {
    /// One 20 ms frame of the room mix at 16 kHz.
    fn write(&mut self, mix: &[i16]);
    /// The room has ended.
    fn close(self: Box<Self>);
}

/// Room settings, fixed when the room is created.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoomConfig {
    /// Most members (`None`: no limit).
    pub max_members: Option<usize>,
    /// Beep when a member joins (440 Hz) or leaves (330 Hz), heard by everyone.
    pub tones: bool,
    /// Members that did not join as moderators hear hold audio and are not mixed while no moderator is
    /// in the room.
    pub wait_for_moderator: bool,
    /// When the last moderator leaves, every remaining member is removed ([`Member::is_ended`]).
    pub end_with_moderator: bool,
    /// The mixer's settings.
    pub mixer: MixerConfig,
}

impl Default for RoomConfig {
    fn default() -> RoomConfig {
        RoomConfig {
            max_members: None,
            tones: true,
            wait_for_moderator: false,
            end_with_moderator: false,
            mixer: MixerConfig::default(),
        }
    }
}

/// Why a join failed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The room has its maximum of members.
    #[error("room is full")]
    Full,
    /// The room has ended (it emptied meanwhile): create a new one.
    #[error("room has ended")]
    Closed,
    /// The member's rate is not 8000 or 16000.
    #[error("unsupported member rate {0} hz")]
    UnsupportedRate(u32),
}

enum Control {
    Join {
        rate: u32,
        muted: bool,
        moderator: bool,
        state: Arc<Shared>,
        inbound: mpsc::Receiver<Frame>,
        outbound: mpsc::Sender<Frame>,
        reply: oneshot::Sender<Result<MemberId, JoinError>>,
    },
    Muted(MemberId, bool),
    Deaf(MemberId, bool),
    Gain(MemberId, f32),
}

/// A way to join a room, cheap to clone; the room lives in its own task.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    name: Arc<str>,
    control: mpsc::UnboundedSender<Control>,
}

impl RoomHandle {
    /// Starts room `name`'s task on the current tokio runtime (panics outside one, like `tokio::spawn`).
    /// `tap` receives the room mix each tick and is closed when the room ends.
    pub fn spawn(name: &str, cfg: RoomConfig, tap: Option<Box<dyn MixTap>>) -> RoomHandle {
        let (control, rx) = mpsc::unbounded_channel();
        let name: Arc<str> = Arc::from(name);
        tokio::spawn(run(name.clone(), cfg, rx, tap));
        RoomHandle { name, control }
    }

    /// The room's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the room's task has ended.
    pub fn is_closed(&self) -> bool {
        self.control.is_closed()
    }

    /// Joins with frames at `rate` (8000 or 16000), muted or not.
    pub async fn join(&self, rate: u32, muted: bool) -> Result<Member, JoinError> {
        self.join_as(rate, muted, false).await
    }

    /// Joins with frames at `rate` (8000 or 16000), muted or not, as a moderator or not.
    pub async fn join_as(
        &self,
        rate: u32,
        muted: bool,
        moderator: bool,
    ) -> Result<Member, JoinError> {
        if rate != 8000 && rate != 16000 {
            return Err(JoinError::UnsupportedRate(rate));
        }
        let (in_tx, in_rx) = mpsc::channel(CHANNEL_FRAMES);
        let (out_tx, out_rx) = mpsc::channel(CHANNEL_FRAMES);
        let (reply, answer) = oneshot::channel();
        let state = Arc::new(Shared::default());
        self.control
            .send(Control::Join {
                rate,
                muted,
                moderator,
                state: state.clone(),
                inbound: in_rx,
                outbound: out_tx,
                reply,
            })
            .map_err(|_| JoinError::Closed)?;
        let id = answer.await.map_err(|_| JoinError::Closed)??;
        Ok(Member {
            id,
            rate,
            to_room: in_tx,
            from_room: out_rx,
            control: self.control.clone(),
            queue: Queue::new(),
            muted,
            state,
        })
    }
}

/// What the room task tells a member outside the audio path (atomics: no lock).
#[derive(Debug, Default)]
struct Shared {
    /// The member hears hold audio and is not mixed (waiting for a moderator).
    waiting: AtomicBool,
    /// The room removed the member (the last moderator left).
    ended: AtomicBool,
}

/// A member's end of a room: send what it says, receive what it hears. Dropping it leaves the room.
#[derive(Debug)]
pub struct Member {
    id: MemberId,
    rate: u32,
    to_room: mpsc::Sender<Frame>,
    from_room: mpsc::Receiver<Frame>,
    control: mpsc::UnboundedSender<Control>,
    queue: Queue,
    muted: bool,
    state: Arc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Control")
    }
}

/// The room ended under a member (its task failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("room has ended")]
pub struct RoomGone;

impl Member {
    /// This member's id in the room.
    pub fn id(&self) -> MemberId {
        self.id
    }

    /// The member's frame rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Sends one 20 ms frame of the member's audio. A full channel (the room behind) drops it.
    pub fn send(&self, pcm: &[i16]) -> Result<(), RoomGone> {
        match self.to_room.try_send(Frame::new(pcm)) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(RoomGone),
        }
    }

    /// Fills `out` with the next frame the member hears; silence (and `false`) when none has come.
    /// Call once per 20 ms tick.
    pub fn next_frame(&mut self, out: &mut [i16]) -> bool {
        while let Ok(f) = self.from_room.try_recv() {
            self.queue.push(f);
        }
        match self.queue.pop() {
            Some(f) => {
                let s = f.samples();
                let n = s.len().min(out.len());
                out[..n].copy_from_slice(&s[..n]);
                out[n..].fill(0);
                true
            }
            None => {
                out.fill(0);
                false
            }
        }
    }

    /// Whether the room is still there.
    pub fn is_connected(&self) -> bool {
        !self.to_room.is_closed()
    }

    /// Mutes or unmutes the member (nobody hears it while muted).
    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
        let _ = self.control.send(Control::Muted(self.id, muted));
    }

    /// Whether the member is muted.
    pub fn is_muted(&self) -> bool {
        self.muted
    }

    /// Makes the member hear silence, or the room again.
    pub fn set_deaf(&self, deaf: bool) {
        let _ = self.control.send(Control::Deaf(self.id, deaf));
    }

    /// Scales the member's voice in the room (1.0: unchanged).
    pub fn set_gain(&self, gain: f32) {
        let _ = self.control.send(Control::Gain(self.id, gain));
    }

    /// Whether the member is waiting for a moderator (it hears hold audio and is not mixed).
    pub fn is_waiting(&self) -> bool {
        self.state.waiting.load(Ordering::Relaxed)
    }

    /// Whether the room removed the member because the last moderator left.
    pub fn is_ended(&self) -> bool {
        self.state.ended.load(Ordering::Relaxed)
    }

    /// Leaves the room (the same as dropping the handle).
    pub fn leave(self) {}
}

struct Attached {
    id: MemberId,
    rate: u32,
    moderator: bool,
    /// Mute and deafness asked for by the member; waiting for a moderator adds both.
    muted: bool,
    deaf: bool,
    state: Arc<Shared>,
    inbound: mpsc::Receiver<Frame>,
    outbound: mpsc::Sender<Frame>,
    queue: Queue,
    gone: bool,
}

struct Room {
    name: Arc<str>,
    cfg: RoomConfig,
    mixer: Mixer,
    members: Vec<Attached>,
    next_id: u64,
    join_tone: Vec<i16>,
    leave_tone: Vec<i16>,
    /// The tone being played: which one and how far.
    playing: Option<(bool, usize)>,
    /// A moderator has been in the room.
    had_moderator: bool,
    /// Hold audio at 8 kHz and 16 kHz: one period of a soft repeating tone.
    hold: [Vec<i16>; 2],
    /// Ticks since the room opened (position in the hold audio).
    ticks: usize,
}

/// One period of hold audio at `rate`: a soft 425 Hz beep of 400 ms, then silence, every 3 s.
fn hold_audio(rate: u32) -> Vec<i16> {
    let mut v = tone(rate, 425.0, 400, 1500);
    v.resize(rate as usize * 3, 0);
    v
}

impl Room {
    fn control(&mut self, msg: Control) {
        match msg {
            Control::Join {
                rate,
                muted,
                moderator,
                state,
                inbound,
                outbound,
                reply,
            } => {
                if self
                    .cfg
                    .max_members
                    .is_some_and(|max| self.members.len() >= max)
                {
                    let _ = reply.send(Err(JoinError::Full));
                    return;
                }
                self.next_id += 1;
                let id = MemberId(self.next_id);
                if self.mixer.add_member(id, rate).is_err() {
                    let _ = reply.send(Err(JoinError::UnsupportedRate(rate)));
                    return;
                }
                let _ = self.mixer.set_muted(id, muted);
                if reply.send(Ok(id)).is_err() {
                    // The joiner gave up (its call ended) before the answer.
                    self.mixer.remove_member(id);
                    return;
                }
                tracing::debug!(room = %self.name, member = %id, rate, muted, moderator, "member joined");
                self.members.push(Attached {
                    id,
                    rate,
                    moderator,
                    muted,
                    deaf: false,
                    state,
                    inbound,
                    outbound,
                    queue: Queue::new(),
                    gone: false,
                });
                if self.cfg.tones {
                    self.playing = Some((true, 0));
                }
                self.update_moderation();
            }
            Control::Muted(id, on) => {
                if let Some(m) = self.members.iter_mut().find(|m| m.id == id) {
                    m.muted = on;
                }
                self.apply(id);
                tracing::debug!(room = %self.name, member = %id, muted = on, "mute");
            }
            Control::Deaf(id, on) => {
                if let Some(m) = self.members.iter_mut().find(|m| m.id == id) {
                    m.deaf = on;
                }
                self.apply(id);
            }
            Control::Gain(id, g) => {
                let _ = self.mixer.set_gain(id, g);
            }
        }
    }

    /// Sets member `id`'s mute and deafness in the mixer: its own, plus both while it waits.
    fn apply(&mut self, id: MemberId) {
        if let Some(m) = self.members.iter().find(|m| m.id == id) {
            let waiting = m.state.waiting.load(Ordering::Relaxed);
            let _ = self.mixer.set_muted(id, m.muted || waiting);
            let _ = self.mixer.set_deaf(id, m.deaf || waiting);
        }
    }

    /// After a join or a leave: puts members on hold or takes them off while no moderator is in the
    /// room, and ends the room for everyone when the last moderator has left (`end_with_moderator`).
    fn update_moderation(&mut self) {
        let moderators = self.members.iter().filter(|m| m.moderator).count();
        if moderators > 0 {
            self.had_moderator = true;
        } else if self.had_moderator && self.cfg.end_with_moderator {
            self.had_moderator = false;
            for m in self.members.drain(..) {
                m.state.ended.store(true, Ordering::Relaxed);
                self.mixer.remove_member(m.id);
                tracing::debug!(room = %self.name, member = %m.id, "member removed: moderator left");
            }
            self.playing = None;
            return;
        }
        let wait = self.cfg.wait_for_moderator && moderators == 0;
        let mut changed = Vec::new();
        for m in &self.members {
            let waiting = wait && !m.moderator;
            if m.state.waiting.swap(waiting, Ordering::Relaxed) != waiting {
                changed.push(m.id);
            }
        }
        for id in changed {
            self.apply(id);
        }
    }

    fn tick(&mut self, tap: &mut Option<Box<dyn MixTap>>) {
        // Read every member.
        for m in self.members.iter_mut() {
            loop {
                match m.inbound.try_recv() {
                    Ok(f) => m.queue.push(f),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        m.gone = true;
                        break;
                    }
                }
            }
            if let Some(f) = m.queue.pop() {
                let _ = self.mixer.push(m.id, f.samples());
            }
        }
        self.drop_gone();
        if let Some((join, pos)) = self.playing {
            let t = if join {
                &self.join_tone
            } else {
                &self.leave_tone
            };
            let end = (pos + ROOM_FRAME).min(t.len());
            self.mixer.set_overlay(&t[pos.min(end)..end]);
            self.playing = (end < t.len()).then_some((join, end));
        }
        self.mixer.tick();
        // Write every member (hold audio to those waiting for a moderator).
        let tick = self.ticks;
        self.ticks = self.ticks.wrapping_add(1);
        for m in self.members.iter_mut() {
            let frame = if m.state.waiting.load(Ordering::Relaxed) {
                let hold = &self.hold[usize::from(m.rate == ROOM_RATE)];
                let n = m.rate as usize / 50;
                let periods = hold.len() / n;
                let pos = (tick % periods) * n;
                Frame::new(&hold[pos..pos + n])
            } else {
                let Some(out) = self.mixer.output(m.id) else {
                    continue;
                };
                Frame::new(out)
            };
            match m.outbound.try_send(frame) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => m.gone = true,
            }
        }
        if let Some(t) = tap.as_mut() {
            t.write(self.mixer.mix());
        }
        while let Some(ev) = self.mixer.poll_event() {
            match ev {
                RoomEvent::Talking(id) => {
                    tracing::debug!(room = %self.name, member = %id, "talking")
                }
                RoomEvent::Silent(id) => tracing::debug!(room = %self.name, member = %id, "silent"),
            }
        }
        self.drop_gone();
    }

    fn drop_gone(&mut self) {
        let before = self.members.len();
        let mixer = &mut self.mixer;
        let name = &self.name;
        self.members.retain(|m| {
            if m.gone {
                mixer.remove_member(m.id);
                tracing::debug!(room = %name, member = %m.id, "member left");
            }
            !m.gone
        });
        if self.members.len() < before {
            if self.cfg.tones && !self.members.is_empty() {
                self.playing = Some((false, 0));
            }
            self.update_moderation();
        }
    }
}

async fn run(
    name: Arc<str>,
    cfg: RoomConfig,
    mut control: mpsc::UnboundedReceiver<Control>,
    mut tap: Option<Box<dyn MixTap>>,
) {
    let mut room = Room {
        name: name.clone(),
        cfg,
        mixer: Mixer::new(cfg.mixer),
        members: Vec::new(),
        next_id: 0,
        join_tone: tone(ROOM_RATE, 440.0, 150, 4000),
        leave_tone: tone(ROOM_RATE, 330.0, 150, 4000),
        playing: None,
        had_moderator: false,
        hold: [hold_audio(8000), hold_audio(ROOM_RATE)],
        ticks: 0,
    };
    tracing::debug!(room = %name, "room opened");
    let mut clock = tokio::time::interval(FRAME_DURATION);
    // Burst: frames due are counted from the start, so the room keeps the members' sample clock.
    clock.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut had_member = false;
    let mut empty_ticks = 0u32;
    let mut control_open = true;
    loop {
        tokio::select! {
            biased;
            msg = control.recv(), if control_open => match msg {
                Some(m) => room.control(m),
                None => control_open = false,
            },
            _ = clock.tick() => {
                room.tick(&mut tap);
                if room.members.is_empty() {
                    empty_ticks += 1;
                    if had_member || empty_ticks >= FIRST_JOIN_TICKS || !control_open {
                        break;
                    }
                } else {
                    had_member = true;
                }
            }
        }
    }
    // Joins still queued get `Closed` (their reply senders drop here) and make a new room.
    control.close();
    while control.try_recv().is_ok() {}
    if let Some(t) = tap {
        t.close();
    }
    tracing::debug!(room = %name, "room closed");
}
