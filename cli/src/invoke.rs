//! One invocation over HTTP: the request (prompt, session header, bearer token), the answer's
//! status explained in plain words when it is not a stream, and the SSE stream read frame by
//! frame as JSON events.
//!
//! An invocation is sent exactly once. The agent is not idempotent (a retried question may
//! open a second ticket), and AgentCore passes every container failure on as 424, so no
//! status or broken connection here ever leads to a second request: the caller is told what
//! happened and decides. Waiting is bounded twice: for the connection (`--connect-timeout`)
//! and for the answer to start and each next chunk of it (`--idle-timeout`); a whole answer
//! may take as long as it keeps streaming.

use std::collections::VecDeque;
use std::error::Error as _;
use std::time::Duration;

use agent_protocol::Secret;
use agent_protocol::headers::{REQUEST_ID, SESSION_ID};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, USER_AGENT, WWW_AUTHENTICATE,
};
use serde_json::{Value, json};

use crate::error::Failure;
use crate::session::SessionId;
use crate::target::Target;
use crate::tokens::TokenKind;

/// Request ids, as AWS's front door and the agent itself name them; quoted in hints.
const REQUEST_ID_HEADERS: [&str; 2] = ["x-amzn-requestid", REQUEST_ID];
/// How much of an error answer is read to explain it.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Longest SSE line kept while waiting for its end (AgentCore's stream chunk limit is 10 MB).
const LINE_LIMIT: usize = 16 * 1024 * 1024;

/// How the caller proves who they are.
pub enum Credential<'a> {
    /// `--no-auth`, for a local agent with `AUTH_MODE=none`.
    None,
    Bearer {
        token: &'a Secret,
        kind: TokenKind,
        /// The app client that issued it, named when the token is refused.
        client_id: &'a str,
    },
}

/// One question to send.
pub struct Request<'a> {
    pub target: &'a Target,
    pub session: &'a SessionId,
    pub prompt: &'a str,
    pub credential: Credential<'a>,
}

/// Sends invocations.
pub struct Invoker {
    http: reqwest::Client,
    connect_timeout: Duration,
    idle_timeout: Duration,
}

impl Invoker {
    pub fn new(connect_timeout: Duration, idle_timeout: Duration) -> Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .build()
            .map_err(|error| {
                Failure::Failed(format!("cannot set up the HTTP client: {}", causes(&error)))
            })?;
        Ok(Self {
            http,
            connect_timeout,
            idle_timeout,
        })
    }

    /// Sends `request` once; the answer's events follow from [`EventStream::next`].
    pub async fn send(&self, request: &Request<'_>) -> Result<EventStream, Failure> {
        let mut builder = self
            .http
            .post(&request.target.invocation_url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream")
            .header(USER_AGENT, concat!("agent-cli/", env!("CARGO_PKG_VERSION")))
            .header(SESSION_ID, request.session.as_str())
            .body(json!({ "prompt": request.prompt }).to_string());
        if let Credential::Bearer { token, .. } = &request.credential {
            builder = builder.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
        }
        let target = request.target.describe();
        // Until the answer starts: the connection, then the agent's first bytes.
        let wait = self.connect_timeout + self.idle_timeout;
        let response = match tokio::time::timeout(wait, builder.send()).await {
            Err(_) => {
                return Err(Failure::Failed(format!(
                    "{target} did not start answering within {} s; gave up. Not retried, since the agent may already be working on it (session {}). A deployed runtime's first request can take up to a minute to start: raise --idle-timeout if needed.",
                    self.idle_timeout.as_secs(),
                    request.session
                )));
            }
            Ok(Err(error)) => return Err(self.explain_send_error(&error, request)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        let is_stream = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/event-stream"));
        if status.is_success() && is_stream {
            return Ok(EventStream {
                response,
                parser: SseParser::default(),
                ready: VecDeque::new(),
                idle_timeout: self.idle_timeout,
                target,
                session: request.session.clone(),
            });
        }
        let headers = response.headers().clone();
        let body = read_bounded(response, self.idle_timeout).await;
        Err(explain_status(status, &headers, &body, request))
    }

    /// A request that got no answer at all.
    fn explain_send_error(&self, error: &reqwest::Error, request: &Request<'_>) -> Failure {
        let hint = match &request.target.runtime {
            None => {
                "Is the agent running? `scripts/run-local` starts one at http://127.0.0.1:8080."
            }
            Some(_) => "Check your network connection and the region in the runtime ARN.",
        };
        let url = &request.target.invocation_url;
        if error.is_connect() && error.is_timeout() {
            Failure::Failed(format!(
                "could not connect to {url} within {} s. {hint}",
                self.connect_timeout.as_secs()
            ))
        } else if error.is_connect() {
            Failure::Failed(format!(
                "could not connect to {url}: {}. {hint}",
                causes(error)
            ))
        } else {
            Failure::Failed(format!(
                "the request to {} failed: {}. It was not retried, since the agent may already have acted (session {}).",
                request.target.describe(),
                causes(error),
                request.session
            ))
        }
    }
}

/// An answer being streamed.
pub struct EventStream {
    response: reqwest::Response,
    parser: SseParser,
    ready: VecDeque<Value>,
    idle_timeout: Duration,
    target: String,
    session: SessionId,
}

impl EventStream {
    /// The next event, or `None` when the stream has ended.
    pub async fn next(&mut self) -> Result<Option<Value>, Failure> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            let chunk = match tokio::time::timeout(self.idle_timeout, self.response.chunk()).await {
                Err(_) => {
                    return Err(Failure::Failed(format!(
                        "no event from {} for {} s; gave up waiting. The turn may still be running in session {}; it was not retried, since the agent may already have acted. Raise --idle-timeout for slow answers.",
                        self.target,
                        self.idle_timeout.as_secs(),
                        self.session
                    )));
                }
                Ok(Err(error)) => {
                    return Err(Failure::Failed(format!(
                        "the connection to {} broke during the answer ({}). Not retried, since the agent may already have acted; ask again in session {} if needed.",
                        self.target,
                        causes(&error),
                        self.session
                    )));
                }
                Ok(Ok(None)) => return Ok(None),
                Ok(Ok(Some(chunk))) => chunk,
            };
            for data in self.parser.push(&chunk).map_err(|problem| {
                Failure::Failed(format!(
                    "{} sent a malformed stream: {problem}",
                    self.target
                ))
            })? {
                let event: Value = serde_json::from_str(&data)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| {
                        Failure::Failed(format!(
                            "{} sent a stream frame that is not a JSON object: {}",
                            self.target,
                            shorten(&data)
                        ))
                    })?;
                self.ready.push_back(event);
            }
        }
    }
}

/// Server-sent events: `data:` lines joined until a blank line ends the event; comments and
/// other fields (`event:`, `id:`, `retry:`) ignored, `\n` or `\r\n` line ends.
#[derive(Default)]
struct SseParser {
    /// Bytes of an unfinished line.
    line: Vec<u8>,
    /// The data of the event being read, if it has any yet.
    data: Option<String>,
}

impl SseParser {
    /// Feeds `bytes`; returns the data of each event they complete.
    fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, String> {
        let mut events = Vec::new();
        for piece in bytes.split_inclusive(|byte| *byte == b'\n') {
            self.line.extend_from_slice(piece);
            if self.line.last() != Some(&b'\n') {
                break;
            }
            let line = std::mem::take(&mut self.line);
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = std::str::from_utf8(line).map_err(|_| "a line that is not UTF-8")?;
            if line.is_empty() {
                events.extend(self.data.take());
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            if field == "data" {
                let value = value.strip_prefix(' ').unwrap_or(value);
                match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                }
            }
        }
        if self.line.len() > LINE_LIMIT {
            return Err(format!("a line longer than {LINE_LIMIT} bytes"));
        }
        Ok(events)
    }
}

/// Up to [`ERROR_BODY_LIMIT`] bytes of an answer; what arrived, if reading fails.
async fn read_bounded(mut response: reqwest::Response, idle_timeout: Duration) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match tokio::time::timeout(idle_timeout, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_LIMIT);
    body
}

/// The agent's error when a session id belongs to another caller's conversation (403, or 424
/// through AgentCore, which passes the container's body on).
const SESSION_OF_ANOTHER_CALLER: &str = "Session belongs to another caller";

/// An answer that is not an event stream, explained with what to do next.
fn explain_status(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    request: &Request<'_>,
) -> Failure {
    let detail = detail(headers, body);
    let said = if detail.is_empty() {
        format!("{status}")
    } else {
        format!("{status}: {detail}")
    };
    let target = request.target.describe();
    let session = request.session;
    let request_id = REQUEST_ID_HEADERS
        .iter()
        .find_map(|name| headers.get(*name).and_then(|value| value.to_str().ok()))
        .map(|id| format!(", request id {id}"))
        .unwrap_or_default();
    let not_retried =
        "It was not retried, since the agent may already have acted; ask again if needed.";
    if String::from_utf8_lossy(body).contains(SESSION_OF_ANOTHER_CALLER) {
        return Failure::Failed(format!(
            "session {session} was started by another signed-in user ({said}); a conversation can only be continued by the user who started it. Start a new conversation without --session."
        ));
    }
    match status.as_u16() {
        200..=299 => Failure::Failed(format!(
            "{target} answered {status} with {} rather than an event stream: {}",
            headers
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("no content type"),
            shorten(&String::from_utf8_lossy(body))
        )),
        401 => match &request.credential {
            Credential::None => Failure::Auth(format!(
                "{target} requires a sign-in ({said}). Sign in with `agent-cli login` and leave out --no-auth."
            )),
            Credential::Bearer { kind, .. } => {
                let refused = headers
                    .get(WWW_AUTHENTICATE)
                    .and_then(|value| value.to_str().ok())
                    .filter(|value| value.contains("invalid_token"))
                    .map(|_| " (invalid_token)")
                    .unwrap_or_default();
                let other_kind = match kind {
                    TokenKind::Id => {
                        " If the agent takes access tokens only (AUTH_TOKEN_USE=access, or a JWT authorizer with allowedClients), send the access token with --token-use access."
                    }
                    TokenKind::Access => {
                        " An agent that reads the customer from the token (AUTH_TOKEN_USE=id, or a JWT authorizer with allowedAudience, as deploy/ sets it up) takes ID tokens only: leave out --token-use access (and \"token_use\" in config.json)."
                    }
                };
                Failure::Auth(format!(
                    "{target} refused your {} token{refused} ({said}): it has expired or been revoked, it is not the kind of token the agent takes, or it comes from a user pool or app client the agent does not accept. Sign in again with `agent-cli login`.{other_kind}",
                    kind.name()
                ))
            }
        },
        403 => {
            let client = match &request.credential {
                Credential::Bearer {
                    client_id, kind, ..
                } => format!("the {} token of app client {client_id}", kind.name()),
                Credential::None => "this caller".to_owned(),
            };
            Failure::Auth(format!(
                "{target} denied access ({said}). Its JWT authorizer must allow {client} (allowedAudience for ID tokens, the default; allowedClients for access tokens, --token-use access), and the token must come from the user pool it trusts."
            ))
        }
        404 => Failure::Failed(format!(
            "nothing answers at {} ({said}). {}",
            request.target.invocation_url,
            match &request.target.runtime {
                Some(_) =>
                    "Check the runtime ARN, its region and the qualifier (the endpoint name).",
                None => "Check --url: it is the agent's address, e.g. http://127.0.0.1:8080.",
            }
        )),
        409 => Failure::Failed(format!(
            "session {session} is still answering an earlier question ({said}); a session answers one request at a time. Wait for that answer to finish and ask again with --session {session}, or start a new conversation without --session."
        )),
        413 => Failure::Failed(format!(
            "{target} refused the question as too large ({said}). Shorten it."
        )),
        424 => {
            let logs = match &request.target.runtime {
                Some(runtime) => format!(
                    "Check its logs in CloudWatch, log group /aws/bedrock-agentcore/runtimes/{}-{}, for session {session}{request_id}.",
                    runtime.id, runtime.qualifier
                ),
                None => format!("Check the agent's logs for session {session}{request_id}."),
            };
            Failure::Failed(format!(
                "the runtime failed ({said}): the agent's container answered with an error, crashed or did not start in time. {logs} {not_retried}"
            ))
        }
        429 => Failure::Failed(format!(
            "{target} is throttling requests ({said}). Wait a little, then ask again; it was not retried automatically."
        )),
        400 => Failure::Failed(format!(
            "{target} refused the request as invalid ({said}). Session {session}{request_id}."
        )),
        500..=599 => Failure::Failed(format!(
            "{target} failed ({said}), session {session}{request_id}. {not_retried}"
        )),
        _ => Failure::Failed(format!(
            "{target} answered unexpectedly ({said}), session {session}{request_id}."
        )),
    }
}

/// The reason an error answer gives: AWS's error type and the body's `error`, `details` and
/// `message` fields, or the start of a body that is not JSON.
fn detail(headers: &HeaderMap, body: &[u8]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(error_type) = headers
        .get("x-amzn-errortype")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(':').next())
        .filter(|value| !value.is_empty())
    {
        parts.push(error_type.to_owned());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => {
            for name in ["error", "details", "message", "Message"] {
                let text = match fields.get(name) {
                    Some(Value::String(text)) => text.clone(),
                    Some(Value::Null) | None => continue,
                    Some(other) => other.to_string(),
                };
                if !text.is_empty() && !parts.contains(&text) {
                    parts.push(text);
                }
            }
        }
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if !text.is_empty() {
                parts.push(shorten(text));
            }
        }
    }
    parts.join(": ")
}

/// `text` cut to a readable length for a message.
fn shorten(text: &str) -> String {
    const LIMIT: usize = 300;
    match text.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// An error and its causes, `outer: inner: ...`.
fn causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_frames_are_read_across_chunk_boundaries() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"data: {\"type\":\"st").unwrap().is_empty());
        assert_eq!(
            parser
                .push(b"art\"}\n\ndata: {\"a\":1}\r\n\r\n: comment\n\n")
                .unwrap(),
            vec![r#"{"type":"start"}"#.to_owned(), r#"{"a":1}"#.to_owned()]
        );
        assert_eq!(
            parser.push(b"event: x\ndata: one\ndata:two\n\n").unwrap(),
            vec!["one\ntwo".to_owned()]
        );
        assert!(
            parser.push(b"\n\n").unwrap().is_empty(),
            "no data, no event"
        );
    }

    #[test]
    fn multibyte_text_split_between_chunks_survives() {
        let frame = "data: {\"text\":\"→ café\"}\n\n".as_bytes();
        let mut parser = SseParser::default();
        let (first, second) = frame.split_at(11);
        assert!(parser.push(first).unwrap().is_empty());
        assert_eq!(parser.push(second).unwrap(), vec!["{\"text\":\"→ café\"}"]);
    }

    #[test]
    fn error_details_come_from_the_body_and_the_aws_error_type() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-errortype",
            "RuntimeClientError:http://internal.amazon.com/"
                .parse()
                .unwrap(),
        );
        let body = br#"{"error":"Session busy","message":"Session busy"}"#;
        assert_eq!(detail(&headers, body), "RuntimeClientError: Session busy");
        assert_eq!(detail(&HeaderMap::new(), b"  plain text  "), "plain text");
        assert_eq!(detail(&HeaderMap::new(), b""), "");
    }
}
