//! The interpreter: runs a route's steps for one call against a [`CallMedia`].

use std::future::Future;
use std::time::Duration;

use crate::model::{Route, Step};
use crate::prompt::{Prompt, PromptCache};

/// Why a media operation stopped early.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The caller hung up (or the call was otherwise ended from outside).
    #[error("caller hung up")]
    HungUp,
    /// The media path failed (socket error, codec error).
    #[error("media failed: {0}")]
    Failed(String),
}

/// The media and signalling operations a dialplan can ask of a call. Each future ends early with
/// [`MediaError::HungUp`] when the call is ended from outside.
pub trait CallMedia: Send {
    /// Answers the call (200 OK). Answering an answered call does nothing.
    fn answer(&mut self) -> impl Future<Output = Result<(), MediaError>> + Send;
    /// Signals ringing (180) before the answer.
    fn ring(&mut self) -> impl Future<Output = Result<(), MediaError>> + Send;
    /// Plays a prompt to the caller in real time.
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
    /// The PCM rate of the call's audio (8000 for G.711).
    fn sample_rate(&self) -> u32;
}

/// How a dialplan run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The caller hung up during a step.
    CallerHungUp,
    /// The dialplan hung up (a `hangup` step, or the steps ran out).
    DialplanHungUp,
    /// A step failed; the call was hung up.
    Failed(String),
}

/// Runs `route` for one call. Media steps answer first when the route did not; falling off the end of the
/// steps hangs up, as in every PBX.
pub async fn run<M: CallMedia>(route: &Route, prompts: &PromptCache, media: &mut M) -> Outcome {
    for step in &route.steps {
        let result = match step {
            Step::Answer => media.answer().await,
            Step::Ring(d) => match media.ring().await {
                Ok(()) => media.pause(*d).await,
                Err(e) => Err(e),
            },
            Step::Pause(d) => media.pause(*d).await,
            Step::Play(names) => play_all(names, prompts, media).await,
            Step::Echo(max) => match answer_first(media).await {
                Ok(()) => media.echo(*max).await,
                Err(e) => Err(e),
            },
            Step::Hangup => break,
        };
        match result {
            Ok(()) => {}
            Err(MediaError::HungUp) => return Outcome::CallerHungUp,
            Err(MediaError::Failed(reason)) => {
                media.hangup().await;
                return Outcome::Failed(reason);
            }
        }
    }
    media.hangup().await;
    Outcome::DialplanHungUp
}

async fn answer_first<M: CallMedia>(media: &mut M) -> Result<(), MediaError> {
    if media.is_answered() {
        Ok(())
    } else {
        media.answer().await
    }
}

async fn play_all<M: CallMedia>(
    names: &[String],
    prompts: &PromptCache,
    media: &mut M,
) -> Result<(), MediaError> {
    answer_first(media).await?;
    for name in names {
        let prompt = prompts
            .get(name, media.sample_rate())
            .map_err(|e| MediaError::Failed(e.to_string()))?;
        media.play(&prompt).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dialplan;
    use tokio::time::Instant;

    /// An in-memory call: records what the dialplan did and when, on tokio's paused clock.
    struct FakeCall {
        start: Instant,
        log: Vec<(u128, String)>,
        answered: bool,
        hangup_at: Option<Duration>,
    }

    impl FakeCall {
        fn new(hangup_at: Option<Duration>) -> FakeCall {
            FakeCall {
                start: Instant::now(),
                log: Vec::new(),
                answered: false,
                hangup_at,
            }
        }
        fn note(&mut self, what: impl Into<String>) {
            self.log
                .push((self.start.elapsed().as_millis(), what.into()));
        }
        async fn wait(&mut self, d: Duration) -> Result<(), MediaError> {
            let end = Instant::now() + d;
            if let Some(h) = self.hangup_at {
                let hang = self.start + h;
                if hang < end {
                    tokio::time::sleep_until(hang).await;
                    self.note("caller-bye");
                    return Err(MediaError::HungUp);
                }
            }
            tokio::time::sleep_until(end).await;
            Ok(())
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
            let ms = prompt.samples.len() as u64 * 1000 / u64::from(prompt.rate);
            self.wait(Duration::from_millis(ms)).await
        }
        async fn echo(&mut self, max: Option<Duration>) -> Result<(), MediaError> {
            self.note("echo");
            self.wait(max.unwrap_or(Duration::from_secs(3600))).await
        }
        async fn pause(&mut self, d: Duration) -> Result<(), MediaError> {
            self.wait(d).await
        }
        async fn hangup(&mut self) {
            self.note("hangup");
        }
        fn is_answered(&self) -> bool {
            self.answered
        }
        fn sample_rate(&self) -> u32 {
            8000
        }
    }

    fn prompts() -> PromptCache {
        PromptCache::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../prompts"))
    }

    const PLAN: &str = "routes:
  - name: hello
    match: hello
    steps: [answer, {play: hello}, hangup]
  - name: slow
    match: slow
    steps: [{ring: 2s}, echo]
  - name: bare
    match: bare
    steps: [{pause: 1s}]
";

    #[tokio::test(start_paused = true)]
    async fn hello_plays_then_hangs_up() {
        let plan = Dialplan::parse("t.yaml", PLAN, None).unwrap();
        let mut call = FakeCall::new(None);
        let out = run(plan.route("hello").unwrap().0, &prompts(), &mut call).await;
        assert_eq!(out, Outcome::DialplanHungUp);
        let steps: Vec<&str> = call.log.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(steps, ["answer", "play hello", "hangup"]);
        // hello.wav lasts about 3.5 s: the hangup comes after it has played in full.
        assert!(call.log[2].0 >= 3000, "{:?}", call.log);
    }

    #[tokio::test(start_paused = true)]
    async fn ring_waits_then_media_step_answers() {
        let plan = Dialplan::parse("t.yaml", PLAN, None).unwrap();
        let mut call = FakeCall::new(Some(Duration::from_secs(5)));
        let out = run(plan.route("slow").unwrap().0, &prompts(), &mut call).await;
        assert_eq!(out, Outcome::CallerHungUp);
        assert_eq!(
            call.log,
            vec![
                (0, "ring".to_string()),
                (2000, "answer".to_string()),
                (2000, "echo".to_string()),
                (5000, "caller-bye".to_string())
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn caller_gone_before_answer_stops_without_hangup() {
        let plan = Dialplan::parse("t.yaml", PLAN, None).unwrap();
        let mut call = FakeCall::new(Some(Duration::from_millis(500)));
        let out = run(plan.route("slow").unwrap().0, &prompts(), &mut call).await;
        assert_eq!(out, Outcome::CallerHungUp);
        assert!(!call.answered);
    }

    #[tokio::test(start_paused = true)]
    async fn falling_off_the_end_hangs_up() {
        let plan = Dialplan::parse("t.yaml", PLAN, None).unwrap();
        let mut call = FakeCall::new(None);
        let out = run(plan.route("bare").unwrap().0, &prompts(), &mut call).await;
        assert_eq!(out, Outcome::DialplanHungUp);
        assert_eq!(call.log, vec![(1000, "hangup".to_string())]);
    }

    #[tokio::test(start_paused = true)]
    async fn missing_prompt_fails_the_call_cleanly() {
        let plan = Dialplan::parse(
            "t.yaml",
            "routes:\n  - match: x\n    steps: [{play: nosuch}]\n",
            None,
        )
        .unwrap();
        let mut call = FakeCall::new(None);
        let out = run(plan.route("x").unwrap().0, &prompts(), &mut call).await;
        assert!(
            matches!(out, Outcome::Failed(ref r) if r.contains("nosuch")),
            "{out:?}"
        );
        assert_eq!(call.log.last().map(|l| l.1.as_str()), Some("hangup"));
    }
}
