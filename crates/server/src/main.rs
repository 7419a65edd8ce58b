//! `chorus`: the Chorus SIP media server.
//!
//! `chorus serve` answers calls routed to it and runs the dialplan on them; `chorus check FILE` validates a
//! dialplan and prints every problem as `file:line:col: message`.

mod call;
mod calllog;
mod config;
mod rooms;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chorus",
    version,
    about = "Chorus SIP media server: IVR, DTMF, recording, conferences"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Answer SIP calls and run the dialplan on them.
    Serve(config::Flags),
    /// Check a dialplan file: exit 0 when valid, 1 printing file:line:col errors.
    Check {
        /// The dialplan file.
        file: PathBuf,
        /// Prompts directory to check prompt names against [default: prompts, when it exists]
        #[arg(long, value_name = "DIR")]
        prompts: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { file, prompts } => check(&file, prompts),
        Command::Serve(flags) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("CHORUS_LOG")
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .with_writer(std::io::stderr)
                .init();
            let config = match config::Config::resolve(&flags) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("chorus: {e}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("chorus")
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("chorus: cannot start runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(server::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("chorus: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn check(file: &std::path::Path, prompts: Option<PathBuf>) -> ExitCode {
    let prompts = prompts.or_else(|| {
        let d = PathBuf::from("prompts");
        d.is_dir().then_some(d)
    });
    match chorus_dialplan::Dialplan::load(file, prompts.as_deref()) {
        Ok(plan) => {
            println!(
                "{}: ok ({} routes, {} menus, {} prompts{})",
                file.display(),
                plan.routes.len(),
                plan.shared.menus.len(),
                plan.prompt_names().len(),
                if prompts.is_some() {
                    ", all found"
                } else {
                    "; prompts not checked: no prompts directory"
                }
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                println!("{e}");
            }
            let n = errors.len();
            eprintln!(
                "{}: {n} error{}",
                file.display(),
                if n == 1 { "" } else { "s" }
            );
            ExitCode::FAILURE
        }
    }
}
