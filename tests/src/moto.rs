//! moto server, the AWS emulator, run from the project's Python environment: one process per
//! test on a free port, so every test starts from empty state.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::workspace;

/// The region every test uses.
pub const REGION: &str = "us-east-1";

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Moto {
    /// Starts moto and waits until it answers; retries on another port if the chosen one was
    /// taken in the meantime.
    pub async fn start() -> anyhow::Result<Self> {
        let program = workspace::venv_program("moto_server");
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port()?;
            let mut child = Command::new(&program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("cannot start {}", program.display()))?;
            let endpoint = format!("http://127.0.0.1:{port}");
            match wait_until_up(&endpoint, &mut child).await {
                Ok(()) => {
                    return Ok(Self { child, endpoint });
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("moto did not start")))
    }

    /// Environment for an AWS SDK client (ours or a test's) to use this moto with dummy
    /// credentials, through the standard variables.
    pub fn sdk_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// A DynamoDB client for inspecting what the binaries wrote.
    /// The moto process id, for freezing it (SIGSTOP) in tests of slow or hung calls.
    pub fn pid(&self) -> nix::unistd::Pid {
        let pid = self.child.id().expect("moto is running");
        nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid fits in i32"))
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await;
        aws_sdk_dynamodb::Client::new(&config)
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a probe port")?;
    Ok(listener.local_addr()?.port())
}

async fn wait_until_up(endpoint: &str, child: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = reqwest::Client::new();
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            bail!("moto exited with {status} before answering");
        }
        if let Ok(response) = client.get(format!("{endpoint}/moto-api/")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("moto did not answer at {endpoint} within 20 s")
}
