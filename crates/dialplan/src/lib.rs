//! chorus-dialplan: YAML dialplans for Chorus — the model, its validation, prompts, and the interpreter.
//!
//! A dialplan is loaded and checked whole before it serves a call ([`Dialplan::parse`]); every problem is a
//! [`Diagnostic`] that reads `file:line:col: message`. For each call the server picks a [`Route`] by the
//! Request-URI user and runs its steps with [`interpreter::run`] against a [`CallMedia`]: the server's
//! implementation drives a real RTP session, the tests' one runs in memory on tokio's paused clock.
//!
//! ```text
//! let plan = Dialplan::load("dialplans/demo.yaml", Some(prompts_dir))?;
//! let (route, vars) = plan.route("echo").ok_or(NotFound)?;
//! let outcome = interpreter::run(route, &prompts, &mut media).await;
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod interpreter;
pub mod model;
pub mod prompt;

pub use interpreter::{CallMedia, MediaError, Outcome};
pub use model::{Diagnostic, Dialplan, Route, Step};
pub use prompt::{Prompt, PromptCache, PromptError};
