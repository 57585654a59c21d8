//! `agent-cli`: the command-line client of the customer-support agent.
//!
//! Signs in to Cognito ([`login`], tokens kept by [`tokens`]) and asks the agent questions
//! over HTTP ([`conversation`]): a local agent or a deployed AgentCore runtime ([`target`]),
//! one invocation per question ([`invoke`]), its SSE events ([`events`]) shown as they arrive
//! ([`render`]). Settings come from flags, environment variables and an optional file
//! ([`config`]). Every failure is a [`error::Failure`], printed here once with the exit code
//! of its kind (`agent-cli --help` lists them).

mod config;
mod conversation;
mod error;
mod events;
mod invoke;
mod login;
mod render;
mod session;
mod target;
mod tokens;

use std::process::ExitCode;

use clap::Parser;

use crate::config::{Cli, Command, FileConfig};
use crate::error::Failure;
use crate::tokens::TokenFile;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("agent-cli: {failure}");
            failure.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let dir = config::config_dir()?;
    let store = TokenFile::in_dir(&dir);
    // config.json is read only by the commands that use it: signing out works even when the
    // file is broken.
    match &cli.command {
        Command::Logout => login::logout(&store),
        Command::Login(args) => login::login(args, &FileConfig::load(&dir)?, &store).await,
        Command::Ask(args) => conversation::ask(args, &FileConfig::load(&dir)?, &store).await,
        Command::Chat(args) => conversation::chat(args, &FileConfig::load(&dir)?, &store).await,
    }
}
