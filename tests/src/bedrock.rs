//! A wire-faithful Amazon Bedrock Runtime stand-in: `Converse` and `ConverseStream` on a free
//! loopback port, answering from a script of model turns.
//!
//! moto has no Bedrock Runtime, so tests point the real `aws-sdk-bedrockruntime` client (with
//! `endpoint_url`), or the agent binary (with [`BedrockStandIn::sdk_env`], i.e.
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`), at this server with dummy credentials. It speaks the
//! protocol that SDK decodes, so the agent's real client code runs unchanged:
//!
//! - `POST /model/{modelId}/converse-stream` answers `200` with
//!   `content-type: application/vnd.amazon.eventstream`: AWS event-stream binary frames
//!   (prelude, headers, JSON payload, CRCs) written by `aws-smithy-eventstream`. Each event has
//!   the headers `:event-type` (`messageStart`, `contentBlockStart`, `contentBlockDelta`,
//!   `contentBlockStop`, `messageStop`, `metadata`), `:content-type: application/json` and
//!   `:message-type: event`; an in-stream error has `:message-type: exception` and
//!   `:exception-type` instead of `:event-type`. Payloads carry the `p` padding field Bedrock
//!   adds. As in Claude's streams, text blocks have no `contentBlockStart`; tool-use blocks do,
//!   and their input JSON arrives as string pieces. The last event is always `metadata` with
//!   `usage` (`inputTokens`, `outputTokens`, `totalTokens`) and `metrics.latencyMs`.
//! - `POST /model/{modelId}/converse` answers the whole message as one JSON document.
//! - Errors before any stream are restJson1 errors as AWS sends them: the HTTP status,
//!   `x-amzn-errortype: <Type>:http://internal.amazon.com/coral/com.amazon.bedrock/`,
//!   `x-amzn-requestid`, and a JSON body `{"message": ...}`.
//!
//! The model id arrives URL-encoded in the path (`...-v1%3A0`); it is recorded decoded.
//!
//! Each model call consumes the next [`Turn`] of the script, in request order. A request the
//! real service rejects (malformed JSON, no messages, a conversation that does not start with a
//! user turn or does not alternate roles, blank text, tool results that do not answer exactly
//! the previous turn's tool uses, tool blocks without `toolConfig`) gets
//! `400 ValidationException` and consumes no turn. When the script has run out, every call gets
//! `400 ValidationException` saying so, so a test whose code makes an unplanned call fails
//! loudly; a stand-in started with a [`Fallback`] asks it for the turn instead (the standalone
//! `bedrock-standin` binary, with [`crate::demo_model`]). Every request, accepted or not, is recorded ([`BedrockStandIn::requests`]).
//!
//! Usage is computed, not scripted: a request's input is its body's length in bytes / 4 and
//! `outputTokens` the answer's characters (text and tool input JSON) / 4, both rounded up and at
//! least 1.
//!
//! Prompt caching, as the stand-in accounts it (its own documented model of Bedrock's, which
//! bills a cached prefix once as a write and then as reads:
//! <https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html>):
//! - Cache points (`{"cachePoint": {"type": "default"}}`, optionally with `ttl` `5m` or `1h`)
//!   are accepted where Bedrock takes them: in `system`, in `toolConfig.tools` and in message
//!   content; at most [`MAX_CACHE_POINTS`] in a request. Any other `cachePoint` (not an object,
//!   another `type`, an unknown field) is a `400 ValidationException`.
//! - A cache point's prefix is everything before it in Bedrock's order: the tools, then the
//!   system blocks. Its size is its compact JSON's length / 4; a prefix under
//!   [`CACHE_MIN_TOKENS`] is not cached (Bedrock accepts such a cache point and caches nothing).
//!   Cache points in messages are accepted and not accounted.
//! - Prefixes are compared as received, key order included (this workspace's `serde_json` keeps
//!   it), so a client that spells the same tools differently from one request to the next
//!   misses, as it would on Bedrock, which matches prefixes exactly.
//! - The longest prefix seen before (by any request to this stand-in; entries never expire) is
//!   `cacheReadInputTokens`; the rest of the longest cacheable prefix is
//!   `cacheWriteInputTokens`, and from then on that prefix is cached. `inputTokens` is the rest
//!   of the input (at least 1) and `totalTokens` the sum of all four counts. Without cache
//!   points the two cache counts are absent, as from a model call without caching.
//!
//! A guardrail ([`BedrockStandIn::set_guardrail`]) plays Bedrock Guardrails' word filter on the
//! input: a request with `guardrailConfig` whose user text contains the trigger word (any case)
//! consumes no turn (the model never runs) and is answered as Bedrock answers a blocked input
//! (<https://docs.aws.amazon.com/bedrock/latest/userguide/guardrails-use-converse-api.html>):
//! `messageStart`, the guardrail's blocked message as a text block, `messageStop` with
//! `stopReason` `guardrail_intervened`, and `metadata` with the usage and
//! `trace.guardrail` (`inputAssessment` keyed by the guardrail id, a `wordPolicy` custom word
//! `BLOCKED`, and `actionReason` [`GUARDRAIL_ACTION_REASON`]); on `Converse`, the same as one
//! document. `guardrailConfig` itself is checked as `GuardrailStreamConfiguration` is specified
//! (identifier, version, `streamProcessingMode`, `trace`), with or without a guardrail set.
//!
//! In-stream throttling ([`Turn::ThrottleInStream`]) as `aws-sdk-bedrockruntime` 1.153 reports
//! it from `EventReceiver::recv`, after the events sent before it (see `tests/bedrock_standin.rs`):
//! - [`ExceptionSpelling::MemberName`] (`:exception-type: throttlingException`, the event-stream
//!   union member name, which is what the SDK's unmarshaller matches):
//!   `SdkError::ServiceError` holding `ConverseStreamOutputError::ThrottlingException`
//!   (`is_throttling_exception()` is true; `code()` is `None`, since the code comes from the
//!   payload, which has only `message`).
//! - [`ExceptionSpelling::ShapeName`] (`:exception-type: ThrottlingException`): the SDK does not
//!   recognise it; `SdkError::ServiceError` holding the generic (unhandled) variant,
//!   `is_throttling_exception()` false, `code()` `None`, `message()` the payload's message. The
//!   spelling is only visible in the raw message's `:exception-type` header
//!   (`SdkError::raw_response()` is `RawMessage::Decoded(message)`), so code that must treat
//!   both spellings as throttling checks `is_throttling_exception()` or that header.
//!
//! A cut connection ([`Turn::Hangup`]) surfaces from `recv()` as `SdkError::DispatchFailure`
//! (an I/O `ConnectorError`), not as a service error.
//!
//! The server stops when the [`BedrockStandIn`] is dropped: it stops accepting, closes idle
//! connections, and ends any stream still pacing a [`Turn::SlowText`].

use std::collections::{HashSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{self, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::moto::REGION;
use crate::serving::Serving;

/// The text sent before a scripted failure in the middle of a stream
/// ([`Turn::ThrottleInStream`], [`Turn::ModelStreamError`], [`Turn::Hangup`]), as two deltas.
pub const PARTIAL_TEXT: &str = "Let me look that up for you.";

/// The message of the throttling errors, as Bedrock words it.
pub const THROTTLING_MESSAGE: &str = "Too many requests, please wait before trying again.";

/// The smallest prefix the stand-in caches, in its tokens: Claude 3.7 Sonnet's (and the Sonnet
/// and Opus 4 models') minimum per cache checkpoint on Bedrock.
pub const CACHE_MIN_TOKENS: u64 = 1024;

/// The most cache points Bedrock takes in one request.
pub const MAX_CACHE_POINTS: usize = 4;

/// The guardrail trace's `actionReason` when the stand-in's guardrail blocks an input.
pub const GUARDRAIL_ACTION_REASON: &str = "Guardrail blocked.";

/// The guardrail the stand-in plays ([`BedrockStandIn::set_guardrail`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandInGuardrail {
    /// A word that blocks any request whose user text contains it, in any case.
    pub trigger: String,
    /// What the guardrail answers instead of the model (its `blockedInputMessaging`).
    pub blocked_input_message: String,
}

/// The largest request body accepted (conversations with tool results grow).
const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// One scripted model turn: what the stand-in answers to the next model call.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// Streams `text` as several `contentBlockDelta` events (at least two when it has two
    /// characters), then `contentBlockStop`, `messageStop` `end_turn` and `metadata`.
    Text(String),
    /// Optional leading text block, then one `toolUse` block per call (`contentBlockStart` with
    /// `toolUseId` and `name`, the input as compact JSON streamed in two or more string pieces,
    /// `contentBlockStop`), then `messageStop` `tool_use` and `metadata`.
    ToolUse {
        text: Option<String>,
        calls: Vec<ToolCall>,
    },
    /// Like [`Turn::Text`] but the model ran out of output tokens: `messageStop` `max_tokens`.
    MaxTokens(String),
    /// `429` with `x-amzn-errortype: ThrottlingException` before any stream; the SDK's
    /// `send()` fails with its `ThrottlingException` variant.
    ThrottleBeforeStream,
    /// `messageStart` and [`PARTIAL_TEXT`] as two deltas, then an exception frame
    /// (`:exception-type` spelt as `spelling` says, payload `{"message": THROTTLING_MESSAGE}`)
    /// and the end of the body. On `Converse`, a `429 ThrottlingException`.
    ThrottleInStream { spelling: ExceptionSpelling },
    /// `messageStart` and [`PARTIAL_TEXT`], then a `modelStreamErrorException` frame (payload
    /// `message`, `originalStatusCode` 500, `originalMessage`). On `Converse`, a
    /// `424 ModelErrorException`.
    ModelStreamError,
    /// `503` with `x-amzn-errortype: ServiceUnavailableException` before any stream.
    Unavailable,
    /// Any other error before any stream, e.g. `400 ValidationException`,
    /// `403 AccessDeniedException`, `408 ModelTimeoutException`.
    Error {
        status: u16,
        error_type: String,
        message: String,
    },
    /// Like [`Turn::Text`] but `text` goes out as `chunks` deltas with `delay` between them. A
    /// client that goes away before the end is counted in [`BedrockStandIn::disconnects`] once
    /// the server notices (at the latest at its next write). On `Converse`, the answer comes
    /// after `chunks × delay`.
    SlowText {
        text: String,
        chunks: usize,
        delay: Duration,
    },
    /// `messageStart` and [`PARTIAL_TEXT`], then the connection is cut in the middle of the
    /// body (no `messageStop`, no terminating chunk): a network failure mid-stream, which the
    /// SDK reports from `recv()` as a transport error, not a service error. On `Converse`, the
    /// connection is cut before the answer is complete (`send()` fails with a dispatch failure).
    Hangup,
}

impl Turn {
    /// A [`Turn::Text`].
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// A [`Turn::ToolUse`] without leading text.
    pub fn tool_use(calls: impl IntoIterator<Item = ToolCall>) -> Self {
        Self::ToolUse {
            text: None,
            calls: calls.into_iter().collect(),
        }
    }
}

/// One tool call the scripted model makes.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// `toolUseId`, which the next request's `toolResult` must answer.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The tool input (a JSON object for real tools).
    pub input: Value,
    /// The input exactly as streamed, when it must be JSON that [`Value`] cannot hold (such as
    /// an object with a key twice); `input` is then only used on `Converse`.
    pub raw_input: Option<String>,
}

impl ToolCall {
    pub fn new(id: impl Into<String>, name: impl Into<String>, input: Value) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            input,
            raw_input: None,
        }
    }

    /// A call whose streamed input is `raw` as it is (ConverseStream only).
    pub fn with_raw_input(
        id: impl Into<String>,
        name: impl Into<String>,
        raw: impl Into<String>,
    ) -> Self {
        let raw = raw.into();
        Self {
            id: id.into(),
            name: name.into(),
            input: serde_json::from_str(&raw).unwrap_or(Value::Null),
            raw_input: Some(raw),
        }
    }

    /// The input as the model streams it.
    fn streamed_input(&self) -> String {
        self.raw_input
            .clone()
            .unwrap_or_else(|| self.input.to_string())
    }
}

/// How an in-stream exception names its type in the `:exception-type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionSpelling {
    /// The event-stream union member name, `throttlingException`: the SDK maps it to its
    /// `ThrottlingException` variant.
    MemberName,
    /// The error shape name, `ThrottlingException`: the SDK does not recognise it and reports
    /// a generic (unhandled) error.
    ShapeName,
}

/// The Bedrock operation a request called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Converse,
    ConverseStream,
}

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub operation: Operation,
    /// The model id, URL-decoded from the path (empty if the path segment did not decode).
    pub model_id: String,
    /// The request path as sent, still URL-encoded.
    pub path: String,
    /// The JSON body (`messages`, `system`, `toolConfig`, `inferenceConfig`, ... as the SDK
    /// serialises them); a body that is not JSON is kept as a JSON string of its text.
    pub body: Value,
    pub headers: HeaderMap,
}

impl RecordedRequest {
    /// The value of header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A running stand-in; stops when dropped.
pub struct BedrockStandIn {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    shared: Arc<Shared>,
    /// Dropping it stops the server.
    _serving: Serving,
    /// Dropping it ends the paced streams still running.
    _end_streams: watch::Sender<()>,
}

/// Decides a turn from the request itself (its JSON body) once the script has run out; see
/// [`BedrockStandIn::serve_with_fallback`].
pub type Fallback = Box<dyn Fn(&Value) -> Turn + Send + Sync>;

struct Shared {
    script: Mutex<VecDeque<Turn>>,
    guardrail: Mutex<Option<StandInGuardrail>>,
    /// The prompt prefixes cached so far, as their JSON.
    cached_prefixes: Mutex<HashSet<String>>,
    fallback: Option<Fallback>,
    requests: Mutex<Vec<RecordedRequest>>,
    disconnects: AtomicUsize,
    request_count: AtomicUsize,
    shutdown: watch::Receiver<()>,
}

/// Locks a mutex; a test that panicked while holding one has failed already, so the data is
/// still worth reading.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl BedrockStandIn {
    /// Starts the stand-in on a free loopback port with `script` as its queue of turns.
    pub async fn start(script: impl IntoIterator<Item = Turn>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a free loopback port");
        Self::serve(listener, script.into_iter().collect(), None)
    }

    /// Serves on `listener` with no script: every call is answered by `fallback`. This is the
    /// standalone stand-in's mode (`bedrock-standin`), where no test writes a script.
    pub fn serve_with_fallback(listener: tokio::net::TcpListener, fallback: Fallback) -> Self {
        Self::serve(listener, VecDeque::new(), Some(fallback))
    }

    fn serve(
        listener: tokio::net::TcpListener,
        script: VecDeque<Turn>,
        fallback: Option<Fallback>,
    ) -> Self {
        let address = listener
            .local_addr()
            .expect("bound listener has an address");
        let (end_streams, streams_ended) = watch::channel(());
        let shared = Arc::new(Shared {
            script: Mutex::new(script),
            guardrail: Mutex::new(None),
            cached_prefixes: Mutex::new(HashSet::new()),
            fallback,
            requests: Mutex::new(Vec::new()),
            disconnects: AtomicUsize::new(0),
            request_count: AtomicUsize::new(0),
            shutdown: streams_ended,
        });
        let app = Router::new()
            .route("/model/{model_id}/converse-stream", post(converse_stream))
            .route("/model/{model_id}/converse", post(converse))
            .fallback(unknown_operation)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(Arc::clone(&shared));
        Self {
            endpoint: format!("http://{address}"),
            shared,
            _serving: Serving::start("Bedrock stand-in", listener, app),
            _end_streams: end_streams,
        }
    }

    /// Appends a turn to the script.
    pub fn push(&self, turn: Turn) {
        lock(&self.shared.script).push_back(turn);
    }

    /// Plays `guardrail` on every later request that carries a `guardrailConfig`.
    pub fn set_guardrail(&self, guardrail: StandInGuardrail) {
        *lock(&self.shared.guardrail) = Some(guardrail);
    }

    /// How many scripted turns have not been consumed yet.
    pub fn remaining(&self) -> usize {
        lock(&self.shared.script).len()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many streamed answers the client abandoned before their end (noticed by the server
    /// when the response body was dropped unfinished).
    pub fn disconnects(&self) -> usize {
        self.shared.disconnects.load(Ordering::SeqCst)
    }

    /// Waits until [`disconnects`](Self::disconnects) reaches `at_least` or `timeout` passes;
    /// returns the count then.
    pub async fn wait_for_disconnects(&self, at_least: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let count = self.disconnects();
            if count >= at_least || Instant::now() >= deadline {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Environment for a process's AWS SDK to use this stand-in for Bedrock Runtime only, with
    /// dummy credentials.
    pub fn sdk_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", self.endpoint.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

async fn converse_stream(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    model_id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    handle(
        shared,
        Operation::ConverseStream,
        uri,
        headers,
        model_id,
        body,
    )
    .await
}

async fn converse(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    model_id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    handle(shared, Operation::Converse, uri, headers, model_id, body).await
}

/// What Bedrock answers to a path it has no operation for.
async fn unknown_operation(uri: Uri) -> Response {
    aws_error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        &format!(
            "Bedrock stand-in: no operation at {uri} (it serves POST /model/{{modelId}}/converse and /converse-stream)"
        ),
        "00000000-0000-4000-8000-000000000000",
    )
}

/// Records the request, rejects what Bedrock would reject, and answers the next turn.
async fn handle(
    shared: Arc<Shared>,
    operation: Operation,
    uri: Uri,
    headers: HeaderMap,
    model_id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let number = shared.request_count.fetch_add(1, Ordering::SeqCst) + 1;
    let request_id = format!("00000000-0000-4000-8000-{number:012x}");
    let (model_id, path_error) = match model_id {
        Ok(Path(id)) => (id, None),
        Err(rejection) => (String::new(), Some(rejection.body_text())),
    };
    let parsed: Result<Value, serde_json::Error> = serde_json::from_slice(&body);
    lock(&shared.requests).push(RecordedRequest {
        operation,
        model_id,
        path: uri.path().to_owned(),
        body: match &parsed {
            Ok(value) => value.clone(),
            Err(_) => Value::String(String::from_utf8_lossy(&body).into_owned()),
        },
        headers,
    });

    let validation = |message: String| {
        aws_error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            &message,
            &request_id,
        )
    };
    if let Some(error) = path_error {
        return validation(format!("The provided model identifier is invalid: {error}"));
    }
    let request = match parsed {
        Ok(request) => request,
        Err(error) => {
            return validation(format!(
                "Malformed input request: {error}, please reformat your input and try again."
            ));
        }
    };
    if let Err(message) = validate(&request) {
        return validation(message);
    }
    let cache = cache_usage(&shared, &request);
    let input_tokens = tokens(body.len());
    let blocked = lock(&shared.guardrail)
        .clone()
        .filter(|guardrail| blocks(guardrail, &request));
    if let Some(guardrail) = blocked {
        let answer = Answer {
            input_tokens,
            cache,
            started,
            request_id,
        };
        let identifier = request["guardrailConfig"]["guardrailIdentifier"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let reply = Reply {
            blocks: vec![Block::Text(guardrail.blocked_input_message.clone())],
            stop_reason: "guardrail_intervened",
            trace: Some(json!({ "guardrail": {
                "inputAssessment": { identifier: { "wordPolicy": {
                    "customWords": [{ "match": guardrail.trigger, "action": "BLOCKED", "detected": true }],
                    "managedWordLists": [],
                } } },
                "actionReason": GUARDRAIL_ACTION_REASON,
            } })),
        };
        return match operation {
            Operation::ConverseStream => {
                let mut events = Events::new();
                events.reply(&reply, &answer, None);
                event_stream_response(&shared, events, &answer)
            }
            Operation::Converse => converse_reply(&reply, &answer),
        };
    }
    let scripted = lock(&shared.script).pop_front();
    let Some(turn) = scripted.or_else(|| shared.fallback.as_ref().map(|decide| decide(&request)))
    else {
        return validation(format!(
            "Bedrock stand-in: the script ran out of turns; request {number} (POST {}) has no \
             scripted answer. Script one more Turn or find the unexpected model call.",
            uri.path()
        ));
    };

    let answer = Answer {
        input_tokens,
        cache,
        started,
        request_id,
    };
    match operation {
        Operation::ConverseStream => stream_response(&shared, turn, &answer),
        Operation::Converse => converse_response(&shared, turn, &answer).await,
    }
}

/// What every answer to one request shares.
struct Answer {
    /// The whole input, cached parts included.
    input_tokens: u64,
    /// The cache accounting, for a request with cache points.
    cache: Option<CacheUsage>,
    started: Instant,
    request_id: String,
}

/// Input tokens read from and written to the cache by one request.
#[derive(Debug, Clone, Copy)]
struct CacheUsage {
    read: u64,
    write: u64,
}

impl Answer {
    fn usage(&self, output_tokens: u64) -> Value {
        let Some(cache) = self.cache else {
            return json!({
                "inputTokens": self.input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": self.input_tokens + output_tokens,
            });
        };
        let uncached = self
            .input_tokens
            .saturating_sub(cache.read + cache.write)
            .max(1);
        json!({
            "inputTokens": uncached,
            "outputTokens": output_tokens,
            "totalTokens": uncached + output_tokens + cache.read + cache.write,
            "cacheReadInputTokens": cache.read,
            "cacheWriteInputTokens": cache.write,
        })
    }

    fn latency_ms(&self, still_to_wait: Duration) -> u64 {
        let ms = (self.started.elapsed() + still_to_wait).as_millis();
        u64::try_from(ms).unwrap_or(u64::MAX).max(1)
    }
}

/// Token count estimate: a quarter of the characters, at least one.
fn tokens(characters: usize) -> u64 {
    u64::try_from(characters.div_ceil(4))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The cache accounting of `request` (see the module doc), and the prefixes it makes cached;
/// `None` when it has no cache point in `system` or `toolConfig.tools`.
fn cache_usage(shared: &Shared, request: &Value) -> Option<CacheUsage> {
    let is_cache_point = |block: &Value| block.get("cachePoint").is_some();
    let tools = request["toolConfig"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let system = request["system"].as_array().cloned().unwrap_or_default();
    // Each cache point's prefix, shortest first: the tools before it, or all the tools and the
    // system blocks before it.
    let mut prefixes = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        if is_cache_point(tool) {
            prefixes.push(json!({ "tools": &tools[..i] }).to_string());
        }
    }
    for (j, block) in system.iter().enumerate() {
        if is_cache_point(block) {
            prefixes.push(json!({ "tools": &tools, "system": &system[..j] }).to_string());
        }
    }
    if prefixes.is_empty() {
        return None;
    }
    let cacheable: Vec<(String, u64)> = prefixes
        .into_iter()
        .map(|prefix| {
            let size = tokens(prefix.len());
            (prefix, size)
        })
        .filter(|(_, size)| *size >= CACHE_MIN_TOKENS)
        .collect();
    let mut cached = lock(&shared.cached_prefixes);
    let read = cacheable
        .iter()
        .filter(|(prefix, _)| cached.contains(prefix))
        .map(|(_, size)| *size)
        .max()
        .unwrap_or(0);
    let longest = cacheable.iter().map(|(_, size)| *size).max().unwrap_or(0);
    cached.extend(cacheable.into_iter().map(|(prefix, _)| prefix));
    Some(CacheUsage {
        read,
        write: longest - read,
    })
}

/// Whether the stand-in's `guardrail` blocks `request`: it asks for a guardrail and some user
/// text contains the trigger word. Tool results are not screened, as Bedrock does not screen
/// them.
fn blocks(guardrail: &StandInGuardrail, request: &Value) -> bool {
    if request.get("guardrailConfig").is_none() {
        return false;
    }
    let trigger = guardrail.trigger.to_lowercase();
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|message| message["role"] == "user")
        .filter_map(|message| message["content"].as_array())
        .flatten()
        .filter_map(|block| block["text"].as_str())
        .any(|text| text.to_lowercase().contains(&trigger))
}

/// A complete assistant message.
struct Reply {
    blocks: Vec<Block>,
    stop_reason: &'static str,
    /// The metadata's `trace` (a guardrail's assessment).
    trace: Option<Value>,
}

enum Block {
    Text(String),
    ToolUse(ToolCall),
}

impl Reply {
    fn text(text: String, stop_reason: &'static str) -> Self {
        Self {
            blocks: vec![Block::Text(text)],
            stop_reason,
            trace: None,
        }
    }

    fn output_tokens(&self) -> u64 {
        let characters = self
            .blocks
            .iter()
            .map(|block| match block {
                Block::Text(text) => text.chars().count(),
                Block::ToolUse(call) => call.streamed_input().chars().count(),
            })
            .sum();
        tokens(characters)
    }

    /// The `output.message.content` of a `Converse` answer.
    fn content_json(&self) -> Value {
        Value::Array(
            self.blocks
                .iter()
                .map(|block| match block {
                    Block::Text(text) => json!({ "text": text }),
                    Block::ToolUse(call) => json!({
                        "toolUse": {
                            "toolUseId": call.id,
                            "name": call.name,
                            "input": call.input,
                        }
                    }),
                })
                .collect(),
        )
    }
}

/// An error before any stream, as restJson1 services send it.
fn aws_error(status: StatusCode, error_type: &str, message: &str, request_id: &str) -> Response {
    let mut response = (status, json!({ "message": message }).to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let error_type = format!("{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/");
    headers.insert(
        "x-amzn-errortype",
        http::HeaderValue::from_str(&error_type).unwrap_or_else(|_| {
            http::HeaderValue::from_static("InternalServerException:invalid-scripted-error-type")
        }),
    );
    insert_request_id(headers, request_id);
    response
}

fn insert_request_id(headers: &mut HeaderMap, request_id: &str) {
    if let Ok(value) = http::HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
}

fn throttling(answer: &Answer) -> Response {
    aws_error(
        StatusCode::TOO_MANY_REQUESTS,
        "ThrottlingException",
        THROTTLING_MESSAGE,
        &answer.request_id,
    )
}

fn scripted_error(answer: &Answer, status: u16, error_type: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    aws_error(status, error_type, message, &answer.request_id)
}

fn unavailable(answer: &Answer) -> Response {
    aws_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailableException",
        "Bedrock is unable to process your request.",
        &answer.request_id,
    )
}

const MODEL_STREAM_ERROR_MESSAGE: &str =
    "Received error from model: the model encountered an error while streaming.";

// ---------------------------------------------------------------------------------------------
// ConverseStream

/// One thing the response body does next.
enum Step {
    Frame(Bytes),
    Sleep(Duration),
    /// Fails the body, which makes hyper cut the connection.
    Hangup,
}

/// The frames of one streamed answer, numbered for the padding.
struct Events {
    steps: Vec<Step>,
    sequence: usize,
}

impl Events {
    fn new() -> Self {
        Self {
            steps: Vec::new(),
            sequence: 0,
        }
    }

    /// An `event` frame of type `event_type` with a JSON payload, padded like Bedrock's.
    fn event(&mut self, event_type: &'static str, mut payload: Value) {
        self.sequence += 1;
        payload["p"] = Value::String(padding(self.sequence).to_owned());
        self.frame(":event-type", event_type, "event", &payload);
    }

    /// An `exception` frame.
    fn exception(&mut self, exception_type: &'static str, payload: &Value) {
        self.frame(":exception-type", exception_type, "exception", payload);
    }

    /// A frame whose kind is named by `kind_header` (`:event-type` or `:exception-type`).
    fn frame(
        &mut self,
        kind_header: &'static str,
        kind: &'static str,
        message_type: &'static str,
        payload: &Value,
    ) {
        let message = Message::new(payload.to_string().into_bytes())
            .add_header(Header::new(kind_header, HeaderValue::String(kind.into())))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String(message_type.into()),
            ));
        self.steps.push(Step::Frame(encode(&message)));
    }

    fn message_start(&mut self) {
        self.event("messageStart", json!({ "role": "assistant" }));
    }

    fn text_delta(&mut self, index: usize, text: &str) {
        self.event(
            "contentBlockDelta",
            json!({ "contentBlockIndex": index, "delta": { "text": text } }),
        );
    }

    /// The text block at `index` in `pieces` deltas, `pause` before each but the first.
    fn text_block(&mut self, index: usize, text: &str, pieces: usize, pause: Option<Duration>) {
        for (n, piece) in split(text, pieces).iter().enumerate() {
            if n > 0
                && let Some(pause) = pause
            {
                self.steps.push(Step::Sleep(pause));
            }
            self.text_delta(index, piece);
        }
        self.event("contentBlockStop", json!({ "contentBlockIndex": index }));
    }

    fn tool_use_block(&mut self, index: usize, call: &ToolCall) {
        self.event(
            "contentBlockStart",
            json!({
                "contentBlockIndex": index,
                "start": { "toolUse": { "toolUseId": call.id, "name": call.name } },
            }),
        );
        let input = call.streamed_input();
        for piece in split(&input, default_pieces(&input)) {
            self.event(
                "contentBlockDelta",
                json!({ "contentBlockIndex": index, "delta": { "toolUse": { "input": piece } } }),
            );
        }
        self.event("contentBlockStop", json!({ "contentBlockIndex": index }));
    }

    /// The whole of `reply`, text paced as `pacing` says (pieces, pause).
    fn reply(&mut self, reply: &Reply, answer: &Answer, pacing: Option<(usize, Duration)>) {
        self.message_start();
        for (index, block) in reply.blocks.iter().enumerate() {
            match block {
                Block::Text(text) => match pacing {
                    Some((pieces, pause)) => self.text_block(index, text, pieces, Some(pause)),
                    None => self.text_block(index, text, default_pieces(text), None),
                },
                Block::ToolUse(call) => self.tool_use_block(index, call),
            }
        }
        self.event("messageStop", json!({ "stopReason": reply.stop_reason }));
        let still_to_wait = self
            .steps
            .iter()
            .map(|step| match step {
                Step::Sleep(pause) => *pause,
                _ => Duration::ZERO,
            })
            .sum();
        let mut metadata = json!({
            "usage": answer.usage(reply.output_tokens()),
            "metrics": { "latencyMs": answer.latency_ms(still_to_wait) },
        });
        if let Some(trace) = &reply.trace {
            metadata["trace"] = trace.clone();
        }
        self.event("metadata", metadata);
    }

    /// `messageStart` and [`PARTIAL_TEXT`] as two deltas: the start of an answer that fails.
    fn partial(&mut self) {
        self.message_start();
        for piece in split(PARTIAL_TEXT, 2) {
            self.text_delta(0, &piece);
        }
    }
}

fn encode(message: &Message) -> Bytes {
    let mut buffer = Vec::new();
    write_message_to(message, &mut buffer).expect("a stand-in event fits in one frame");
    Bytes::from(buffer)
}

/// The `p` field: Bedrock pads events with a run of letters and digits of varying length.
fn padding(sequence: usize) -> &'static str {
    const PAD: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    &PAD[..1 + (sequence * 7) % (PAD.len() - 1)]
}

/// How many pieces a text or tool input is streamed in: about 12 characters each, at least 2.
fn default_pieces(text: &str) -> usize {
    text.chars().count().div_ceil(12).max(2)
}

/// `text` cut into `pieces` parts of nearly equal length at character boundaries (fewer when it
/// has fewer characters; one empty part for empty text).
fn split(text: &str, pieces: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let pieces = pieces.clamp(1, chars.len().max(1));
    (0..pieces)
        .map(|n| {
            let start = chars.len() * n / pieces;
            let end = chars.len() * (n + 1) / pieces;
            chars[start..end].iter().collect()
        })
        .collect()
}

fn stream_response(shared: &Arc<Shared>, turn: Turn, answer: &Answer) -> Response {
    let mut events = Events::new();
    match turn {
        Turn::Text(text) => events.reply(&Reply::text(text, "end_turn"), answer, None),
        Turn::MaxTokens(text) => events.reply(&Reply::text(text, "max_tokens"), answer, None),
        Turn::ToolUse { text, calls } => {
            let blocks = text
                .into_iter()
                .map(Block::Text)
                .chain(calls.into_iter().map(Block::ToolUse))
                .collect();
            let reply = Reply {
                blocks,
                stop_reason: "tool_use",
                trace: None,
            };
            events.reply(&reply, answer, None);
        }
        Turn::SlowText {
            text,
            chunks,
            delay,
        } => events.reply(
            &Reply::text(text, "end_turn"),
            answer,
            Some((chunks.max(1), delay)),
        ),
        Turn::ThrottleBeforeStream => return throttling(answer),
        Turn::Unavailable => return unavailable(answer),
        Turn::Error {
            status,
            error_type,
            message,
        } => return scripted_error(answer, status, &error_type, &message),
        Turn::ThrottleInStream { spelling } => {
            events.partial();
            let exception_type = match spelling {
                ExceptionSpelling::MemberName => "throttlingException",
                ExceptionSpelling::ShapeName => "ThrottlingException",
            };
            events.exception(exception_type, &json!({ "message": THROTTLING_MESSAGE }));
        }
        Turn::ModelStreamError => {
            events.partial();
            events.exception(
                "modelStreamErrorException",
                &json!({
                    "message": MODEL_STREAM_ERROR_MESSAGE,
                    "originalStatusCode": 500,
                    "originalMessage": "Internal server error",
                }),
            );
        }
        Turn::Hangup => {
            events.partial();
            // A pause first, so hyper flushes the partial answer before the cut.
            events.steps.push(Step::Sleep(Duration::from_millis(50)));
            events.steps.push(Step::Hangup);
        }
    }

    event_stream_response(shared, events, answer)
}

/// `events` as a `200` event-stream answer.
fn event_stream_response(shared: &Arc<Shared>, events: Events, answer: &Answer) -> Response {
    let body = paced_body(shared, events.steps);
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    insert_request_id(headers, &answer.request_id);
    response
}

/// Counts an answer in `disconnects` if it is dropped before it was finished.
struct DisconnectGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl DisconnectGuard {
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.disconnects.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A response body that plays `steps` in order; ends early, not counted as a disconnect, when
/// the stand-in is dropped.
fn paced_body(shared: &Arc<Shared>, steps: Vec<Step>) -> Body {
    let state = (
        VecDeque::from(steps),
        DisconnectGuard {
            shared: Arc::clone(shared),
            finished: false,
        },
        shared.shutdown.clone(),
    );
    let stream =
        futures::stream::unfold(state, |(mut steps, mut guard, mut shutdown)| async move {
            loop {
                match steps.pop_front() {
                    Some(Step::Frame(bytes)) => {
                        return Some((Ok::<Bytes, io::Error>(bytes), (steps, guard, shutdown)));
                    }
                    Some(Step::Sleep(pause)) => {
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {}
                            _ = shutdown.changed() => {
                                guard.finish();
                                return None;
                            }
                        }
                    }
                    Some(Step::Hangup) => {
                        guard.finish();
                        let error =
                            io::Error::other("scripted hang-up in the middle of the stream");
                        return Some((Err(error), (steps, guard, shutdown)));
                    }
                    None => {
                        guard.finish();
                        return None;
                    }
                }
            }
        });
    Body::from_stream(stream)
}

// ---------------------------------------------------------------------------------------------
// Converse

async fn converse_response(shared: &Arc<Shared>, turn: Turn, answer: &Answer) -> Response {
    let reply = match turn {
        Turn::Text(text) => Reply::text(text, "end_turn"),
        Turn::MaxTokens(text) => Reply::text(text, "max_tokens"),
        Turn::ToolUse { text, calls } => Reply {
            blocks: text
                .into_iter()
                .map(Block::Text)
                .chain(calls.into_iter().map(Block::ToolUse))
                .collect(),
            stop_reason: "tool_use",
            trace: None,
        },
        Turn::SlowText {
            text,
            chunks,
            delay,
        } => {
            let mut guard = DisconnectGuard {
                shared: Arc::clone(shared),
                finished: false,
            };
            let wait = delay.saturating_mul(u32::try_from(chunks.max(1)).unwrap_or(u32::MAX));
            let mut shutdown = shared.shutdown.clone();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
            guard.finish();
            Reply::text(text, "end_turn")
        }
        Turn::ThrottleBeforeStream | Turn::ThrottleInStream { .. } => return throttling(answer),
        Turn::Unavailable => return unavailable(answer),
        Turn::Error {
            status,
            error_type,
            message,
        } => return scripted_error(answer, status, &error_type, &message),
        Turn::ModelStreamError => {
            return scripted_error(
                answer,
                424,
                "ModelErrorException",
                MODEL_STREAM_ERROR_MESSAGE,
            );
        }
        Turn::Hangup => {
            let steps = vec![Step::Hangup];
            let mut response = Response::new(paced_body(shared, steps));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            return response;
        }
    };
    converse_reply(&reply, answer)
}

/// A whole `Converse` answer.
fn converse_reply(reply: &Reply, answer: &Answer) -> Response {
    let mut body = json!({
        "output": { "message": { "role": "assistant", "content": reply.content_json() } },
        "stopReason": reply.stop_reason,
        "usage": answer.usage(reply.output_tokens()),
        "metrics": { "latencyMs": answer.latency_ms(Duration::ZERO) },
    });
    if let Some(trace) = &reply.trace {
        body["trace"] = trace.clone();
    }
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    insert_request_id(headers, &answer.request_id);
    response
}

// ---------------------------------------------------------------------------------------------
// Validation: what Bedrock rejects before the model runs.

/// Checks a Converse/ConverseStream request body the way Bedrock does for the parts the agent
/// can get wrong; the error is the ValidationException message.
fn validate(request: &Value) -> Result<(), String> {
    let Some(request) = request.as_object() else {
        return Err(
            "Malformed input request: the body must be a JSON object, please reformat \
                    your input and try again."
                .into(),
        );
    };
    let messages = match request.get("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        Some(Value::Array(_)) => {
            return Err("The messages field must contain at least one message.".into());
        }
        Some(_) => return Err("The messages field must be an array of messages.".into()),
        None => {
            return Err(
                "The messages field is required (the stand-in serves no prompt resources).".into(),
            );
        }
    };
    let mut uses_tool_blocks = false;
    let mut previous_role = None;
    // The toolUseIds the previous assistant turn asked for.
    let mut open_tool_uses: Vec<&str> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let role = match message.get("role").and_then(Value::as_str) {
            Some(role @ ("user" | "assistant")) => role,
            _ => {
                return Err(format!(
                    "messages.{i}.role must be \"user\" or \"assistant\"."
                ));
            }
        };
        if i == 0 && role != "user" {
            return Err(
                "A conversation must start with a user message. Try again with a \
                        conversation that starts with a user message."
                    .into(),
            );
        }
        if previous_role == Some(role) {
            return Err(
                "A conversation must alternate between user and assistant roles. Make \
                        sure the conversation alternates between user and assistant roles and \
                        try again."
                    .into(),
            );
        }
        previous_role = Some(role);
        let Some(content) = message
            .get("content")
            .and_then(Value::as_array)
            .filter(|content| !content.is_empty())
        else {
            return Err(format!(
                "messages.{i}.content must be a non-empty array of content blocks."
            ));
        };
        let mut tool_uses = Vec::new();
        let mut tool_results = Vec::new();
        for (j, block) in content.iter().enumerate() {
            let Some(block) = block.as_object().filter(|block| !block.is_empty()) else {
                return Err(format!(
                    "messages.{i}.content.{j} must be a content block object."
                ));
            };
            if let Some(cache_point) = block.get("cachePoint") {
                check_cache_point(cache_point, &format!("messages.{i}.content.{j}"))?;
            }
            if let Some(text) = block.get("text") {
                match text.as_str() {
                    Some(text) if !text.trim().is_empty() => {}
                    Some(_) => {
                        return Err(format!(
                            "The text field in the ContentBlock object at messages.{i}.content.{j} \
                             is blank. Add text to the text field, and try again."
                        ));
                    }
                    None => return Err(format!("messages.{i}.content.{j}.text must be a string.")),
                }
            }
            if let Some(tool_use) = block.get("toolUse") {
                uses_tool_blocks = true;
                if role != "assistant" {
                    return Err(format!(
                        "messages.{i}.content.{j}: toolUse blocks are only allowed in assistant \
                         messages."
                    ));
                }
                let id = tool_use.get("toolUseId").and_then(Value::as_str);
                let name = tool_use.get("name").and_then(Value::as_str);
                let (Some(id), Some(_), Some(_)) = (id, name, tool_use.get("input")) else {
                    return Err(format!(
                        "messages.{i}.content.{j}.toolUse needs toolUseId, name and input."
                    ));
                };
                tool_uses.push(id);
            }
            if let Some(tool_result) = block.get("toolResult") {
                uses_tool_blocks = true;
                if role != "user" {
                    return Err(format!(
                        "messages.{i}.content.{j}: toolResult blocks are only allowed in user \
                         messages."
                    ));
                }
                let Some(id) = tool_result.get("toolUseId").and_then(Value::as_str) else {
                    return Err(format!(
                        "messages.{i}.content.{j}.toolResult needs a toolUseId."
                    ));
                };
                if !tool_result.get("content").is_some_and(Value::is_array) {
                    return Err(format!(
                        "messages.{i}.content.{j}.toolResult.content must be an array."
                    ));
                }
                tool_results.push(id);
            }
        }
        if role == "user" {
            let missing: Vec<&str> = open_tool_uses
                .iter()
                .copied()
                .filter(|id| !tool_results.contains(id))
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "Expected toolResult blocks at messages.{i}.content for the following Ids: {}",
                    missing.join(", ")
                ));
            }
            if let Some(unknown) = tool_results.iter().find(|id| !open_tool_uses.contains(id)) {
                return Err(format!(
                    "messages.{i}.content has a toolResult for toolUseId {unknown}, which the \
                     previous assistant message did not request."
                ));
            }
        }
        open_tool_uses = tool_uses;
    }
    if uses_tool_blocks && !request.contains_key("toolConfig") {
        return Err(
            "The toolConfig field must be defined when using toolUse and toolResult content \
             blocks."
                .into(),
        );
    }
    if let Some(tool_config) = request.get("toolConfig") {
        let Some(tools) = tool_config
            .get("tools")
            .and_then(Value::as_array)
            .filter(|tools| !tools.is_empty())
        else {
            return Err("toolConfig.tools must be a non-empty array.".into());
        };
        for (k, tool) in tools.iter().enumerate() {
            if let Some(cache_point) = tool.get("cachePoint") {
                check_cache_point(cache_point, &format!("toolConfig.tools.{k}"))?;
                continue;
            }
            let spec = tool.get("toolSpec");
            let named = spec
                .and_then(|spec| spec.get("name"))
                .and_then(Value::as_str)
                .is_some_and(|name| !name.is_empty());
            let schema = spec
                .and_then(|spec| spec.get("inputSchema"))
                .and_then(|schema| schema.get("json"))
                .is_some_and(Value::is_object);
            if !named || !schema {
                return Err(format!(
                    "toolConfig.tools.{k} needs toolSpec.name and a JSON object at \
                     toolSpec.inputSchema.json."
                ));
            }
        }
    }
    match request.get("system") {
        Some(Value::Array(system)) => {
            for (k, block) in system.iter().enumerate() {
                if let Some(cache_point) = block.get("cachePoint") {
                    check_cache_point(cache_point, &format!("system.{k}"))?;
                }
            }
        }
        Some(_) => {
            return Err("The system field must be an array of system content blocks.".into());
        }
        None => {}
    }
    let cache_points = ["system", "toolConfig", "messages"]
        .iter()
        .filter_map(|field| request.get(*field))
        .map(count_cache_points)
        .sum::<usize>();
    if cache_points > MAX_CACHE_POINTS {
        return Err(format!(
            "A maximum of {MAX_CACHE_POINTS} cache points is allowed per request; this one has \
             {cache_points}."
        ));
    }
    if let Some(guardrail) = request.get("guardrailConfig") {
        check_guardrail_config(guardrail)?;
    }
    if let Some(config) = request.get("inferenceConfig") {
        let Some(config) = config.as_object() else {
            return Err("The inferenceConfig field must be an object.".into());
        };
        if let Some(max_tokens) = config.get("maxTokens")
            && max_tokens.as_u64().is_none_or(|n| n == 0)
        {
            return Err("inferenceConfig.maxTokens must be an integer of at least 1.".into());
        }
        for key in ["temperature", "topP"] {
            if let Some(value) = config.get(key)
                && !value.as_f64().is_some_and(|v| (0.0..=1.0).contains(&v))
            {
                return Err(format!(
                    "inferenceConfig.{key} must be a number between 0 and 1."
                ));
            }
        }
    }
    Ok(())
}

/// A `cachePoint` as `CachePointBlock` is specified: `type` `default`, optionally a `ttl` of
/// `5m` or `1h`, nothing else
/// (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_CachePointBlock.html>).
fn check_cache_point(cache_point: &Value, at: &str) -> Result<(), String> {
    let Some(fields) = cache_point.as_object() else {
        return Err(format!("{at}.cachePoint must be an object."));
    };
    if fields.get("type").and_then(Value::as_str) != Some("default") {
        return Err(format!(
            "{at}.cachePoint.type must be \"default\"; the value provided is not valid."
        ));
    }
    if let Some(ttl) = fields.get("ttl")
        && !matches!(ttl.as_str(), Some("5m" | "1h"))
    {
        return Err(format!("{at}.cachePoint.ttl must be \"5m\" or \"1h\"."));
    }
    if let Some(unknown) = fields
        .keys()
        .find(|key| !matches!(key.as_str(), "type" | "ttl"))
    {
        return Err(format!("{at}.cachePoint has an unknown field {unknown}."));
    }
    Ok(())
}

/// How many `cachePoint` blocks `value` holds at any depth.
fn count_cache_points(value: &Value) -> usize {
    match value {
        Value::Object(fields) => {
            usize::from(fields.contains_key("cachePoint"))
                + fields.values().map(count_cache_points).sum::<usize>()
        }
        Value::Array(items) => items.iter().map(count_cache_points).sum(),
        _ => 0,
    }
}

/// A `guardrailConfig` as `GuardrailStreamConfiguration` is specified
/// (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_GuardrailStreamConfiguration.html>).
fn check_guardrail_config(config: &Value) -> Result<(), String> {
    let text = |field: &str| config.get(field).and_then(Value::as_str);
    let identifier = text("guardrailIdentifier").unwrap_or_default();
    let plain_id = !identifier.is_empty()
        && identifier
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let arn = identifier.starts_with("arn:aws") && identifier.contains(":guardrail/");
    if !(plain_id || arn) {
        return Err(
            "guardrailConfig.guardrailIdentifier must be a guardrail id or ARN.".to_owned(),
        );
    }
    let version = text("guardrailVersion").unwrap_or_default();
    let numbered = (1..=8).contains(&version.len())
        && !version.starts_with('0')
        && version.bytes().all(|b| b.is_ascii_digit());
    if !(numbered || version == "DRAFT") {
        return Err(
            "guardrailConfig.guardrailVersion must be a version number or DRAFT.".to_owned(),
        );
    }
    if let Some(mode) = config.get("streamProcessingMode")
        && !matches!(mode.as_str(), Some("sync" | "async"))
    {
        return Err("guardrailConfig.streamProcessingMode must be sync or async.".to_owned());
    }
    if let Some(trace) = config.get("trace")
        && !matches!(
            trace.as_str(),
            Some("enabled" | "disabled" | "enabled_full")
        )
    {
        return Err("guardrailConfig.trace must be enabled, disabled or enabled_full.".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_keeps_every_character_in_order() {
        assert_eq!(split("héllo wörld", 3).concat(), "héllo wörld");
        assert_eq!(split("héllo wörld", 3).len(), 3);
        assert_eq!(split("ab", 5), vec!["a", "b"]);
        assert_eq!(split("", 4), vec![""]);
    }
}
