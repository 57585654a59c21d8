//! The signal to stop: SIGTERM (what AgentCore and container runtimes send, about 15 s before
//! SIGKILL) or Ctrl-C, and how long work may go on after it. Servers pass [`signal`] to their
//! graceful-shutdown hook.

use std::time::Duration;

/// The shutdown grace period, a setting of every server.
#[derive(Debug, Clone, clap::Args)]
pub struct ShutdownArgs {
    /// How long running work may go on after SIGTERM before the server ends it, in
    /// milliseconds. AgentCore allows about 15 s between SIGTERM and SIGKILL.
    #[arg(
        long,
        env = "SHUTDOWN_GRACE_MS",
        value_name = "SHUTDOWN_GRACE_MS",
        default_value_t = 10_000
    )]
    pub shutdown_grace_ms: u64,
}

impl ShutdownArgs {
    pub fn grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

/// Completes when the process is asked to stop.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
