//! What can go wrong, sorted by what the person (or script) should do about it, and the exit
//! code each kind maps to.
//!
//! Every module reports a [`Failure`] whose message is the whole explanation, in plain words,
//! with a hint that fits the request; `main` prints it on stderr and exits with
//! [`Failure::exit_code`]. Messages never contain a token or a password: they are built from
//! statuses, error names and the services' own error texts, never from requests.

use std::process::ExitCode;

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The agent answered with an error event or an HTTP error, or a service could not be
    /// reached or timed out. Exit code 1.
    #[error("{0}")]
    Failed(String),
    /// Bad flags, a malformed configuration file, a missing setting. Exit code 2.
    #[error("{0}")]
    Usage(String),
    /// Not signed in, sign-in refused, or the token refused (401/403). Exit code 3.
    #[error("{0}")]
    Auth(String),
}

impl Failure {
    /// The process exit code documented in `--help` and the README.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Failed(_) => ExitCode::from(1),
            Failure::Usage(_) => ExitCode::from(2),
            Failure::Auth(_) => ExitCode::from(3),
        }
    }
}
