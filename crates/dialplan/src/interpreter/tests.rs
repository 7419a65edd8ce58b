//! Every step and every collect/menu timing rule, on tokio's paused clock against an in-memory call.

use super::*;
use crate::model::Dialplan;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::OnceLock;
use tokio::time::Instant;

/// An in-memory call: keys pressed at scripted times, prompts lasting their real length, everything it is
/// asked to do written to `log` with the virtual time in milliseconds.
struct FakeCall {
    start: Instant,
    log: Vec<(u128, String)>,
    answered: bool,
    hangup_at: Option<Duration>,
    /// Keys the caller presses, at times from the start of the call.
    presses: VecDeque<(Duration, char)>,
    wall_start: SystemTime,
    /// When the caller falls silent during a recording (from the start of the call).
    silent_from: Option<Duration>,
    record_fails: bool,
    room_full: bool,
    /// Names this call recorded: `recording` finds them.
    recorded: Vec<String>,
    transfer_ok: bool,
    /// Early media is up (`progress`).
    early: bool,
    /// The INVITE had no SDP offer: `progress` cannot give early media.
    late_offer: bool,
}

impl FakeCall {
    fn new(hangup_at: Option<Duration>) -> FakeCall {
        FakeCall {
            start: Instant::now(),
            log: Vec::new(),
            answered: false,
            hangup_at,
            presses: VecDeque::new(),
            // Wednesday 2026-12-02 06:15:00 UTC.
            wall_start: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_192_100),
            silent_from: None,
            record_fails: false,
            room_full: false,
            recorded: Vec::new(),
            transfer_ok: true,
            early: false,
            late_offer: false,
        }
    }

    /// Keys pressed at the given milliseconds.
    fn keys(mut self, keys: &[(u64, char)]) -> FakeCall {
        self.presses = keys
            .iter()
            .map(|(ms, k)| (Duration::from_millis(*ms), *k))
            .collect();
        self
    }

    fn note(&mut self, what: impl Into<String>) {
        self.log
            .push((self.start.elapsed().as_millis(), what.into()));
    }

    fn entries(&self) -> Vec<String> {
        self.log.iter().map(|(t, s)| format!("{t} {s}")).collect()
    }

    /// Waits until `at` (an instant), or fails at the caller's hangup if that comes first.
    async fn wait_until(&mut self, at: Instant) -> Result<(), MediaError> {
        if let Some(h) = self.hangup_at {
            let hang = self.start + h;
            if hang <= at {
                tokio::time::sleep_until(hang).await;
                self.note("caller-bye");
                return Err(MediaError::HungUp);
            }
        }
        tokio::time::sleep_until(at).await;
        Ok(())
    }

    /// The next key press: its instant and the key.
    fn next_press(&self) -> Option<(Instant, char)> {
        self.presses.front().map(|(t, k)| (self.start + *t, *k))
    }

    fn buffered(&self) -> Option<char> {
        self.next_press()
            .filter(|(t, _)| *t <= Instant::now())
            .map(|(_, k)| k)
    }
}

impl CallMedia for FakeCall {
    async fn answer(&mut self) -> Result<(), MediaError> {
        if !self.answered {
            self.answered = true;
            self.note("answer");
        }
        Ok(())
    }
    async fn ring(&mut self) -> Result<(), MediaError> {
        self.note("ring");
        Ok(())
    }
    async fn play(&mut self, prompt: &Prompt) -> Result<(), MediaError> {
        self.note(format!("play {}", prompt.name));
        let end = Instant::now() + prompt_len(prompt);
        self.wait_until(end).await
    }
    async fn echo(&mut self, max: Option<Duration>) -> Result<(), MediaError> {
        self.note("echo");
        let end = Instant::now() + max.unwrap_or(Duration::from_secs(3600));
        self.wait_until(end).await
    }
    async fn pause(&mut self, d: Duration) -> Result<(), MediaError> {
        let end = Instant::now() + d;
        self.wait_until(end).await
    }
    async fn hangup(&mut self) {
        self.note("hangup");
    }
    async fn hangup_with(&mut self, reason: HangupReason) {
        self.note(format!("hangup {}", reason.name()));
    }
    fn is_answered(&self) -> bool {
        self.answered
    }
    async fn recording(&mut self, name: &str) -> Result<Option<Prompt>, MediaError> {
        // "msg-1" and what this call recorded exist (1.5 s each), by name or as `record ... into` gives.
        let stem = std::path::Path::new(name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let known = stem == "msg-1" || self.recorded.contains(&stem);
        self.note(format!("load recording {name}"));
        Ok(known.then(|| Prompt {
            name: stem.clone(),
            rate: 8000,
            samples: vec![0i16; 12_000].into(),
        }))
    }
    fn call_var(&self, name: &str) -> Option<String> {
        match name {
            "caller" => Some("4711".into()),
            "caller_name" => Some("Alice".into()),
            "called" => Some("t".into()),
            "call_id" => Some("abc@host".into()),
            "sip_h_X-Tenant" => Some("acme".into()),
            _ => None,
        }
    }
    fn has_media(&self) -> bool {
        self.answered || self.early
    }
    async fn control_call_recording(&mut self, c: RecordCallControl) -> Result<(), MediaError> {
        self.note(format!("record_call {c:?}"));
        Ok(())
    }
    async fn record_call(
        &mut self,
        name: &str,
        stereo: bool,
    ) -> Result<Option<PathBuf>, MediaError> {
        assert!(self.has_media(), "a call recording needs media");
        let st = if stereo { " stereo" } else { "" };
        self.note(format!("record_call {name}{st}"));
        Ok((!self.record_fails).then(|| PathBuf::from(format!("{name}.wav"))))
    }
    async fn progress(&mut self) -> Result<bool, MediaError> {
        assert!(!self.answered, "progress only before the answer");
        if self.late_offer {
            self.note("ring");
            return Ok(false);
        }
        self.early = true;
        self.note("progress");
        Ok(true)
    }
    fn sample_rate(&self) -> u32 {
        8000
    }
    fn now(&self) -> SystemTime {
        self.wall_start + self.start.elapsed()
    }

    async fn next_digit(&mut self, timeout: Duration) -> Result<Option<char>, MediaError> {
        let deadline = Instant::now() + timeout;
        match self.next_press() {
            Some((at, k)) if at <= deadline => {
                self.wait_until(at.max(Instant::now())).await?;
                self.presses.pop_front();
                self.note(format!("key {k}"));
                Ok(Some(k))
            }
            _ => {
                self.wait_until(deadline).await?;
                if !timeout.is_zero() {
                    self.note("no key");
                }
                Ok(None)
            }
        }
    }

    async fn play_until_digit(&mut self, prompt: &Prompt) -> Result<Option<char>, MediaError> {
        if let Some(k) = self.buffered() {
            self.note(format!("skip {} ({k} buffered)", prompt.name));
            return Ok(Some(k));
        }
        self.note(format!("play {}", prompt.name));
        let end = Instant::now() + prompt_len(prompt);
        match self.next_press() {
            Some((at, k)) if at < end => {
                self.wait_until(at).await?;
                self.note(format!("stop {} ({k})", prompt.name));
                Ok(Some(k))
            }
            _ => {
                self.wait_until(end).await?;
                Ok(None)
            }
        }
    }

    async fn record(&mut self, spec: RecordSpec) -> Result<RecordOutcome, MediaError> {
        self.recorded.push(spec.name.clone());
        self.note(format!(
            "record {} max={}s terms={}",
            spec.name,
            spec.max.as_secs(),
            spec.terminators
        ));
        let began = Instant::now();
        if self.record_fails {
            return Ok(RecordOutcome {
                stop: RecordStop::Failed("no space left on device".into()),
                path: PathBuf::new(),
                duration_ms: 0,
            });
        }
        let mut end = began + spec.max;
        let mut stop = RecordStop::MaxDuration;
        if let (Some(s), Some(from)) = (spec.silence, self.silent_from) {
            let at = (self.start + from).max(began) + s;
            if at < end {
                end = at;
                stop = RecordStop::Silence;
            }
        }
        while let Some((at, k)) = self.next_press() {
            if at >= end {
                break;
            }
            self.presses.pop_front();
            if spec.terminators.contains(k) {
                end = at;
                stop = RecordStop::Terminator(k);
                break;
            }
        }
        let stop = match self.wait_until(end).await {
            Ok(()) => stop,
            Err(_) => RecordStop::HungUp,
        };
        let duration_ms = (Instant::now() - began).as_millis() as u64;
        self.note(format!("recorded {duration_ms}ms {stop:?}"));
        Ok(RecordOutcome {
            stop,
            path: PathBuf::from(format!("{}.wav", spec.name)),
            duration_ms,
        })
    }

    async fn join_room(
        &mut self,
        room: &str,
        options: &RoomOptions,
    ) -> Result<RoomExit, MediaError> {
        let moderator = if options.moderator { " moderator" } else { "" };
        self.note(format!("join {room} muted={}{moderator}", options.muted));
        if self.room_full {
            return Ok(RoomExit::Full);
        }
        loop {
            let Some((at, k)) = self.next_press() else {
                self.wait_until(self.start + Duration::from_secs(36_000))
                    .await?;
                continue;
            };
            self.wait_until(at.max(Instant::now())).await?;
            self.presses.pop_front();
            if Some(k) == options.exit_key {
                self.note("left room");
                return Ok(RoomExit::Left);
            }
        }
    }

    async fn transfer(&mut self, target: &str, mode: TransferMode) -> Result<bool, MediaError> {
        self.note(format!("transfer {target} {mode:?}"));
        Ok(self.transfer_ok)
    }

    /// Each key takes its duration and its gap; keys pressed meanwhile stay buffered.
    async fn send_dtmf(
        &mut self,
        digits: &str,
        duration: Duration,
        gap: Duration,
    ) -> Result<(), MediaError> {
        assert!(self.answered, "keys go to an answered call");
        self.note(format!(
            "send_dtmf {digits} {}ms/{}ms",
            duration.as_millis(),
            gap.as_millis()
        ));
        let end = Instant::now() + (duration + gap) * digits.chars().count() as u32;
        self.wait_until(end).await
    }
}

fn prompt_len(p: &Prompt) -> Duration {
    Duration::from_millis(p.samples.len() as u64 * 1000 / u64::from(p.rate))
}

/// Prompts of exact lengths, so timings in the tests are round numbers.
fn prompts() -> PromptCache {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("chorus-interp-prompts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut all: Vec<(String, u32)> = vec![
            ("hello".into(), 3000),
            ("welcome".into(), 1000),
            ("menu".into(), 2000),
            ("enter".into(), 2000),
            ("invalid".into(), 1000),
            ("no-input".into(), 500),
            ("goodbye".into(), 1000),
            ("beep".into(), 200),
            ("open".into(), 1000),
            ("closed".into(), 1000),
            ("full".into(), 700),
            ("enter-pin".into(), 1500),
        ];
        all.extend(
            crate::model::DIGIT_PROMPTS
                .iter()
                .map(|d| (d.to_string(), 300)),
        );
        all.extend(
            crate::model::NUMBER_PROMPTS
                .iter()
                .map(|d| (d.to_string(), 400)),
        );
        for (name, ms) in all {
            write_wav(&dir.join(format!("{name}.wav")), ms);
        }
        dir
    });
    PromptCache::new(dir)
}

fn write_wav(path: &Path, ms: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..ms * 8 {
        w.write_sample(((i % 16) as i16 - 8) * 1000).unwrap();
    }
    w.finalize().unwrap();
}

fn plan(yaml: &str) -> Dialplan {
    match Dialplan::parse("t.yaml", yaml, None) {
        Ok(p) => p,
        Err(e) => panic!("{e:?}"),
    }
}

async fn run_user(p: &Dialplan, user: &str, call: &mut FakeCall) -> (Outcome, Vars) {
    let (route, mut vars) = p.route(user).unwrap();
    let out = run_with_vars(route, &prompts(), call, &mut vars).await;
    (out, vars)
}

/// A plan with one route `t` running `steps` (YAML flow or block list, indented for the route).
fn one(steps: &str) -> Dialplan {
    plan(&format!("routes:\n  - match: t\n    steps:\n{steps}"))
}

// ---------------------------------------------------------------- basic steps

#[tokio::test(start_paused = true)]
async fn hello_plays_then_hangs_up() {
    let p = one("      - answer\n      - play: hello\n      - hangup\n");
    let mut call = FakeCall::new(None);
    let (out, _) = run_user(&p, "t", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::Normal));
    assert_eq!(
        call.entries(),
        ["0 answer", "0 play hello", "3000 hangup normal"]
    );
}

#[tokio::test(start_paused = true)]
async fn ring_waits_then_media_step_answers() {
    let p = one("      - ring: 2s\n      - echo\n");
    let mut call = FakeCall::new(Some(Duration::from_secs(5)));
    let (out, _) = run_user(&p, "t", &mut call).await;
    assert_eq!(out, Outcome::CallerHungUp);
    assert_eq!(
        call.entries(),
        ["0 ring", "2000 answer", "2000 echo", "5000 caller-bye"]
    );
}

#[tokio::test(start_paused = true)]
async fn caller_gone_before_answer_stops_without_hangup() {
    let p = one("      - ring: 2s\n      - echo\n");
    let mut call = FakeCall::new(Some(Duration::from_millis(500)));
    let (out, _) = run_user(&p, "t", &mut call).await;
    assert_eq!(out, Outcome::CallerHungUp);
    assert!(!call.answered);
}

#[tokio::test(start_paused = true)]
async fn falling_off_the_end_hangs_up() {
    let p = one("      - pause: 1s\n");
    let mut call = FakeCall::new(None);
    let (out, _) = run_user(&p, "t", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::Normal));
    assert_eq!(call.entries(), ["1000 hangup normal"]);
}

#[tokio::test(start_paused = true)]
async fn echo_for_a_while() {
    let p = one("      - echo: 10s\n      - echo_for: 1s\n");
    let mut call = FakeCall::new(None);
    run_user(&p, "t", &mut call).await;
    assert_eq!(
        call.entries(),
        ["0 answer", "0 echo", "10000 echo", "11000 hangup normal"]
    );
}

#[tokio::test(start_paused = true)]
async fn missing_prompt_fails_the_call_cleanly() {
    let p = one("      - play: nosuch\n");
    let mut call = FakeCall::new(None);
    let (out, _) = run_user(&p, "t", &mut call).await;
    assert!(
        matches!(out, Outcome::Failed(ref r) if r.contains("nosuch")),
        "{out:?}"
    );
    assert_eq!(call.log.last().map(|l| l.1.as_str()), Some("hangup"));
}

#[tokio::test(start_paused = true)]
async fn hangup_with_a_reason_before_answer() {
    let p = one("      - hangup: busy\n");
    let mut call = FakeCall::new(None);
    let (out, _) = run_user(&p, "t", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::Busy));
    assert_eq!(call.entries(), ["0 hangup busy"]);
    assert_eq!(HangupReason::Busy.status_before_answer(), 486);
}

#[tokio::test(start_paused = true)]
async fn play_with_barge_in_stops_and_keeps_the_key() {
    let p = one(
        "      - play: {prompt: [welcome, hello], barge_in: true}\n      - collect: {into: x, max: 1}\n",
    );
    let mut call = FakeCall::new(None).keys(&[(1500, '7')]);
    let (_, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(vars["x"], "7");
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 play welcome",
            "1000 play hello",
            "1500 stop hello (7)",
            "1500 key 7",
            "1500 hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn play_without_barge_in_plays_through_and_buffers_keys() {
    let p = one("      - play: [welcome, hello]\n      - collect: {into: x, max: 1}\n");
    let mut call = FakeCall::new(None).keys(&[(500, '3')]);
    let (_, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(vars["x"], "3");
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 play welcome",
            "1000 play hello",
            "4000 key 3",
            "4000 hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn say_digits_and_number() {
    let p = plan(
        "routes:\n  - match: 'n(?P<n>[0-9]*)'\n    steps:\n      - say_digits: \"{n}*\"\n      - say_number: \"{n}\"\n",
    );
    let mut call = FakeCall::new(None);
    run_user(&p, "n1205", &mut call).await;
    let plays: Vec<String> = call
        .log
        .iter()
        .filter_map(|(_, s)| s.strip_prefix("play ").map(String::from))
        .collect();
    assert_eq!(
        plays,
        [
            "digit-1",
            "digit-2",
            "digit-0",
            "digit-5",
            "digit-star",
            "number-1",
            "number-thousand",
            "number-2",
            "number-hundred",
            "number-5"
        ]
    );
    // A value that is not a number says nothing and the call goes on.
    let mut call = FakeCall::new(None);
    run_user(&p, "n", &mut call).await;
    assert_eq!(
        call.entries(),
        ["0 answer", "0 play digit-star", "300 hangup normal"]
    );
}

#[test]
fn number_words() {
    let w = |s: &str| number_prompts(s).map(|v| v.join(" ").replace("number-", ""));
    assert_eq!(w("0").as_deref(), Some("0"));
    assert_eq!(w("007").as_deref(), Some("7"));
    assert_eq!(w("19").as_deref(), Some("19"));
    assert_eq!(w("40").as_deref(), Some("40"));
    assert_eq!(w("99").as_deref(), Some("90 9"));
    assert_eq!(w("100").as_deref(), Some("1 hundred"));
    assert_eq!(
        w("2015").as_deref(),
        Some("2 thousand 10 5"[..].replace("10 5", "15").as_str())
    );
    assert_eq!(
        w("123456789").as_deref(),
        Some("1 hundred 20 3 million 4 hundred 50 6 thousand 7 hundred 80 9")
    );
    assert_eq!(w("1000000000"), None);
    assert_eq!(w("12a"), None);
    assert_eq!(w(""), None);
}

// ---------------------------------------------------------------- early media

#[tokio::test(start_paused = true)]
async fn progress_plays_and_refuses_without_answering() {
    let p = one("      - progress\n      - play: hello\n      - say_digits: '12'\n      - hangup: not_found\n");
    let mut call = FakeCall::new(None);
    let (out, _) = run_user(&p, "t", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::NotFound));
    assert_eq!(
        call.entries(),
        [
            "0 progress",
            "0 play hello",
            "3000 play digit-1",
            "3300 play digit-2",
            "3600 hangup not_found"
        ]
    );
    assert!(!call.answered);
}

#[tokio::test(start_paused = true)]
async fn after_progress_collect_listens_and_record_answers() {
    let p = one("      - progress
      - collect: {into: pin, max: 2, first_digit_timeout: 2s}
      - if: {var: pin, equals: '42'}
        then: [answer, echo: 1s]
      - record: {name: msg, beep: false, max: 2s}
");
    let mut call = FakeCall::new(None).keys(&[(100, '4'), (200, '2')]);
    let (_, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(vars["pin"], "42");
    assert_eq!(
        call.entries(),
        [
            "0 progress",
            "100 key 4",
            "200 key 2",
            "200 answer",
            "200 echo",
            "1200 record msg max=2s terms=#",
            "3200 recorded 2000ms MaxDuration",
            "3200 hangup normal"
        ]
    );
    let mut call = FakeCall::new(None);
    run_user(&p, "t", &mut call).await;
    let e = call.entries();
    assert_eq!(e[0], "0 progress");
    assert!(
        e.iter().any(|l| l.ends_with(" answer")) && e.iter().any(|l| l.contains("record msg")),
        "record answers the call first: {e:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn progress_without_an_offer_rings_and_play_answers() {
    let p = one("      - progress\n      - play: hello\n      - progress\n      - hangup\n");
    let mut call = FakeCall::new(None);
    call.late_offer = true;
    let (out, _) = run_user(&p, "t", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::Normal));
    assert_eq!(
        call.entries(),
        ["0 ring", "0 answer", "0 play hello", "3000 hangup normal"],
        "a progress once answered does nothing"
    );
}

// ---------------------------------------------------------------- collect timing

const COLLECT: &str = "      - collect:
          into: acct
          prompt: enter
          min: 2
          max: 4
          first_digit_timeout: 5s
          digit_timeout: 3s
          tries: 2
          no_input: no-input
          invalid: invalid
          on_failure: [{play: goodbye}]
      - play: hello
";

#[tokio::test(start_paused = true)]
async fn collect_first_digit_timeout_starts_after_the_prompt() {
    let p = one(COLLECT);
    let mut call = FakeCall::new(None);
    let (_, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(vars["acct"], "", "every try failed");
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 play enter",
            "7000 no key", // 2 s prompt + 5 s
            "7000 play no-input",
            "7500 play enter",
            "14500 no key",
            "14500 play no-input",
            "15000 play goodbye", // on_failure
            "16000 play hello",   // then the next step
            "19000 hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn collect_inter_digit_timeout_restarts_at_each_digit() {
    let p = one(COLLECT);
    // First key 4.9 s after the prompt ended, then gaps of 2.9 s: all in time. Input ends 3 s after the last.
    let mut call = FakeCall::new(None).keys(&[(6900, '1'), (9800, '2'), (12_700, '3')]);
    let (_, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(vars["acct"], "123");
    let e = call.entries();
    assert_eq!(
        e[2..],
        [
            "6900 key 1",
            "9800 key 2",
            "12700 key 3",
            "15700 no key",
            "15700 play hello",
            "18700 hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn collect_terminator_ends_input_and_is_not_included() {
    let p = one(COLLECT);
    let mut call = FakeCall::new(None).keys(&[(3000, '4'), (3500, '2'), (4000, '#')]);
    let (_, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(vars["acct"], "42");
    assert_eq!(
        call.entries()[4..],
        ["4000 key #", "4000 play hello", "7000 hangup normal"]
    );
}

#[tokio::test(start_paused = true)]
async fn collect_max_digits_ends_at_once_and_leaves_later_keys() {
    let p = one(&format!(
        "{COLLECT}      - collect: {{into: next, max: 1, first_digit_timeout: 1s}}\n"
    ));
    // The 5th key comes during `hello`, after the input ended at the 4th: it is the next collect's.
    let mut call = FakeCall::new(None).keys(&[
        (2100, '1'),
        (2200, '2'),
        (2300, '3'),
        (2400, '4'),
        (2500, '5'),
    ]);
    let (_, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(vars["acct"], "1234");
    assert_eq!(vars["next"], "5");
    assert_eq!(
        call.entries()[5..],
        [
            "2400 key 4",
            "2400 play hello",
            "5400 key 5",
            "5400 hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn collect_too_few_digits_is_invalid_then_retries() {
    let p = one(COLLECT);
    // Try 1: "7#" is below min 2. The key pressed during the invalid prompt (4.5 s) is flushed before try 2.
    let mut call = FakeCall::new(None).keys(&[
        (3000, '7'),
        (3200, '#'),
        (3900, '9'),
        (6000, '5'),
        (6100, '6'),
        (6200, '#'),
    ]);
    let (_, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(vars["acct"], "56");
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 play enter",
            "3000 key 7",
            "3200 key #",
            "3200 play invalid",
            "4200 key 9", // flushed: it belonged to the failed try
            "4200 play enter",
            "6000 stop enter (5)",
            "6000 key 5",
            "6100 key 6",
            "6200 key #",
            "6200 play hello",
            "9200 hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn collect_terminator_alone_is_invalid_not_no_input() {
    let p = one(COLLECT);
    let mut call = FakeCall::new(None).keys(&[(2500, '#')]);
    let (_, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(vars["acct"], "");
    let e = call.entries();
    assert_eq!(e[2..4], ["2500 key #", "2500 play invalid"]);
    assert!(e.contains(&"10500 play no-input".to_string()), "{e:?}");
}

#[tokio::test(start_paused = true)]
async fn collect_typed_ahead_keys_count_and_skip_the_prompt() {
    let p = one(&format!("      - play: welcome\n{COLLECT}"));
    // Both keys are pressed during `welcome` (no barge-in): collect finds them buffered.
    let mut call = FakeCall::new(None).keys(&[(300, '8'), (600, '8'), (1500, '#')]);
    let (_, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(vars["acct"], "88");
    assert_eq!(
        call.entries()[..6],
        [
            "0 answer",
            "0 play welcome",
            "1000 skip enter (8 buffered)",
            "1000 key 8",
            "1000 key 8",
            "1500 key #"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn collect_pattern_rejects_input() {
    let p = one(
        "      - collect: {into: pin, max: 4, pattern: '1[0-9]{3}', tries: 2, invalid: invalid}\n",
    );
    let mut call = FakeCall::new(None).keys(&[
        (100, '2'),
        (200, '2'),
        (300, '2'),
        (400, '2'),
        (2000, '1'),
        (2100, '9'),
        (2200, '9'),
        (2300, '9'),
    ]);
    let (_, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(vars["pin"], "1999");
    assert!(call.entries().contains(&"400 play invalid".to_string()));
}

#[tokio::test(start_paused = true)]
async fn collect_hangup_while_waiting() {
    let p = one(COLLECT);
    let mut call = FakeCall::new(Some(Duration::from_secs(4))).keys(&[(3000, '1')]);
    let (out, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(out, Outcome::CallerHungUp);
    assert!(!vars.contains_key("acct"));
    assert_eq!(call.entries().last().unwrap(), "4000 caller-bye");
}

// ---------------------------------------------------------------- menus

const IVR: &str = "menus:
  main:
    prompt: menu
    timeout: 5s
    tries: 3
    invalid: invalid
    no_input: no-input
    choices:
      1: [{play: goodbye}, hangup]
      2: {set: {picked: two}}
      3: {goto: sub}
      '*': {goto: main}
  sub:
    prompt: enter
    timeout: 2s
    tries: 1
    choices:
      9: {goto: main}
    on_failure: [{play: goodbye}, {hangup: unavailable}]
routes:
  - match: ivr
    steps:
      - answer
      - play: {prompt: welcome, barge_in: true}
      - menu: main
      - play: hello
";

#[tokio::test(start_paused = true)]
async fn menu_choice_runs_its_steps() {
    let p = plan(IVR);
    let mut call = FakeCall::new(None).keys(&[(2500, '1')]);
    let (out, _) = run_user(&p, "ivr", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::Normal));
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 play welcome",
            "1000 play menu",
            "2500 stop menu (1)",
            "2500 key 1",
            "2500 play goodbye",
            "3500 hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn menu_key_during_welcome_is_the_choice() {
    let p = plan(IVR);
    let mut call = FakeCall::new(None).keys(&[(200, '2')]);
    let (_, vars) = run_user(&p, "ivr", &mut call).await;
    assert_eq!(vars["picked"], "two");
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 play welcome",
            "200 stop welcome (2)",
            "200 skip menu (2 buffered)",
            "200 key 2",
            "200 play hello",
            "3200 hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn menu_invalid_and_timeout_retry_then_hang_up() {
    let p = plan(IVR);
    let mut call = FakeCall::new(None).keys(&[(3500, '7')]);
    let (out, _) = run_user(&p, "ivr", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::Normal));
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 play welcome",
            "1000 play menu",
            "3500 key 7", // after the prompt ended at 3000
            "3500 play invalid",
            "4500 play menu",
            "11500 no key",
            "11500 play no-input",
            "12000 play menu",
            "19000 no key",
            "19000 play no-input",
            "19500 hangup normal" // default on_failure
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn goto_leaves_the_steps_and_menus_chain() {
    let p = plan(IVR);
    // 3 -> sub; 9 -> back to main; 2 -> set; main was reached by goto, so `play: hello` is NOT run after it.
    let mut call = FakeCall::new(None).keys(&[(3000, '3'), (4000, '9'), (6000, '2')]);
    let (out, vars) = run_user(&p, "ivr", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::Normal));
    assert_eq!(vars["picked"], "two");
    let e = call.entries();
    assert!(!e.iter().any(|l| l.contains("hello")), "{e:?}");
    assert_eq!(e.last().unwrap(), "6000 hangup normal");
}

#[tokio::test(start_paused = true)]
async fn menu_on_failure_steps() {
    let p = plan(IVR);
    let mut call = FakeCall::new(None).keys(&[(1500, '3')]);
    let (out, _) = run_user(&p, "ivr", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::Unavailable));
    assert_eq!(
        call.entries()[5..],
        [
            "1500 play enter",
            "5500 no key",
            "5500 play goodbye",
            "6500 hangup unavailable"
        ]
    );
}

// ---------------------------------------------------------------- variables and conditions

#[tokio::test(start_paused = true)]
async fn set_if_switch() {
    let p = plan(
        "routes:
  - match: 'v(?P<num>[0-9])'
    steps:
      - set: {greeting: 'n={num}', brace: '{{x}}', nothing: ''}
      - if: {var: num, equals: '1'}
        then: [{play: open}]
        else: [{play: closed}]
      - if: {var: num, matches: '[0-4]'}
        then: {set: {low: 'yes'}}
      - if: {var: nothing, empty: true}
        then: {set: {was_empty: '{route}'}}
      - switch: num
        cases:
          1: {play: welcome}
          2: {play: goodbye}
        default: {play: hello}
",
    );
    let mut call = FakeCall::new(None);
    let (_, vars) = run_user(&p, "v1", &mut call).await;
    assert_eq!(vars["greeting"], "n=1");
    assert_eq!(vars["brace"], "{x}");
    assert_eq!(vars["low"], "yes");
    assert_eq!(vars["was_empty"], "route1");
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 play open",
            "1000 play welcome",
            "2000 hangup normal"
        ]
    );
    let mut call = FakeCall::new(None);
    let (_, vars) = run_user(&p, "v7", &mut call).await;
    assert!(!vars.contains_key("low"));
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 play closed",
            "1000 play hello",
            "4000 hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn business_hours_come_from_the_call_clock() {
    let yaml = |offset: &str| {
        format!(
            "utc_offset: '{offset}'
routes:
  - match: t
    steps:
      - if: {{time: ['Mon-Fri 09:00-17:00']}}
        then: [{{play: open}}]
        else: [{{play: closed}}]
      - set: {{stamp: '{{date}} {{time}} {{timestamp}}'}}
"
        )
    };
    // The fake call's clock reads Wednesday 06:15 UTC.
    let mut call = FakeCall::new(None);
    let (_, vars) = run_user(&plan(&yaml("UTC")), "t", &mut call).await;
    assert_eq!(call.log[1].1, "play closed");
    assert_eq!(vars["stamp"], "2026-12-02 06:15 20261202T061501000");
    let mut call = FakeCall::new(None);
    let (_, vars) = run_user(&plan(&yaml("+05:00")), "t", &mut call).await;
    assert_eq!(call.log[1].1, "play open", "11:15 local");
    assert_eq!(vars["stamp"], "2026-12-02 11:15 20261202T111501000");
}

#[tokio::test(start_paused = true)]
async fn business_hours_in_a_time_zone() {
    let yaml = |zone: &str| {
        format!(
            "timezone: {zone}
routes:
  - match: t
    steps:
      - if: {{time: ['Mon-Fri 09:00-17:00']}}
        then: [{{play: open}}]
        else: [{{play: closed}}]
      - set: {{stamp: '{{date}} {{time}}'}}
"
        )
    };
    // Wednesday 06:15 UTC in December: 07:15 in Paris (CET), 15:15 in Tokyo.
    let mut call = FakeCall::new(None);
    let (_, vars) = run_user(&plan(&yaml("Europe/Paris")), "t", &mut call).await;
    assert_eq!(call.log[1].1, "play closed");
    assert_eq!(vars["stamp"], "2026-12-02 07:15");
    let mut call = FakeCall::new(None);
    let (_, vars) = run_user(&plan(&yaml("Asia/Tokyo")), "t", &mut call).await;
    assert_eq!(call.log[1].1, "play open", "15:15 local");
    assert_eq!(vars["stamp"], "2026-12-02 15:15");
}

// ---------------------------------------------------------------- record, conference, transfer

const RECORD: &str = "      - play: {prompt: welcome, barge_in: true}
      - record: {name: 'vm-{box}-{timestamp}', max: 30s, silence: 3s, into: file}
      - play: goodbye
";

fn record_plan() -> Dialplan {
    plan(&format!(
        "routes:\n  - match: 'vm(?P<box>[0-9]+)'\n    steps:\n{RECORD}"
    ))
}

#[tokio::test(start_paused = true)]
async fn record_beeps_flushes_and_stops_on_terminator() {
    // '#' pressed during the greeting must not end the recording at once; the one at 10 s does.
    let mut call = FakeCall::new(None).keys(&[(500, '#'), (10_000, '#')]);
    let (_, vars) = run_user(&record_plan(), "vm12", &mut call).await;
    assert_eq!(vars["file"], "vm-12-20261202T061500700.wav");
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 play welcome",
            "500 stop welcome (#)",
            "500 play beep",
            "700 key #",
            "700 record vm-12-20261202T061500700 max=30s terms=#",
            "10000 recorded 9300ms Terminator('#')",
            "10000 play goodbye",
            "11000 hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn record_stops_on_max_and_on_silence() {
    let mut call = FakeCall::new(None);
    run_user(&record_plan(), "vm1", &mut call).await;
    assert!(
        call.entries()
            .contains(&"31200 recorded 30000ms MaxDuration".to_string()),
        "{:?}",
        call.entries()
    );
    let mut call = FakeCall::new(None);
    call.silent_from = Some(Duration::from_secs(5));
    run_user(&record_plan(), "vm1", &mut call).await;
    assert!(
        call.entries()
            .contains(&"8000 recorded 6800ms Silence".to_string()),
        "{:?}",
        call.entries()
    );
}

#[tokio::test(start_paused = true)]
async fn record_failure_lets_the_call_go_on_and_hangup_ends_it() {
    let mut call = FakeCall::new(None);
    call.record_fails = true;
    let (out, vars) = run_user(&record_plan(), "vm1", &mut call).await;
    assert_eq!(vars["file"], "");
    assert!(matches!(out, Outcome::DialplanHungUp(_)));
    assert!(call.entries().iter().any(|e| e.ends_with("play goodbye")));

    let mut call = FakeCall::new(Some(Duration::from_secs(5)));
    let (out, vars) = run_user(&record_plan(), "vm1", &mut call).await;
    assert_eq!(out, Outcome::CallerHungUp);
    assert!(
        vars["file"].ends_with(".wav"),
        "the recording made before the hangup is kept"
    );
}

#[tokio::test(start_paused = true)]
async fn record_name_cannot_escape_the_directory() {
    let p = plan(
        "routes:\n  - match: '(?P<x>.*)'\n    steps:\n      - record: {name: '{x}', beep: false}\n",
    );
    let mut call = FakeCall::new(None);
    let (_, _) = run_user(&p, "../../etc/passwd", &mut call).await;
    assert_eq!(call.log[1].1, "record _._.._etc_passwd max=60s terms=#");
}

#[tokio::test(start_paused = true)]
async fn conference_join_leave_and_full() {
    let p = plan(
        "routes:
  - match: 'conf-(?P<room>[0-9]+)'
    steps:
      - conference: {room: '{room}', muted: true, exit_key: '*', full: full}
      - play: goodbye
",
    );
    let mut call = FakeCall::new(None).keys(&[(1000, '5'), (4000, '*')]);
    run_user(&p, "conf-7", &mut call).await;
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 join 7 muted=true",
            "4000 left room",
            "4000 play goodbye",
            "5000 hangup normal"
        ]
    );
    let mut call = FakeCall::new(None);
    call.room_full = true;
    run_user(&p, "conf-7", &mut call).await;
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 join 7 muted=true",
            "0 play full",
            "700 play goodbye",
            "1700 hangup normal"
        ]
    );
    let mut call = FakeCall::new(Some(Duration::from_secs(9)));
    let (out, _) = run_user(&p, "conf-7", &mut call).await;
    assert_eq!(out, Outcome::CallerHungUp);
}

const PIN_ROOM: &str = "routes:
  - match: 'conf-(?P<room>[0-9]+)'
    steps:
      - conference: {room: '{room}', pin: '1234', moderator_pin: '98765'}
      - play: goodbye
  - match: 'open-(?P<code>[0-9]*)'
    steps:
      - conference: {room: open, pin: '{code}'}
";

#[tokio::test(start_paused = true)]
async fn conference_pin_typed_over_the_prompt_joins() {
    let p = plan(PIN_ROOM);
    // Keys during the 1.5 s prompt cut it; the PIN ends at '#'.
    let mut call = FakeCall::new(Some(Duration::from_secs(20))).keys(&[
        (500, '1'),
        (700, '2'),
        (900, '3'),
        (1100, '4'),
        (1300, '#'),
    ]);
    let (out, _) = run_user(&p, "conf-7", &mut call).await;
    assert_eq!(out, Outcome::CallerHungUp);
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 play enter-pin",
            "500 stop enter-pin (1)",
            "500 key 1",
            "700 key 2",
            "900 key 3",
            "1100 key 4",
            "1300 key #",
            "1300 join 7 muted=false",
            "20000 caller-bye"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn conference_moderator_pin_joins_as_moderator() {
    let p = plan(PIN_ROOM);
    // The longest PIN is 5 keys: the input ends at the fifth, no '#' needed.
    let keys: Vec<(u64, char)> = "98765"
        .chars()
        .enumerate()
        .map(|(i, k)| (2000 + 300 * i as u64, k))
        .collect();
    let mut call = FakeCall::new(Some(Duration::from_secs(10))).keys(&keys);
    run_user(&p, "conf-7", &mut call).await;
    let e = call.entries();
    assert_eq!(
        e[e.len() - 2..],
        ["3200 join 7 muted=false moderator", "10000 caller-bye"]
    );
}

#[tokio::test(start_paused = true)]
async fn conference_members_pin_then_timeout_when_a_longer_moderator_pin_exists() {
    let p = plan(PIN_ROOM);
    // 1234 without '#': the input waits for a fifth key 3 s, then it is the members' PIN.
    let mut call = FakeCall::new(Some(Duration::from_secs(10))).keys(&[
        (2000, '1'),
        (2100, '2'),
        (2200, '3'),
        (2300, '4'),
    ]);
    run_user(&p, "conf-7", &mut call).await;
    let e = call.entries();
    assert_eq!(
        e[e.len() - 3..],
        ["5300 no key", "5300 join 7 muted=false", "10000 caller-bye"]
    );
}

#[tokio::test(start_paused = true)]
async fn conference_three_wrong_pins_play_bad_pin_and_go_on() {
    let p = plan(PIN_ROOM);
    // Try 1: 1111#. Try 2: nothing (5 s after the prompt). Try 3: 12345 (five keys, wrong).
    let mut call = FakeCall::new(None).keys(&[
        (2000, '1'),
        (2100, '1'),
        (2200, '1'),
        (2300, '1'),
        (2400, '#'),
        (12_000, '1'),
        (12_100, '2'),
        (12_200, '3'),
        (12_300, '4'),
        (12_400, '5'),
    ]);
    let (out, _) = run_user(&p, "conf-7", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::Normal));
    let e = call.entries();
    assert!(!e.iter().any(|l| l.contains("join")), "{e:?}");
    let plays: Vec<&String> = e.iter().filter(|l| l.contains(" play ")).collect();
    assert_eq!(
        plays,
        [
            "0 play enter-pin",
            "2400 play invalid",
            "3400 play enter-pin",
            "9900 play invalid", // 3.4 + 1.5 s prompt + 5 s with no key
            "10900 play enter-pin",
            "12400 play invalid",
            "13400 play goodbye" // the next step
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn conference_pin_from_a_variable_and_empty_means_none() {
    let p = plan(PIN_ROOM);
    let mut call = FakeCall::new(Some(Duration::from_secs(5))).keys(&[(100, '4'), (200, '2')]);
    run_user(&p, "open-42", &mut call).await;
    assert_eq!(
        call.entries()[..6],
        [
            "0 answer",
            "0 play enter-pin",
            "100 stop enter-pin (4)",
            "100 key 4",
            "200 key 2",
            "200 join open muted=false"
        ]
    );
    let mut call = FakeCall::new(Some(Duration::from_secs(5)));
    run_user(&p, "open-", &mut call).await;
    assert_eq!(
        call.entries(),
        ["0 answer", "0 join open muted=false", "5000 caller-bye"]
    );
}

#[tokio::test(start_paused = true)]
async fn transfer_redirects_before_answer_and_refers_after() {
    let p = plan(
        "routes:
  - match: 'x(?P<ext>[0-9]+)'
    steps:
      - transfer: 'sip:{ext}@pbx.example.com'
  - match: 'y'
    steps:
      - answer
      - transfer: {to: 'tel:+15551234', mode: auto}
      - play: goodbye
",
    );
    let mut call = FakeCall::new(None);
    let (out, _) = run_user(&p, "x201", &mut call).await;
    assert_eq!(out, Outcome::Transferred("sip:201@pbx.example.com".into()));
    assert_eq!(
        call.entries(),
        ["0 transfer sip:201@pbx.example.com Redirect"]
    );
    let mut call = FakeCall::new(None);
    call.transfer_ok = false;
    let (out, _) = run_user(&p, "y", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::Normal));
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 transfer tel:+15551234 Refer",
            "0 play goodbye",
            "1000 hangup normal"
        ]
    );
}

// ---------------------------------------------------------------- record_call

#[tokio::test(start_paused = true)]
async fn record_call_starts_in_the_background_and_the_steps_go_on() {
    let p = plan(
        "routes:
  - match: 'q(?P<n>[0-9]+)'
    name: qa
    steps:
      - record_call: {into: whole}
      - play: hello
      - record_call: mask
      - record_call: unmask
      - record_call: stop
      - record_call: {name: 'call-{n}', into: second, stereo: true}
      - hangup
",
    );
    let mut call = FakeCall::new(None);
    let (_, vars) = run_user(&p, "q7", &mut call).await;
    assert_eq!(vars["whole"], "20261202T061500000-qa-call.wav");
    assert_eq!(vars["second"], "call-7.wav");
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 record_call 20261202T061500000-qa-call",
            "0 play hello",
            "3000 record_call Mask",
            "3000 record_call Unmask",
            "3000 record_call Stop",
            "3000 record_call call-7 stereo",
            "3000 hangup normal"
        ]
    );
    // In early media it records without answering; a failure leaves the variable empty.
    let p = one("      - progress\n      - record_call: {into: f}\n      - hangup: busy\n");
    let mut call = FakeCall::new(None);
    call.record_fails = true;
    let (_, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(vars["f"], "");
    assert!(!call.answered);
}

// ---------------------------------------------------------------- send_dtmf

#[tokio::test(start_paused = true)]
async fn send_dtmf_answers_first_and_takes_each_key_with_its_gap() {
    let p = plan(
        "routes:
  - match: 'p(?P<pin>.*)'
    steps:
      - pause: 1s
      - send_dtmf: {digits: '{pin}#', duration: 80ms, gap: 120ms}
      - send_dtmf: '*0'
      - collect: {into: x, max: 1, first_digit_timeout: 1s}
",
    );
    // A key pressed while ours are sent stays buffered for the next step.
    let mut call = FakeCall::new(None).keys(&[(1500, '5')]);
    let (out, vars) = run_user(&p, "p42", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::Normal));
    assert_eq!(vars["x"], "5");
    assert_eq!(
        call.entries(),
        [
            "1000 answer",
            "1000 send_dtmf 42# 80ms/120ms",
            "1600 send_dtmf *0 100ms/100ms",
            "2000 key 5",
            "2000 hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn send_dtmf_skips_what_is_not_a_key() {
    let p = plan(
        "routes:
  - match: 'p(?P<v>.*)'
    steps:
      - answer
      - send_dtmf: '{v}'
      - send_dtmf: '{v}9'
",
    );
    let mut call = FakeCall::new(None);
    run_user(&p, "p", &mut call).await;
    assert_eq!(
        call.entries(),
        ["0 answer", "0 send_dtmf 9 100ms/100ms", "200 hangup normal"],
        "an empty value sends nothing"
    );
    let mut call = FakeCall::new(None);
    run_user(&p, "p1-b x", &mut call).await;
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 send_dtmf 1B 100ms/100ms",
            "400 send_dtmf 1B9 100ms/100ms",
            "1000 hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn send_dtmf_pauses_on_w_and_big_w() {
    let p = plan(
        "routes:
  - match: 'p(?P<v>.*)'
    steps:
      - answer
      - send_dtmf: '9w12W#'
      - send_dtmf: '{v}'
",
    );
    let mut call = FakeCall::new(None);
    run_user(&p, "pwwA", &mut call).await;
    // 9 ends at 200 ms, w waits 500 ms, 12 take 400 ms, W waits 1 s, # takes 200 ms: 2300 ms. Then a
    // variable's pauses count too, and add up.
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 send_dtmf 9 100ms/100ms",
            "700 send_dtmf 12 100ms/100ms",
            "2100 send_dtmf # 100ms/100ms",
            "3300 send_dtmf A 100ms/100ms",
            "3500 hangup normal"
        ]
    );
}

#[test]
fn dtmf_parts_cut_keys_and_pauses() {
    let ms = Duration::from_millis;
    assert_eq!(
        dtmf_parts("w1a-Ww#"),
        (
            vec![
                DtmfPart::Pause(ms(500)),
                DtmfPart::Keys("1A".into()),
                DtmfPart::Pause(ms(1500)),
                DtmfPart::Keys("#".into()),
            ],
            true
        )
    );
    assert_eq!(dtmf_parts(""), (vec![], false));
    assert_eq!(dtmf_parts("x"), (vec![], true));
}

#[tokio::test(start_paused = true)]
async fn send_dtmf_caller_hangs_up_while_keys_go_out() {
    let p = one("      - send_dtmf: '123456'
      - play: goodbye
");
    let mut call = FakeCall::new(Some(Duration::from_millis(700)));
    let (out, _) = run_user(&p, "t", &mut call).await;
    assert_eq!(out, Outcome::CallerHungUp);
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 send_dtmf 123456 100ms/100ms",
            "700 caller-bye"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn call_variables_expand_and_branch() {
    let p = one(
        "      - set: {who: '{caller_name} <{caller}> to {called} ({call_id}) on {route}', tenant: '{sip_h_X-Tenant}/{sip_h_X-None}'}
      - if: {var: sip_h_X-Tenant, equals: acme}
        then: [{set: {vip: 'yes'}}]
      - if: {var: caller, matches: '47[0-9]+'}
        then: [{play: welcome}]
      - switch: caller_name
        cases: {Alice: [{play: hello}]}
      - if: {var: route, equals: route1}
        then: [{play: goodbye}]
",
    );
    let mut call = FakeCall::new(None);
    let (_, vars) = run_user(&p, "t", &mut call).await;
    assert_eq!(vars["who"], "Alice <4711> to t (abc@host) on route1");
    assert_eq!(
        vars["tenant"], "acme/",
        "a header the INVITE lacks is empty"
    );
    assert_eq!(vars["vip"], "yes");
    assert!(
        !vars.contains_key("caller"),
        "built-ins are not copied into vars"
    );
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 play welcome",
            "1000 play hello",
            "4000 play goodbye",
            "5000 hangup normal"
        ]
    );
    // A call that knows nothing of its parties: empty, not an error.
    let mut call = OldCall(FakeCall::new(None));
    let p = one("      - set: {who: '[{caller}]'}\n");
    let (route, mut vars) = p.route("t").unwrap();
    run_with_vars(route, &prompts(), &mut call, &mut vars).await;
    assert_eq!(vars["who"], "[]");
}

#[tokio::test(start_paused = true)]
async fn play_recording_by_into_value_or_name_and_missing_goes_on() {
    let p = one("      - set: {msg: 'recordings/msg-1.wav'}
      - play: {recording: '{msg}'}
      - play: {recording: 'msg-{caller}'}
      - play: {recording: msg-1, barge_in: true}
      - play: goodbye
");
    let mut call = FakeCall::new(None).keys(&[(2000, '1')]);
    run_user(&p, "t", &mut call).await;
    assert_eq!(
        call.entries(),
        [
            "0 answer",
            "0 load recording recordings/msg-1.wav",
            "0 play msg-1",
            "1500 load recording msg-4711", // none: logged, the dialplan goes on
            "1500 load recording msg-1",
            "1500 play msg-1",
            "2000 stop msg-1 (1)", // barge-in: the key stays buffered
            "2000 play goodbye",
            "3000 hangup normal"
        ]
    );
}

#[test]
fn play_takes_a_prompt_or_a_recording_not_both() {
    let e = Dialplan::parse(
        "t.yaml",
        "routes:\n  - match: t\n    steps:\n      - play: {prompt: hello, recording: x}\n      - play: {recording: '{nope}'}\n",
        None,
    )
    .unwrap_err();
    let msgs: Vec<String> = e.iter().map(|d| d.to_string()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].contains("play takes 'prompt' or 'recording', not both"),
        "{msgs:?}"
    );
    assert!(msgs[1].contains("undefined variable 'nope'"), "{msgs:?}");
}

/// A call that implements only the required methods: the new steps fail cleanly, the old ones work.
struct OldCall(FakeCall);

impl CallMedia for OldCall {
    async fn answer(&mut self) -> Result<(), MediaError> {
        self.0.answer().await
    }
    async fn ring(&mut self) -> Result<(), MediaError> {
        self.0.ring().await
    }
    async fn play(&mut self, p: &Prompt) -> Result<(), MediaError> {
        self.0.play(p).await
    }
    async fn echo(&mut self, max: Option<Duration>) -> Result<(), MediaError> {
        self.0.echo(max).await
    }
    async fn pause(&mut self, d: Duration) -> Result<(), MediaError> {
        self.0.pause(d).await
    }
    async fn hangup(&mut self) {
        self.0.hangup().await
    }
    fn is_answered(&self) -> bool {
        self.0.is_answered()
    }
    fn sample_rate(&self) -> u32 {
        8000
    }
}

#[tokio::test(start_paused = true)]
async fn default_methods_fail_as_not_supported() {
    let p = one("      - play: welcome\n      - collect: {into: x}\n");
    let mut call = OldCall(FakeCall::new(None));
    let out = run(&p.routes[0], &prompts(), &mut call).await;
    assert_eq!(out, Outcome::Failed("not supported by this call".into()));
    assert_eq!(
        call.0.entries(),
        ["0 answer", "0 play welcome", "1000 hangup"]
    );
    let p = one("      - send_dtmf: '1'\n");
    let mut call = OldCall(FakeCall::new(None));
    let out = run(&p.routes[0], &prompts(), &mut call).await;
    assert_eq!(out, Outcome::Failed("not supported by this call".into()));
}

// ---------------------------------------------------------------- the demo dialplan, with its real prompts

async fn demo(user: &str, call: &mut FakeCall) -> (Outcome, Vars, Vec<String>) {
    example("demo.yaml", user, call).await
}

/// Runs `user`'s route of `dialplans/<file>` with the real prompts.
async fn example(file: &str, user: &str, call: &mut FakeCall) -> (Outcome, Vars, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let plan = Dialplan::load(
        &root.join("dialplans").join(file),
        Some(&root.join("prompts")),
    )
    .unwrap();
    let (route, mut vars) = plan.route(user).unwrap();
    let out = run_with_vars(
        route,
        &PromptCache::new(root.join("prompts")),
        call,
        &mut vars,
    )
    .await;
    // What happened, without the times (they depend on the spoken prompts' lengths).
    let what = call
        .log
        .iter()
        .map(|(_, s)| s.clone())
        .filter(|s| !s.starts_with("stop ") && !s.starts_with("skip "))
        .collect();
    (out, vars, what)
}

#[tokio::test(start_paused = true)]
async fn demo_ivr_branches() {
    let mut call = FakeCall::new(None).keys(&[(500, '1')]);
    let (out, _, what) = demo("ivr", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::Normal));
    assert_eq!(
        what,
        [
            "answer",
            "play welcome",
            "key 1",
            "play goodbye",
            "hangup normal"
        ]
    );

    let mut call = FakeCall::new(None).keys(&[(500, '2'), (20_000, '#')]);
    let (_, vars, what) = demo("ivr", &mut call).await;
    assert!(
        vars["recording"].starts_with("ivr-20261202T0615"),
        "{vars:?}"
    );
    assert_eq!(what[..4], ["answer", "play welcome", "key 2", "play beep"]);
    assert!(
        what[4].starts_with("record ivr-") && what[4].ends_with("max=30s terms=#"),
        "{what:?}"
    );
    assert_eq!(what[6], "hangup normal");

    let mut call = FakeCall::new(Some(Duration::from_secs(60))).keys(&[(500, '3')]);
    let (out, _, what) = demo("ivr", &mut call).await;
    assert_eq!(out, Outcome::CallerHungUp);
    assert_eq!(
        what,
        [
            "answer",
            "play welcome",
            "key 3",
            "join 1 muted=false",
            "caller-bye"
        ]
    );

    let mut call = FakeCall::new(None).keys(&[(500, '8')]);
    let (_, _, what) = demo("ivr", &mut call).await;
    assert_eq!(
        what,
        [
            "answer",
            "play welcome",
            "key 8",
            "play invalid",
            "play menu",
            "no key",
            "play no-input",
            "play menu",
            "no key",
            "play no-input",
            "play goodbye",
            "hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn demo_digits_record_conference() {
    let mut call = FakeCall::new(None).keys(&[(500, '4'), (1000, '0'), (1500, '2'), (2000, '#')]);
    let (_, vars, what) = demo("digits", &mut call).await;
    assert_eq!(vars["digits"], "402");
    assert_eq!(
        what,
        [
            "answer",
            "play enter-digits",
            "key 4",
            "key 0",
            "key 2",
            "key #",
            "play you-entered",
            "play digit-4",
            "play digit-0",
            "play digit-2",
            "hangup normal"
        ]
    );
    // Nothing entered: nothing read back.
    let mut call = FakeCall::new(None);
    let (_, vars, what) = demo("digits", &mut call).await;
    assert_eq!(vars["digits"], "");
    assert_eq!(
        what,
        ["answer", "play enter-digits", "no key", "hangup normal"]
    );

    let mut call = FakeCall::new(Some(Duration::from_secs(12)));
    let (out, vars, what) = demo("record", &mut call).await;
    assert_eq!(out, Outcome::CallerHungUp);
    assert!(vars["recording"].starts_with("record-2026"), "{vars:?}");
    assert_eq!(what[..2], ["answer", "play beep"]);
    assert!(what[2].ends_with("max=30s terms=#"), "{what:?}");

    let mut call = FakeCall::new(Some(Duration::from_secs(5)));
    call.room_full = true;
    let (_, vars, what) = demo("conf-12", &mut call).await;
    assert_eq!(vars["room"], "12");
    assert_eq!(
        what,
        [
            "answer",
            "join 12 muted=false",
            "play room-full",
            "hangup normal"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn voicemail_example_records_then_plays_the_message_back_on_1_and_keeps_it_on_2() {
    // '#' ends the recording 20 s in; '1' during the review prompt plays it back; '2' keeps it.
    let mut call = FakeCall::new(None).keys(&[(20_000, '#'), (22_000, '1'), (25_000, '2')]);
    let (out, vars, what) = example("voicemail.yaml", "vm-2001", &mut call).await;
    assert_eq!(out, Outcome::DialplanHungUp(HangupReason::Normal));
    let message = vars["message"].clone();
    assert!(message.starts_with("vm-2001-"), "{vars:?}");
    let stem = message.trim_end_matches(".wav").to_string();
    let tail: Vec<&str> = what
        .iter()
        .map(String::as_str)
        .skip_while(|s| !s.starts_with("recorded"))
        .map(|s| {
            if s.starts_with("recorded") {
                "recorded"
            } else {
                s
            }
        })
        .collect();
    let load = format!("load recording {message}");
    let play = format!("play {stem}");
    assert_eq!(
        tail,
        [
            "recorded",
            "play vm-review",
            "key 1",
            load.as_str(),
            play.as_str(),
            "play vm-review",
            "key 2",
            "play vm-saved",
            "hangup normal"
        ],
        "{what:?}"
    );
}
