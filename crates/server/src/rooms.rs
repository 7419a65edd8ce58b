//! The conference rooms of the server: a registry from room name to the room's task, shared by call
//! tasks. The registry is locked only to find or create a room; audio goes through the room's channels.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use chorus_dialplan::recorder::{Recorder, RecordingMeta};
use chorus_dialplan::time::LocalTime;
use chorus_dialplan::RoomOptions;
use chorus_rtp::conference::room::{JoinError, Member, MixTap, RoomConfig, RoomHandle};
use chorus_rtp::conference::ROOM_RATE;

struct Entry {
    handle: RoomHandle,
    /// The room recording, relative to the recordings directory.
    recording: Option<String>,
}

/// All rooms, by name. Cheap to clone.
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
    recordings: PathBuf,
}

/// A member's place in a room.
pub struct Joined {
    /// The member's channels.
    pub member: Member,
    /// The room's recording (relative to the recordings directory), when it is recorded.
    pub recording: Option<String>,
}

/// Writes the room mix with the crash-safe recorder.
struct RecordTap {
    rec: Option<Recorder>,
    room: String,
}

impl MixTap for RecordTap {
    fn write(&mut self, mix: &[i16]) {
        if let Some(rec) = self.rec.as_mut() {
            if let Err(e) = rec.write(mix) {
                tracing::warn!(room = %self.room, error = %e, "room recording failed; the room goes on");
                self.rec = None;
            }
        }
    }

    fn close(self: Box<Self>) {
        if let Some(rec) = self.rec {
            match rec.finish() {
                Ok(info) => {
                    tracing::info!(room = %self.room, path = %info.path.display(), ms = info.duration_ms, "room recording done")
                }
                Err(e) => {
                    tracing::warn!(room = %self.room, error = %e, "room recording not closed cleanly")
                }
            }
        }
    }
}

impl Rooms {
    /// No rooms; room recordings go to `recordings`.
    pub fn new(recordings: PathBuf) -> Rooms {
        Rooms {
            inner: Arc::new(Mutex::new(HashMap::new())),
            recordings,
        }
    }

    /// The room `name`, created with `options`' room settings when it does not exist (or has just ended).
    fn find_or_create(&self, name: &str, options: &RoomOptions) -> (RoomHandle, Option<String>) {
        // A poisoned lock only means another call task panicked while holding it; the map is still whole.
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, e| !e.handle.is_closed());
        if let Some(e) = map.get(name) {
            return (e.handle.clone(), e.recording.clone());
        }
        let (tap, recording) = if options.record {
            self.start_recording(name)
        } else {
            (None, None)
        };
        let cfg = RoomConfig {
            max_members: options.max_members.map(|m| m as usize),
            tones: options.tones,
            wait_for_moderator: options.wait_for_moderator,
            end_with_moderator: options.end_with_moderator,
            ..RoomConfig::default()
        };
        let handle = RoomHandle::spawn(name, cfg, tap);
        tracing::info!(room = %name, recording = recording.as_deref().unwrap_or(""), "room created");
        map.insert(
            name.to_string(),
            Entry {
                handle: handle.clone(),
                recording: recording.clone(),
            },
        );
        (handle, recording)
    }

    fn start_recording(&self, room: &str) -> (Option<Box<dyn MixTap>>, Option<String>) {
        let now = SystemTime::now();
        let file = format!("conf-{room}-{}", LocalTime::at(now, 0).compact());
        let meta = RecordingMeta {
            call_id: String::new(),
            from: String::new(),
            to: String::new(),
            room: Some(room.to_string()),
            started_at: now,
        };
        match Recorder::create(&self.recordings, &file, ROOM_RATE, &meta) {
            Ok(rec) => {
                let rel = rec
                    .path()
                    .strip_prefix(&self.recordings)
                    .unwrap_or(rec.path());
                let rel = rel.to_str().map(str::to_string);
                let tap = RecordTap {
                    rec: Some(rec),
                    room: room.to_string(),
                };
                (Some(Box::new(tap)), rel)
            }
            Err(e) => {
                tracing::warn!(%room, error = %e, "room recording not started");
                (None, None)
            }
        }
    }

    /// Joins room `name` with frames at `rate`. A room that ended meanwhile is replaced by a new one.
    pub async fn join(
        &self,
        name: &str,
        options: &RoomOptions,
        rate: u32,
    ) -> Result<Joined, JoinError> {
        let mut last = JoinError::Closed;
        for _ in 0..3 {
            let (handle, recording) = self.find_or_create(name, options);
            match handle.join_as(rate, options.muted, options.moderator).await {
                Ok(member) => return Ok(Joined { member, recording }),
                Err(JoinError::Closed) => {
                    let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                    if map.get(name).is_some_and(|e| e.handle.is_closed()) {
                        map.remove(name);
                    }
                    last = JoinError::Closed;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}
