//! chorus-dialplan: YAML dialplans for Chorus — the model, its validation, prompts, the interpreter and the
//! crash-safe recorder.
//!
//! A dialplan is loaded and checked whole before it serves a call ([`Dialplan::parse`]); every problem is a
//! [`Diagnostic`] that reads `file:line:col: message`. For each call the server picks a [`Route`] by the
//! Request-URI user and runs its steps with [`interpreter::run_with_vars`] against a [`CallMedia`]: the
//! server's implementation drives a real RTP session, the tests' one runs in memory on tokio's paused clock.
//! Time conditions read "now" from [`CallMedia::now`], so they are deterministic under test too.
//!
//! ```text
//! let plan = Dialplan::load("dialplans/demo.yaml", Some(prompts_dir))?;
//! let (route, mut vars) = plan.route("echo").ok_or(NotFound)?;
//! let outcome = interpreter::run_with_vars(route, &prompts, &mut media, &mut vars).await;
//! // call log: outcome, vars
//! ```
//!
//! Recordings: the call task feeds received frames to a [`recorder::Recorder`], which keeps the WAV header
//! valid at least every second of audio; at startup [`recorder::repair_dir`] fixes files a crash left.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod interpreter;
pub mod model;
mod node;
pub mod prompt;
pub mod recorder;
pub mod time;

pub use interpreter::{
    CallMedia, MediaError, Outcome, RecordOutcome, RecordSpec, RecordStop, RoomExit, Vars,
};
pub use model::{
    Diagnostic, Dialplan, HangupReason, RecordCallControl, RoomOptions, Route, Step, TransferMode,
};
pub use prompt::{Prompt, PromptCache, PromptError};
pub use recorder::{Recorder, RecordingInfo, RecordingMeta};
