//! The agent under test: starting the real `agent` binary against the Bedrock stand-in (and,
//! when given, the real MCP server as its tool source), invoking it over HTTP and reading its
//! SSE stream as JSON events.

use anyhow::Context;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::bedrock::BedrockStandIn;
use crate::process::ServerProcess;
use crate::workspace;

/// The session header, under the name the tests use.
pub use agent_protocol::headers::SESSION_ID as SESSION_HEADER;

/// A running agent.
pub struct Agent {
    pub process: ServerProcess,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
}

/// An answer to one invocation.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The SSE events, or the one JSON body.
    pub events: Vec<Value>,
}

impl Answer {
    /// The events of one `type`.
    pub fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["type"] == json!(kind))
            .collect()
    }

    /// The text of all `text_delta` events, in order.
    pub fn streamed_text(&self) -> String {
        self.of_type("text_delta")
            .iter()
            .filter_map(|e| e["text"].as_str())
            .collect()
    }

    /// The last event, which ends every stream.
    pub fn last(&self) -> &Value {
        self.events.last().expect("the stream has events")
    }
}

impl Agent {
    /// Starts the agent with Bedrock at `bedrock`, tools from `mcp_url` (if any), local
    /// authentication off, and `extra_env` added or overriding.
    pub async fn start(
        bedrock: &BedrockStandIn,
        mcp_url: Option<&str>,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut env = bedrock.sdk_env();
        env.push(("AGENT_HOST".into(), "127.0.0.1".into()));
        env.push(("AGENT_PORT".into(), "0".into()));
        env.push(("AUTH_MODE".into(), "none".into()));
        env.push(("MODEL_RETRY_BASE_MS".into(), "20".into()));
        if let Some(url) = mcp_url {
            env.push((
                "MCP_SOURCES".into(),
                json!([{"name": "support", "url": url}]).to_string(),
            ));
        }
        for (key, value) in extra_env {
            env.retain(|(k, _)| k != key);
            env.push(((*key).to_owned(), (*value).to_owned()));
        }
        let process = ServerProcess::spawn(&workspace::binary("agent"), &[], &env).await?;
        let base_url = format!("http://{}", process.address);
        Ok(Self { process, base_url })
    }

    /// `GET /ping` as JSON.
    pub async fn ping(&self) -> Value {
        reqwest::get(format!("{}/ping", self.base_url))
            .await
            .expect("ping answers")
            .json()
            .await
            .expect("ping is JSON")
    }

    /// `POST /invocations` with `body`, the given headers, and SSE accepted; reads the whole
    /// answer.
    pub async fn invoke(&self, body: &Value, headers: &[(&str, &str)]) -> anyhow::Result<Answer> {
        self.invoke_raw(body.to_string(), headers).await
    }

    /// `POST /invocations` with a raw body.
    pub async fn invoke_raw(
        &self,
        body: String,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Answer> {
        let mut request = reqwest::Client::new()
            .post(format!("{}/invocations", self.base_url))
            .header("content-type", "application/json");
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
        {
            request = request.header("accept", "text/event-stream");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .body(body)
            .send()
            .await
            .context("sending the invocation")?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.context("reading the answer")?;
        let is_sse = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let events = if is_sse {
            parse_sse(&text)?
        } else {
            vec![serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?]
        };
        Ok(Answer {
            status,
            headers,
            events,
        })
    }
}

/// Parses an SSE body into its `data:` JSON objects, checking the framing AgentCore expects:
/// one `data:` line per frame, no `event:` or `id:` lines.
pub fn parse_sse(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut events = Vec::new();
    for frame in text.split("\n\n").filter(|f| !f.trim().is_empty()) {
        let data = frame
            .strip_prefix("data: ")
            .with_context(|| format!("a frame that is not a single data line: {frame:?}"))?;
        anyhow::ensure!(
            !data.contains('\n'),
            "a frame with more than one line: {frame:?}"
        );
        let event: Value = serde_json::from_str(data)
            .with_context(|| format!("frame data is not JSON: {data}"))?;
        anyhow::ensure!(
            event["type"].is_string(),
            "an event without a type: {event}"
        );
        events.push(event);
    }
    Ok(events)
}

impl Agent {
    /// Starts an SSE invocation in the background (in `session`, if given) and returns its
    /// whole body when it ends.
    pub fn invoke_in_background(
        &self,
        session: Option<&str>,
        prompt: &str,
    ) -> tokio::task::JoinHandle<String> {
        let mut request = reqwest::Client::new()
            .post(format!("{}/invocations", self.base_url))
            .json(&json!({ "prompt": prompt }));
        if let Some(session) = session {
            request = request.header(SESSION_HEADER, session);
        }
        tokio::spawn(async move {
            request
                .send()
                .await
                .expect("the invocation is sent")
                .text()
                .await
                .expect("the answer is read")
        })
    }

    /// Waits until the agent has logged a line whose message is `message` (e.g. its tool
    /// sources being listed), for at most `timeout`.
    pub async fn wait_for_log(
        &self,
        message: &str,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Value> {
        let mut lines = self.wait_for_logs(message, 1, timeout).await?;
        Ok(lines.swap_remove(0))
    }

    /// Waits until the agent has logged `count` lines whose message is `message`.
    pub async fn wait_for_logs(
        &self,
        message: &str,
        count: usize,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Vec<Value>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let lines: Vec<Value> = self
                .process
                .json_logs()
                .into_iter()
                .filter(|l| l["message"] == json!(message))
                .collect();
            if lines.len() >= count {
                return Ok(lines);
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the agent did not log {message:?} {count} times within {timeout:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
