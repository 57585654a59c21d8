//! AG-UI from the client side: raw `RunAgentInput` requests whose SSE answers are read frame
//! by frame (keep-alive comments counted, not parsed), and runs of the real AG-UI TypeScript
//! client (`@ag-ui/client`'s `HttpAgent`) through `tests/agui/run-agent.mjs`.
//!
//! The client's packages are pinned in `tests/agui/package-lock.json` and installed from it on
//! first use ([`crate::npm`]), so CI needs nothing by hand.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::{npm, workspace};

/// Longest a whole client run (one or more agent runs) may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// A minimal valid `RunAgentInput` with one user message.
pub fn run_input(thread_id: &str, run_id: &str, prompt: &str) -> Value {
    json!({
        "threadId": thread_id,
        "runId": run_id,
        "state": {},
        "messages": [{"id": format!("{run_id}-user"), "role": "user", "content": prompt}],
        "tools": [],
        "context": [],
        "forwardedProps": {}
    })
}

/// The answer to one raw AG-UI request.
#[derive(Debug)]
pub struct AguiAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The events of an SSE answer, or the one JSON body of any other.
    pub events: Vec<Value>,
    /// SSE comment lines (keep-alives) seen between the events.
    pub comments: usize,
}

impl AguiAnswer {
    /// The `type` of each event, in order.
    pub fn types(&self) -> Vec<&str> {
        self.events
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default())
            .collect()
    }

    /// The events of one `type`.
    pub fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["type"] == kind).collect()
    }
}

/// `POST <base_url>/invocations` with `body` as an AG-UI client sends it.
pub async fn post(
    base_url: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> anyhow::Result<AguiAnswer> {
    let mut request = reqwest::Client::new()
        .post(format!("{base_url}/invocations"))
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .timeout(CLIENT_TIMEOUT)
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.context("sending the run")?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.context("reading the answer")?;
    let is_sse = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        let body = serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?;
        return Ok(AguiAnswer {
            status,
            headers,
            events: vec![body],
            comments: 0,
        });
    }
    let (events, comments) = read_sse(&text)?;
    Ok(AguiAnswer {
        status,
        headers,
        events,
        comments,
    })
}

/// An SSE body's events and its comment lines: each frame is either comment lines only or a
/// single `data:` line of JSON (the framing AgentCore passes through).
pub fn read_sse(text: &str) -> anyhow::Result<(Vec<Value>, usize)> {
    let mut events = Vec::new();
    let mut comments = 0;
    for frame in text.split("\n\n").filter(|f| !f.is_empty()) {
        if frame.lines().all(|line| line.starts_with(':')) {
            comments += frame.lines().count();
            continue;
        }
        let data = frame
            .strip_prefix("data: ")
            .filter(|data| !data.contains('\n'))
            .with_context(|| format!("a frame that is not a single data line: {frame:?}"))?;
        events.push(
            serde_json::from_str(data)
                .with_context(|| format!("frame data is not JSON: {data}"))?,
        );
    }
    Ok((events, comments))
}

/// What `run-agent.mjs` printed: one JSON value per line.
#[derive(Debug)]
pub struct ClientRun {
    pub success: bool,
    pub lines: Vec<Value>,
    pub stderr: String,
}

impl ClientRun {
    /// The wire events of run `run`, as the client received them.
    pub fn wire_events(&self, run: u64) -> Vec<&Value> {
        self.lines
            .iter()
            .filter(|l| l["run"] == run && l.get("event").is_some())
            .map(|l| &l["event"])
            .collect()
    }

    /// The types of the events the client applied in run `run`.
    pub fn applied_types(&self, run: u64) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|l| l["run"] == run)
            .filter_map(|l| l.get("type").and_then(Value::as_str))
            .collect()
    }

    /// The summary line of run `run`: `keepalives` and the client's `messages`.
    pub fn summary(&self, run: u64) -> Option<&Value> {
        self.lines
            .iter()
            .find(|l| l["run"] == run && l.get("messages").is_some())
    }

    /// The failure the script reported, if any.
    pub fn error(&self) -> Option<&str> {
        self.lines.iter().find_map(|l| l["error"].as_str())
    }
}

/// Runs `HttpAgent` against `<base_url>/invocations`, one run per prompt in one thread, with
/// `headers` on every request.
pub async fn run_client(
    base_url: &str,
    prompts: &[&str],
    headers: &[(&str, &str)],
) -> anyhow::Result<ClientRun> {
    let dir = client_dir();
    install(&dir).await?;
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let child = tokio::process::Command::new("node")
        .arg(dir.join("run-agent.mjs"))
        .arg(format!("{base_url}/invocations"))
        .args(prompts)
        .current_dir(&dir)
        .env("AGUI_HEADERS", Value::Object(headers).to_string())
        .env("NO_UPDATE_NOTIFIER", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting node (Node 20 or later must be on PATH)")?;
    let output = tokio::time::timeout(CLIENT_TIMEOUT, child.wait_with_output())
        .await
        .context("the AG-UI client did not finish in time")?
        .context("running the AG-UI client")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines = stdout
        .lines()
        .map(|line| serde_json::from_str(line).with_context(|| format!("not JSON: {line}")))
        .collect::<anyhow::Result<Vec<Value>>>()?;
    Ok(ClientRun {
        success: output.status.success(),
        lines,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

fn client_dir() -> PathBuf {
    workspace::root().join("tests").join("agui")
}

/// The client's packages, installed once across concurrent tests.
async fn install(dir: &Path) -> anyhow::Result<()> {
    let _lock = npm::install_lock("agui").await?;
    npm::ci(dir).await
}
