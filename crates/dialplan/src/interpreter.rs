//! The interpreter: runs a route's steps for one call against a [`CallMedia`].
//!
//! # Keys (DTMF)
//! The call keeps every key the caller presses in a first-in, first-out buffer, whatever step is running
//! (play, pause, echo…); [`CallMedia::next_digit`] takes the oldest. Nothing is thrown away implicitly except
//! at the start of a retry (below), so keys typed ahead — during a greeting played with `barge_in`, or during
//! a menu prompt — count for the step that reads keys next. With barge-in ([`CallMedia::play_until_digit`])
//! a key stops the prompt and stays in the buffer.
//!
//! # Collect timing
//! One try of `collect` goes like this (`menu` is the same with `max: 1`, no terminators and `timeout` as the
//! first-digit timeout):
//! 1. Retries only (try 2 and later): keys still buffered are discarded, so leftovers of the failed try do not
//!    count. The first try keeps them: typed-ahead keys count.
//! 2. The prompts play with barge-in. A key already buffered skips them; a key pressed while they play stops
//!    them. Either way that key is the first of the input.
//! 3. The first-digit timeout starts when the prompts end (at once when there are none or a key stopped them).
//!    Nothing pressed before it runs out: the try is a *no-input*.
//! 4. After each key the inter-digit timeout starts again; when it runs out the input ends.
//! 5. A terminator key ends the input and is not part of it. A terminator with nothing before it is an empty
//!    input (invalid when `min` ≥ 1), not a no-input.
//! 6. As soon as `max` keys are in, the input ends without waiting (a terminator pressed after that stays in
//!    the buffer for the next step).
//! 7. The input is valid when it has at least `min` keys and matches `pattern` (anchored) if given. Valid: it
//!    goes into the variable and the step ends. No-input: the `no_input` prompts play; invalid: the `invalid`
//!    prompts play (both without barge-in); then the next try.
//! 8. After `tries` failed tries the variable is set to the empty string and `on_failure` runs (for a menu:
//!    its `on_failure`, by default a hangup).
//!
//! A caller hanging up ends every step at once with [`Outcome::CallerHungUp`].

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use crate::model::{
    Collect, Condition, HangupReason, Menu, PinCheck, Record, RecordCallControl, RoomOptions,
    Route, Step, TransferMode, DTMF_KEYS,
};
use crate::prompt::{Prompt, PromptCache};
use crate::time::LocalTime;

/// Why a media operation stopped early.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The caller hung up (or the call was otherwise ended from outside).
    #[error("caller hung up")]
    HungUp,
    /// The media path failed (socket error, codec error), or the call cannot do this.
    #[error("media failed: {0}")]
    Failed(String),
}

fn unsupported() -> MediaError {
    MediaError::Failed("not supported by this call".into())
}

/// A call's variables: route captures, `set`, `collect` and `record` results. The call log writes them.
pub type Vars = HashMap<String, String>;

/// What the media layer is asked to record; the server writes it with [`crate::recorder::Recorder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSpec {
    /// File name without extension, made of `[A-Za-z0-9._-]` only; the server puts it in the recordings
    /// directory (and makes it unique there).
    pub name: String,
    /// Stop after this much audio.
    pub max: Duration,
    /// Keys that stop the recording (consumed, not left in the buffer). Empty: keys do not stop it.
    pub terminators: String,
    /// Stop after this long of continuous silence (see [`crate::recorder::Recorder::silent_for`]).
    pub silence: Option<Duration>,
}

/// Why a recording stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordStop {
    /// The caller pressed this terminator key.
    Terminator(char),
    /// `max` was reached.
    MaxDuration,
    /// The caller was silent for the silence timeout.
    Silence,
    /// The caller hung up; the recording is complete and closed.
    HungUp,
    /// Writing failed (disk full, directory gone or unwritable); what was written is kept, the call goes on.
    Failed(String),
}

/// How a recording ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOutcome {
    /// Why it stopped.
    pub stop: RecordStop,
    /// The WAV file (empty when it could not even be created).
    pub path: PathBuf,
    /// Audio kept, after trailing silence was trimmed.
    pub duration_ms: u64,
}

/// How a member left a conference room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomExit {
    /// The member pressed the room's exit key; the dialplan goes on.
    Left,
    /// The room has `max_members` already; the caller never joined.
    Full,
    /// The last moderator left a room with `end_with_moderator`; the dialplan goes on.
    Ended,
}

/// The media and signalling operations a dialplan can ask of a call. Each future ends early with
/// [`MediaError::HungUp`] when the call is ended from outside.
///
/// Methods with a default body are optional: the default fails with "not supported by this call" (the
/// server's RTP call overrides them). Keys pressed at any time are kept in a FIFO buffer by the call; see the
/// [module docs](self) for how steps use it.
pub trait CallMedia: Send {
    /// Answers the call (200 OK). Answering an answered call does nothing.
    fn answer(&mut self) -> impl Future<Output = Result<(), MediaError>> + Send;
    /// Signals ringing (180) before the answer.
    fn ring(&mut self) -> impl Future<Output = Result<(), MediaError>> + Send;
    /// Plays a prompt to the caller in real time. Keys pressed meanwhile are buffered, not acted on.
    fn play(&mut self, prompt: &Prompt) -> impl Future<Output = Result<(), MediaError>> + Send;
    /// Sends back what the caller sends, for at most `max` (until the caller hangs up when `None`).
    fn echo(
        &mut self,
        max: Option<Duration>,
    ) -> impl Future<Output = Result<(), MediaError>> + Send;
    /// Waits, sending silence once answered.
    fn pause(&mut self, d: Duration) -> impl Future<Output = Result<(), MediaError>> + Send;
    /// Ends the call from our side.
    fn hangup(&mut self) -> impl Future<Output = ()> + Send;
    /// Whether the call has been answered.
    fn is_answered(&self) -> bool;
    /// Starts recording the whole call in the background as `<recordings>/<name>.wav`: what the caller
    /// sends and what is sent to the caller, mixed (or with `stereo`, the caller left and the rest
    /// right), from now until the call ends, whatever steps run meanwhile. Returns the file's path, or None when it could not start (the call goes on). A call
    /// already recorded this way keeps its one recording, whose path is returned. Called only once media
    /// flows.
    fn record_call(
        &mut self,
        name: &str,
        stereo: bool,
    ) -> impl Future<Output = Result<Option<PathBuf>, MediaError>> + Send {
        let _ = (name, stereo);
        async { Err(unsupported()) }
    }

    /// Masks, unmasks or stops the whole-call recording ([`CallMedia::record_call`]); nothing when none
    /// runs.
    fn control_call_recording(
        &mut self,
        control: RecordCallControl,
    ) -> impl Future<Output = Result<(), MediaError>> + Send {
        let _ = control;
        async { Err(unsupported()) }
    }

    /// Whether media flows: the call is answered, or early media is up ([`CallMedia::progress`]).
    fn has_media(&self) -> bool {
        self.is_answered()
    }
    /// Early media: sends 183 Session Progress with the SDP answer and starts the media, so what the
    /// next steps play reaches the caller before (or without) the answer. Returns false when the call
    /// cannot have early media (its INVITE carried no SDP offer): 180 Ringing went instead, and media
    /// steps answer as usual. Called only before the answer; a second call changes nothing.
    fn progress(&mut self) -> impl Future<Output = Result<bool, MediaError>> + Send {
        async { Err(unsupported()) }
    }
    /// The PCM rate of the call's audio (8000 for G.711).
    fn sample_rate(&self) -> u32;

    /// Takes the oldest buffered key, waiting up to `timeout` for one to be pressed; `Ok(None)` when none
    /// came in time. With a zero timeout it only looks at the buffer and never waits. Keys are `0-9`, `*`,
    /// `#`, `A-D`, each press delivered once, in the order pressed. Media keeps flowing (silence once
    /// answered) while it waits.
    fn next_digit(
        &mut self,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<char>, MediaError>> + Send {
        let _ = timeout;
        async { Err(unsupported()) }
    }

    /// Plays a prompt until it ends or a key is pressed, whichever is first. Returns the key that stopped it
    /// (`Ok(Some)`), which stays in the buffer for the next [`CallMedia::next_digit`]; when a key is already
    /// buffered it returns that key at once without playing. `Ok(None)`: the prompt played to its end.
    fn play_until_digit(
        &mut self,
        prompt: &Prompt,
    ) -> impl Future<Output = Result<Option<char>, MediaError>> + Send {
        let _ = prompt;
        async { Err(unsupported()) }
    }

    /// Records the caller per `spec` until the max duration, a terminator key, the silence timeout or the
    /// caller's hangup (then it returns `Ok` with [`RecordStop::HungUp`], the file closed). The server feeds
    /// received frames to a [`crate::recorder::Recorder`]; a write failure is [`RecordStop::Failed`], not an
    /// error, because the call goes on. Silence is sent to the caller meanwhile.
    fn record(
        &mut self,
        spec: RecordSpec,
    ) -> impl Future<Output = Result<RecordOutcome, MediaError>> + Send {
        let _ = spec;
        async { Err(unsupported()) }
    }

    /// Joins conference room `room` (created with `options`' room settings if it does not exist) and stays
    /// until the caller presses `options.exit_key` ([`RoomExit::Left`]), the room ends with its last
    /// moderator ([`RoomExit::Ended`]) or the caller hangs up (`Err(HungUp)`).
    /// [`RoomExit::Full`] at once when the room has its maximum of members.
    fn join_room(
        &mut self,
        room: &str,
        options: &RoomOptions,
    ) -> impl Future<Output = Result<RoomExit, MediaError>> + Send {
        let _ = (room, options);
        async { Err(unsupported()) }
    }

    /// Transfers the call to `target` (a `sip:`, `sips:` or `tel:` URI): [`TransferMode::Redirect`] answers
    /// 302 with it as Contact (only before the answer); [`TransferMode::Refer`] sends REFER in the dialog
    /// and, once the peer accepts (2xx/NOTIFY trying), ends our leg with BYE. Never called with
    /// [`TransferMode::Auto`]. `Ok(true)`: the call has left us; `Ok(false)`: the peer refused the REFER and
    /// the call is still up.
    fn transfer(
        &mut self,
        target: &str,
        mode: TransferMode,
    ) -> impl Future<Output = Result<bool, MediaError>> + Send {
        let _ = (target, mode);
        async { Err(unsupported()) }
    }

    /// Sends `digits` to the caller, one key after another (each of `0-9`, `*`, `#`, `A-D`): each sounds
    /// for `duration`, then `gap` passes before the next; it returns when the last key's gap is over.
    /// As RFC 4733 telephone-events when the call negotiated them, as in-band tones in the audio
    /// otherwise. Called only once the call is answered. Keys the caller presses meanwhile are buffered.
    fn send_dtmf(
        &mut self,
        digits: &str,
        duration: Duration,
        gap: Duration,
    ) -> impl Future<Output = Result<(), MediaError>> + Send {
        let _ = (digits, duration, gap);
        async { Err(unsupported()) }
    }

    /// Ends the call with a reason: once answered a BYE (as [`CallMedia::hangup`]), before the answer the
    /// reason's [`HangupReason::status_before_answer`]. The default ignores the reason.
    fn hangup_with(&mut self, reason: HangupReason) -> impl Future<Output = ()> + Send {
        let _ = reason;
        self.hangup()
    }

    /// The wall-clock time, for `time` conditions and the `timestamp`, `date` and `time` variables.
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    /// The recording `name` (a file name, `.wav` optional, or a path whose file name is taken) from the
    /// recordings directory, decoded at the call's rate; `None` when there is no such recording or it
    /// cannot be decoded (logged; the dialplan goes on).
    fn recording(
        &mut self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Prompt>, MediaError>> + Send {
        let _ = name;
        async { Err(MediaError::Failed("not supported by this call".into())) }
    }

    /// A variable about the call itself, from its INVITE: `caller` (the user part of the From URI),
    /// `caller_name` (From's display name, empty when none), `called` (the user part of the
    /// Request-URI), `call_id`. `None` for any other name (and by default).
    fn call_var(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }
}

/// How a dialplan run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The caller hung up during a step.
    CallerHungUp,
    /// The dialplan hung up (a `hangup` step, or the steps ran out: `normal`).
    DialplanHungUp(HangupReason),
    /// The call was transferred to this URI.
    Transferred(String),
    /// A step failed; the call was hung up.
    Failed(String),
}

/// Most `goto`s one call may take: menus wait for keys, so a real caller never gets near it; it bounds a
/// plan that loops on invalid input without any prompt.
const MAX_GOTOS: u32 = 1000;

/// Runs `route` for one call with no variables but the built-in ones. See [`run_with_vars`].
pub async fn run<M: CallMedia>(route: &Route, prompts: &PromptCache, media: &mut M) -> Outcome {
    let mut vars = Vars::new();
    run_with_vars(route, prompts, media, &mut vars).await
}

/// Runs `route` for one call; `vars` starts with the route's captures and holds the call's variables when
/// it returns (for the call log). Media steps answer first when the route did not; falling off the end of
/// the steps hangs up, as in every PBX.
pub async fn run_with_vars<M: CallMedia>(
    route: &Route,
    prompts: &PromptCache,
    media: &mut M,
    vars: &mut Vars,
) -> Outcome {
    let mut r = Runner {
        media,
        prompts,
        vars,
        route,
    };
    let mut flow = r.steps(&route.steps).await;
    let mut gotos = 0;
    loop {
        match flow {
            Ok(Flow::Next) => {
                r.media.hangup_with(HangupReason::Normal).await;
                return Outcome::DialplanHungUp(HangupReason::Normal);
            }
            Ok(Flow::End(o)) => return o,
            Ok(Flow::Goto(m)) => {
                gotos += 1;
                if gotos > MAX_GOTOS {
                    flow = Err(MediaError::Failed(format!(
                        "more than {MAX_GOTOS} gotos in one call"
                    )));
                    continue;
                }
                flow = r.menu(&m).await;
            }
            Err(MediaError::HungUp) => return Outcome::CallerHungUp,
            Err(MediaError::Failed(reason)) => {
                r.media.hangup().await;
                return Outcome::Failed(reason);
            }
        }
    }
}

/// What a step leaves the interpreter to do next.
enum Flow {
    /// Go on with the next step.
    Next,
    /// Leave the current steps and run this menu.
    Goto(String),
    /// The call is over.
    End(Outcome),
}

type Res = Result<Flow, MediaError>;
type BoxRes<'b> = Pin<Box<dyn Future<Output = Res> + Send + 'b>>;

struct Runner<'a, M> {
    media: &'a mut M,
    prompts: &'a PromptCache,
    vars: &'a mut Vars,
    route: &'a Route,
}

impl<'a, M: CallMedia> Runner<'a, M> {
    fn steps<'b>(&'b mut self, steps: &'b [Step]) -> BoxRes<'b> {
        Box::pin(async move {
            for step in steps {
                match self.step(step).await? {
                    Flow::Next => {}
                    other => return Ok(other),
                }
            }
            Ok(Flow::Next)
        })
    }

    fn step<'b>(&'b mut self, step: &'b Step) -> BoxRes<'b> {
        Box::pin(async move {
            match step {
                Step::Answer => self.media.answer().await?,
                Step::Progress => {
                    if !self.media.is_answered() && !self.media.progress().await? {
                        tracing::info!(
                            "progress: no early media (the INVITE had no SDP offer); 180 sent instead"
                        );
                    }
                }
                Step::Ring(d) => {
                    self.media.ring().await?;
                    self.media.pause(*d).await?;
                }
                Step::Pause(d) => self.media.pause(*d).await?,
                Step::Play(p) => {
                    self.media_first().await?;
                    for name in &p.prompts {
                        let prompt = self.prompt(name)?;
                        if p.barge_in {
                            if self.media.play_until_digit(&prompt).await?.is_some() {
                                break;
                            }
                        } else {
                            self.media.play(&prompt).await?;
                        }
                    }
                }
                Step::PlayRecording(p) => {
                    self.media_first().await?;
                    let name = self.expand(&p.recording);
                    match self.media.recording(&name).await? {
                        Some(rec) if p.barge_in => {
                            self.media.play_until_digit(&rec).await?;
                        }
                        Some(rec) => self.media.play(&rec).await?,
                        None => tracing::warn!(recording = %name, "no such recording to play"),
                    }
                }
                Step::SayDigits(t) => {
                    let text = self.expand(t);
                    let names: Vec<String> = text.chars().filter_map(digit_prompt).collect();
                    self.play_names(&names).await?;
                }
                Step::SayNumber(t) => {
                    let text = self.expand(t);
                    match number_prompts(&text) {
                        Some(names) => self.play_names(&names).await?,
                        None => {
                            tracing::warn!(value = %text, "say_number: not a whole number, saying nothing");
                        }
                    }
                }
                Step::Echo(max) => {
                    self.answer_first().await?;
                    self.media.echo(*max).await?;
                }
                Step::Hangup(reason) => {
                    self.media.hangup_with(*reason).await;
                    return Ok(Flow::End(Outcome::DialplanHungUp(*reason)));
                }
                Step::Set(pairs) => {
                    for (k, t) in pairs {
                        let v = self.expand(t);
                        self.vars.insert(k.clone(), v);
                    }
                }
                Step::If(i) => {
                    let branch = if self.test(&i.condition) {
                        &i.then
                    } else {
                        &i.otherwise
                    };
                    return self.steps(branch).await;
                }
                Step::Switch(s) => {
                    let v = self.var(&s.var).unwrap_or_default();
                    let branch = s
                        .cases
                        .iter()
                        .find(|(k, _)| *k == v)
                        .map(|(_, steps)| steps)
                        .unwrap_or(&s.default);
                    return self.steps(branch).await;
                }
                Step::Menu(name) => return self.menu(name).await,
                Step::Goto(name) => return Ok(Flow::Goto(name.clone())),
                Step::Collect(c) => return self.collect(c).await,
                Step::Record(r) => return self.record(r).await,
                Step::RecordCallControl(c) => self.media.control_call_recording(*c).await?,
                Step::RecordCall(r) => {
                    self.media_first().await?;
                    let name = safe_file_name(&self.expand(&r.name));
                    let path = match self.media.record_call(&name, r.stereo).await? {
                        Some(path) => path.display().to_string(),
                        None => {
                            tracing::warn!(%name, "call recording not started; the call goes on");
                            String::new()
                        }
                    };
                    if let Some(v) = &r.into {
                        self.vars.insert(v.clone(), path);
                    }
                }
                Step::Conference(c) => {
                    self.answer_first().await?;
                    let room = self.expand(&c.room);
                    if room.is_empty() {
                        return Err(MediaError::Failed("conference room name is empty".into()));
                    }
                    let mut options = std::borrow::Cow::Borrowed(&c.options);
                    if let Some(p) = &c.pin {
                        match self.check_pin(p).await? {
                            None => return Ok(Flow::Next),
                            Some(true) => options.to_mut().moderator = true,
                            Some(false) => {}
                        }
                    }
                    if self.media.join_room(&room, &options).await? == RoomExit::Full {
                        self.play_names(&c.full).await?;
                    }
                }
                Step::Transfer(t) => {
                    let target = self.expand(&t.to);
                    let mode = match t.mode {
                        TransferMode::Auto if self.media.is_answered() => TransferMode::Refer,
                        TransferMode::Auto => TransferMode::Redirect,
                        m => m,
                    };
                    if self.media.transfer(&target, mode).await? {
                        return Ok(Flow::End(Outcome::Transferred(target)));
                    }
                    tracing::info!(%target, "transfer refused; the call goes on");
                }
                Step::SendDtmf(s) => {
                    let text = self.expand(&s.digits);
                    let (parts, skipped) = dtmf_parts(&text);
                    if skipped {
                        tracing::warn!(value = %text, "send_dtmf: skipping characters that are not keys");
                    }
                    if parts.iter().any(|p| matches!(p, DtmfPart::Keys(_))) {
                        // Like every media step: the keys go to an answered call.
                        self.media_first().await?;
                        for part in parts {
                            match part {
                                DtmfPart::Keys(keys) => {
                                    self.media.send_dtmf(&keys, s.duration, s.gap).await?
                                }
                                DtmfPart::Pause(d) => self.media.pause(d).await?,
                            }
                        }
                    }
                }
            }
            Ok(Flow::Next)
        })
    }

    /// Answers unless answered: for the steps that need an answered call (`echo`, `record`,
    /// `conference`).
    async fn answer_first(&mut self) -> Result<(), MediaError> {
        if self.media.is_answered() {
            Ok(())
        } else {
            self.media.answer().await
        }
    }

    /// Answers unless media already flows (answered, or early media after `progress`): for the steps
    /// that play or listen.
    async fn media_first(&mut self) -> Result<(), MediaError> {
        if self.media.has_media() {
            Ok(())
        } else {
            self.media.answer().await
        }
    }

    fn prompt(&self, name: &str) -> Result<std::sync::Arc<Prompt>, MediaError> {
        self.prompts
            .get(name, self.media.sample_rate())
            .map_err(|e| MediaError::Failed(e.to_string()))
    }

    async fn play_names(&mut self, names: &[String]) -> Result<(), MediaError> {
        if names.is_empty() {
            return Ok(());
        }
        self.media_first().await?;
        for name in names {
            let p = self.prompt(name)?;
            self.media.play(&p).await?;
        }
        Ok(())
    }

    /// Plays prompts with barge-in; true when a key stopped them (it is still buffered).
    async fn play_barge_in(&mut self, names: &[String]) -> Result<bool, MediaError> {
        self.media_first().await?;
        for name in names {
            let p = self.prompt(name)?;
            if self.media.play_until_digit(&p).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn flush_digits(&mut self) -> Result<(), MediaError> {
        while self.media.next_digit(Duration::ZERO).await?.is_some() {}
        Ok(())
    }

    fn local_now(&self) -> LocalTime {
        self.route.shared.clock.local(self.media.now())
    }

    fn expand(&self, t: &crate::model::Template) -> String {
        t.expand(|name| self.var(name))
    }

    /// A variable's value: set by the dialplan (captures, `set`, `collect`...), else a built-in one.
    fn var(&self, name: &str) -> Option<String> {
        if let Some(v) = self.vars.get(name) {
            return Some(v.clone());
        }
        if let Some(v) = self.media.call_var(name) {
            return Some(v);
        }
        let now = || self.local_now();
        match name {
            "route" => Some(self.route.name.clone()),
            "timestamp" => Some(now().compact()),
            "date" => {
                let n = now();
                Some(format!("{:04}-{:02}-{:02}", n.year, n.month, n.day))
            }
            "time" => {
                let n = now();
                Some(format!("{:02}:{:02}", n.hour, n.minute))
            }
            _ => None,
        }
    }

    fn test(&self, c: &Condition) -> bool {
        let get = |v: &str| self.var(v).unwrap_or_default();
        match c {
            Condition::Equals(v, t) => get(v) == self.expand(t),
            Condition::Matches(v, p) => p.0.is_match(&get(v)),
            Condition::Empty(v, want) => get(v).is_empty() == *want,
            Condition::Time(w) => w.contains(&self.local_now()),
        }
    }

    async fn menu(&mut self, name: &str) -> Res {
        let Some(menu) = self.route.shared.menus.get(name) else {
            return Err(MediaError::Failed(format!("undefined menu '{name}'")));
        };
        let menu: &'a Menu = menu;
        self.media_first().await?;
        for attempt in 0..menu.tries {
            if attempt > 0 {
                self.flush_digits().await?;
            }
            self.play_barge_in(&menu.prompts).await?;
            match self.media.next_digit(menu.timeout).await? {
                None => self.play_names(&menu.no_input).await?,
                Some(k) => match menu.choices.iter().find(|(c, _)| *c == k) {
                    Some((_, steps)) => return self.steps(steps).await,
                    None => self.play_names(&menu.invalid).await?,
                },
            }
        }
        match &menu.on_failure {
            Some(steps) => self.steps(steps).await,
            None => {
                self.media.hangup_with(HangupReason::Normal).await;
                Ok(Flow::End(Outcome::DialplanHungUp(HangupReason::Normal)))
            }
        }
    }

    async fn collect(&mut self, c: &Collect) -> Res {
        self.media_first().await?;
        for attempt in 0..c.tries {
            if attempt > 0 {
                self.flush_digits().await?;
            }
            self.play_barge_in(&c.prompts).await?;
            match self.read_input(c).await? {
                None => self.play_names(&c.no_input).await?,
                Some(input) => {
                    let ok = input.chars().count() >= c.min
                        && c.pattern.as_ref().is_none_or(|p| p.0.is_match(&input));
                    if ok {
                        self.vars.insert(c.into.clone(), input);
                        return Ok(Flow::Next);
                    }
                    self.play_names(&c.invalid).await?;
                }
            }
        }
        self.vars.insert(c.into.clone(), String::new());
        self.steps(&c.on_failure).await
    }

    /// Asks for a conference PIN: `Some(moderator)` once the caller keyed the members' PIN (`false`) or
    /// the moderator PIN (`true`), `None` after `tries` wrong ones (each followed by `bad_pin`). Keys
    /// end with `#`, when the longest PIN is in, or 3 s after the last key (5 s for the first).
    async fn check_pin(&mut self, p: &PinCheck) -> Result<Option<bool>, MediaError> {
        let pin = self.expand(&p.pin);
        let moderator_pin = p.moderator_pin.as_ref().map(|t| self.expand(t));
        if pin.is_empty() {
            tracing::warn!("conference: the PIN is empty; no PIN asked");
            return Ok(Some(false));
        }
        let moderator_pin = moderator_pin.filter(|m| !m.is_empty());
        let max = pin
            .chars()
            .count()
            .max(moderator_pin.as_ref().map_or(0, |m| m.chars().count()));
        let keys = Collect {
            into: String::new(),
            prompts: Vec::new(),
            min: 1,
            max,
            terminators: "#".into(),
            first_digit_timeout: Duration::from_secs(5),
            digit_timeout: Duration::from_secs(3),
            tries: p.tries,
            no_input: Vec::new(),
            invalid: Vec::new(),
            pattern: None,
            on_failure: Vec::new(),
        };
        for attempt in 0..p.tries {
            if attempt > 0 {
                self.flush_digits().await?;
            }
            self.play_barge_in(&p.prompt).await?;
            let input = self.read_input(&keys).await?.unwrap_or_default();
            if moderator_pin.as_deref() == Some(input.as_str()) {
                return Ok(Some(true));
            }
            if input == pin {
                return Ok(Some(false));
            }
            tracing::info!(try_ = attempt + 1, of = p.tries, "conference: wrong PIN");
            self.play_names(&p.bad_pin).await?;
        }
        Ok(None)
    }

    /// One try's keys: `None` when nothing at all was pressed before the first-digit timeout.
    async fn read_input(&mut self, c: &Collect) -> Result<Option<String>, MediaError> {
        let mut input = String::new();
        let mut timeout = c.first_digit_timeout;
        loop {
            let Some(k) = self.media.next_digit(timeout).await? else {
                return Ok((timeout != c.first_digit_timeout || !input.is_empty()).then_some(input));
            };
            if c.terminators.contains(k) {
                return Ok(Some(input));
            }
            input.push(k);
            if input.chars().count() >= c.max {
                return Ok(Some(input));
            }
            timeout = c.digit_timeout;
        }
    }

    async fn record(&mut self, r: &Record) -> Res {
        self.answer_first().await?;
        if r.beep {
            let beep = self.prompt("beep")?;
            self.media.play(&beep).await?;
        }
        // A key pressed before the recording (a menu choice, a terminator typed early) must not end it.
        self.flush_digits().await?;
        let spec = RecordSpec {
            name: safe_file_name(&self.expand(&r.name)),
            max: r.max,
            terminators: r.terminators.clone(),
            silence: r.silence,
        };
        let out = self.media.record(spec).await?;
        let path = match &out.stop {
            RecordStop::Failed(reason) => {
                tracing::warn!(%reason, "recording failed; the call goes on");
                String::new()
            }
            _ => out.path.display().to_string(),
        };
        if let Some(v) = &r.into {
            self.vars.insert(v.clone(), path);
        }
        if out.stop == RecordStop::HungUp {
            return Err(MediaError::HungUp);
        }
        Ok(Flow::Next)
    }
}

/// A recording name safe as a file name: `[A-Za-z0-9._-]`, no leading dot, at most 100 characters.
pub fn safe_file_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.is_empty() {
        out.push_str("recording");
    }
    out
}

fn digit_prompt(c: char) -> Option<String> {
    match c {
        '0'..='9' => Some(format!("digit-{c}")),
        '*' => Some("digit-star".into()),
        '#' => Some("digit-pound".into()),
        _ => None,
    }
}

/// The `number-*` prompts that speak `text` (a whole number below a billion, leading zeros allowed).
pub fn number_prompts(text: &str) -> Option<Vec<String>> {
    let t = text.trim();
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let t = t.trim_start_matches('0');
    let n: u64 = if t.is_empty() { 0 } else { t.parse().ok()? };
    if n >= 1_000_000_000 {
        return None;
    }
    let mut out = Vec::new();
    if n == 0 {
        out.push("number-0".to_string());
    }
    say_below_billion(n, &mut out);
    Some(out)
}

fn say_below_billion(n: u64, out: &mut Vec<String>) {
    let groups = [(1_000_000, "million"), (1000, "thousand")];
    let mut n = n;
    for (size, word) in groups {
        if n >= size {
            say_below_thousand(n / size, out);
            out.push(format!("number-{word}"));
            n %= size;
        }
    }
    say_below_thousand(n, out);
}

fn say_below_thousand(n: u64, out: &mut Vec<String>) {
    let mut n = n;
    if n >= 100 {
        out.push(format!("number-{}", n / 100));
        out.push("number-hundred".into());
        n %= 100;
    }
    if n >= 20 {
        out.push(format!("number-{}", n / 10 * 10));
        n %= 10;
    }
    if n > 0 {
        out.push(format!("number-{n}"));
    }
}

/// What a `send_dtmf` value asks for, in order.
#[derive(Debug, PartialEq, Eq)]
enum DtmfPart {
    /// Keys sent one after another (upper case).
    Keys(String),
    /// A pause between keys.
    Pause(Duration),
}

/// Cuts an expanded `send_dtmf` value into runs of keys and pauses (`w` half a second, `W` a second;
/// consecutive pauses add up); says whether characters that are neither were skipped. `a`-`d` are
/// keys `A`-`D`.
fn dtmf_parts(text: &str) -> (Vec<DtmfPart>, bool) {
    let mut parts: Vec<DtmfPart> = Vec::new();
    let mut skipped = false;
    for c in text.chars() {
        let pause = match c {
            'w' => Some(Duration::from_millis(500)),
            'W' => Some(Duration::from_secs(1)),
            _ => None,
        };
        match (pause, parts.last_mut()) {
            (Some(d), Some(DtmfPart::Pause(p))) => *p += d,
            (Some(d), _) => parts.push(DtmfPart::Pause(d)),
            (None, last) => {
                let key = c.to_ascii_uppercase();
                if !DTMF_KEYS.contains(key) {
                    skipped = true;
                    continue;
                }
                match last {
                    Some(DtmfPart::Keys(k)) => k.push(key),
                    _ => parts.push(DtmfPart::Keys(key.to_string())),
                }
            }
        }
    }
    (parts, skipped)
}

#[cfg(test)]
mod tests;
