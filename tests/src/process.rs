//! Running a server binary as a child process: a clean environment, its JSON log lines
//! collected for assertions, readiness taken from its `listening` line, and SIGTERM for
//! graceful-shutdown tests. The child is killed when the handle is dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// How long a server may take to log that it listens.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A running server and what it has logged so far.
pub struct ServerProcess {
    child: Child,
    /// The address from the server's `listening` log line.
    pub address: SocketAddr,
    /// Time from spawning the process to reading its `listening` line.
    pub ready_after: Duration,
    logs: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts `binary` with exactly `env` (plus `PATH`) and waits for it to log
    /// `{"message":"listening","address":...}`.
    pub async fn spawn(
        binary: &Path,
        args: &[&str],
        env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let mut command = Command::new(binary);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, mut address_rx) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().context("stdout is piped")?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        tokio::spawn(collect_lines(stdout, logs.clone(), Some(address_tx)));
        tokio::spawn(collect_lines(stderr, logs.clone(), None));
        let address = match tokio::time::timeout(READY_TIMEOUT, address_rx.recv()).await {
            Ok(Some(address)) => address,
            Ok(None) | Err(_) => {
                let status = child.try_wait().ok().flatten();
                let lines = logs.lock().map(|l| l.join("\n")).unwrap_or_default();
                bail!(
                    "{} did not log a listening address within {READY_TIMEOUT:?} (exit status: {status:?}); its output:\n{lines}",
                    binary.display()
                );
            }
        };
        Ok(Self {
            child,
            address,
            ready_after: started.elapsed(),
            logs,
        })
    }

    /// The process id, for reading its resource use from `/proc`.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Every line the server has written so far, stdout and stderr interleaved.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The log lines that parse as JSON objects.
    pub fn json_logs(&self) -> Vec<serde_json::Value> {
        self.logs()
            .iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(serde_json::Value::is_object)
            .collect()
    }

    /// Sends SIGTERM and waits up to `timeout` for the process to exit.
    pub async fn terminate(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let pid = self.child.id().context("the process has already exited")?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).context("pid fits in i32")?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
            .context("sending SIGTERM")?;
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .context("the process did not exit in time after SIGTERM")?
            .context("waiting for the process")
    }
}

async fn collect_lines<R: AsyncRead + Unpin>(
    stream: R,
    logs: Arc<Mutex<Vec<String>>>,
    address_tx: Option<mpsc::UnboundedSender<SocketAddr>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(tx) = &address_tx
            && let Some(address) = listening_address(&line)
        {
            let _ = tx.send(address);
        }
        if let Ok(mut logs) = logs.lock() {
            logs.push(line);
        }
    }
}

fn listening_address(line: &str) -> Option<SocketAddr> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    if value.get("message")?.as_str()? != "listening" {
        return None;
    }
    let mut address: SocketAddr = value.get("address")?.as_str()?.parse().ok()?;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Some(address)
}

/// Runs `binary` with exactly `env` and asserts that it refuses to start, naming `setting` on
/// stderr (a configuration error).
pub async fn assert_refuses_config(binary: &Path, env: &[(&str, &str)], setting: &str) {
    let output = tokio::process::Command::new(binary)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .await
        .expect("the binary runs");
    assert!(!output.status.success(), "{env:?} must fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(setting),
        "{env:?} must name {setting}: {stderr}"
    );
}
