//! An AgentCore Memory data-plane stand-in for the operations the agent calls, `CreateEvent`
//! and `ListEvents`, which moto (5.2.1 serves only the control plane, `bedrock-agentcore-control`)
//! does not have. restJson1 as AWS serves it, from the API reference
//! (<https://docs.aws.amazon.com/bedrock-agentcore/latest/APIReference/API_CreateEvent.html>,
//! <https://docs.aws.amazon.com/bedrock-agentcore/latest/APIReference/API_ListEvents.html>,
//! <https://docs.aws.amazon.com/bedrock-agentcore/latest/APIReference/API_Event.html>):
//!
//! - `POST /memories/{memoryId}/events`: `actorId` (1 to 255 characters,
//!   `[a-zA-Z0-9][a-zA-Z0-9-_/]*`), `sessionId` (1 to 100, `[a-zA-Z0-9][a-zA-Z0-9-_]*`),
//!   `eventTimestamp` (epoch seconds) and 1 to 100 `payload` items are required, else
//!   `400 ValidationException`; an unknown memory is `404 ResourceNotFoundException`. The
//!   answer is `201` with `{"event": {...}}`, an `eventId` of the form `[0-9]+#[a-fA-F0-9]+`.
//! - `POST /memories/{memoryId}/actor/{actorId}/sessions/{sessionId}`: that actor's events in
//!   that session only, newest first, `maxResults` (1 to 100, default 20) a page with an
//!   opaque `nextToken` while more remain.
//!
//! - `POST /memories/{memoryId}/retrieve` (RetrieveMemoryRecords,
//!   <https://docs.aws.amazon.com/bedrock-agentcore/latest/APIReference/API_RetrieveMemoryRecords.html>):
//!   `namespace` and `searchCriteria.searchQuery` required; the records a test put in that
//!   namespace ([`MemoryStandIn::add_record`]), at most `searchCriteria.topK` (default 10) as
//!   `memoryRecordSummaries` (`content.text`). Relevance is not modelled: records come in the
//!   order they were added.
//!
//! Errors carry `x-amzn-errortype` and `{"message"}`. A test can hold `CreateEvent` answers
//! ([`MemoryStandIn::hold_writes`]) to see that the agent does not wait for them, or make every
//! call fail with `500 ServiceException` ([`MemoryStandIn::fail_all`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::serving::{Serving, bind_loopback};

/// A memory id of the form AgentCore gives (`name-` and ten characters).
pub const MEMORY_ID: &str = "support_agent_memory-a1B2c3D4e5";

/// One stored event, as the stand-in keeps it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub actor_id: String,
    pub session_id: String,
    pub event_id: String,
    pub event_timestamp: f64,
    /// The `payload` array as sent.
    pub payload: Value,
}

struct Shared {
    events: Mutex<Vec<StoredEvent>>,
    writes_held: watch::Sender<bool>,
    writes_waiting: AtomicUsize,
    failing: AtomicBool,
    list_calls: Mutex<Vec<(String, String)>>,
    /// (namespace, text) of every long-term record.
    records: Mutex<Vec<(String, String)>>,
    /// The namespace of every `RetrieveMemoryRecords` call.
    retrieve_calls: Mutex<Vec<String>>,
}

/// A running stand-in; stops when dropped.
pub struct MemoryStandIn {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    shared: Arc<Shared>,
    _serving: Serving,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MemoryStandIn {
    pub async fn start() -> Self {
        let (listener, endpoint) = bind_loopback().await;
        let shared = Arc::new(Shared {
            events: Mutex::new(Vec::new()),
            writes_held: watch::channel(false).0,
            writes_waiting: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
            list_calls: Mutex::new(Vec::new()),
            records: Mutex::new(Vec::new()),
            retrieve_calls: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/memories/{memory_id}/events", post(create_event))
            .route(
                "/memories/{memory_id}/actor/{actor_id}/sessions/{session_id}",
                post(list_events),
            )
            .route("/memories/{memory_id}/retrieve", post(retrieve_records))
            .fallback(|| async {
                error(
                    StatusCode::NOT_FOUND,
                    "UnknownOperationException",
                    "unknown operation",
                )
            })
            .with_state(shared.clone());
        Self {
            endpoint,
            shared,
            _serving: Serving::start("AgentCore Memory stand-in", listener, app),
        }
    }

    /// The agent's environment for this stand-in: the SDK's AgentCore endpoint and `MEMORY_ID`.
    pub fn agent_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", self.endpoint.clone()),
            ("MEMORY_ID", MEMORY_ID.to_owned()),
        ]
    }

    /// Every event stored so far, in arrival order.
    pub fn events(&self) -> Vec<StoredEvent> {
        lock(&self.shared.events).clone()
    }

    /// The (actor, session) of every `ListEvents` call so far.
    pub fn list_calls(&self) -> Vec<(String, String)> {
        lock(&self.shared.list_calls).clone()
    }

    /// A long-term memory record in `namespace`, as a strategy would have extracted it.
    pub fn add_record(&self, namespace: &str, text: &str) {
        lock(&self.shared.records).push((namespace.to_owned(), text.to_owned()));
    }

    /// The namespace of every `RetrieveMemoryRecords` call so far.
    pub fn retrieve_calls(&self) -> Vec<String> {
        lock(&self.shared.retrieve_calls).clone()
    }

    /// While `held`, `CreateEvent` requests wait unanswered (and are not stored) until released.
    pub fn hold_writes(&self, held: bool) {
        self.shared.writes_held.send_replace(held);
    }

    /// How many `CreateEvent` requests are waiting on [`Self::hold_writes`].
    pub fn writes_waiting(&self) -> usize {
        self.shared.writes_waiting.load(Ordering::SeqCst)
    }

    /// Makes every call answer `500 ServiceException`.
    pub fn fail_all(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }

    /// Waits until `count` events are stored or `timeout` passes; gives the events then.
    pub async fn wait_for_events(&self, count: usize, timeout: Duration) -> Vec<StoredEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let events = self.events();
            if events.len() >= count || tokio::time::Instant::now() >= deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        [
            ("x-amzn-errortype", error_type.to_owned()),
            ("x-amzn-requestid", uuid::Uuid::new_v4().to_string()),
        ],
        Json(json!({ "message": message })),
    )
        .into_response()
}

fn validation(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "ValidationException", message)
}

fn is_actor_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    (1..=255).contains(&id.len())
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/'))
}

fn is_session_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    (1..=100).contains(&id.len())
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The common checks: the service is up and the memory exists.
fn refused(shared: &Shared, memory_id: &str) -> Option<Response> {
    if shared.failing.load(Ordering::SeqCst) {
        return Some(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "An internal error occurred.",
        ));
    }
    (memory_id != MEMORY_ID).then(|| {
        error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "Memory not found.",
        )
    })
}

fn wire_event(event: &StoredEvent) -> Value {
    json!({
        "memoryId": MEMORY_ID,
        "actorId": event.actor_id,
        "sessionId": event.session_id,
        "eventId": event.event_id,
        "eventTimestamp": event.event_timestamp,
        "payload": event.payload,
    })
}

async fn create_event(
    State(shared): State<Arc<Shared>>,
    Path(memory_id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refusal) = refused(&shared, &memory_id) {
        return refusal;
    }
    let actor_id = body["actorId"].as_str().unwrap_or_default().to_owned();
    let session_id = body["sessionId"].as_str().unwrap_or_default().to_owned();
    if !is_actor_id(&actor_id) {
        return validation("actorId does not match the required pattern.");
    }
    if !is_session_id(&session_id) {
        return validation("sessionId does not match the required pattern.");
    }
    let Some(event_timestamp) = body["eventTimestamp"].as_f64() else {
        return validation("eventTimestamp is required.");
    };
    let payload_items = body["payload"].as_array().map_or(0, Vec::len);
    if !(1..=100).contains(&payload_items) {
        return validation("payload must have 1 to 100 items.");
    }
    let mut held = shared.writes_held.subscribe();
    if *held.borrow() {
        shared.writes_waiting.fetch_add(1, Ordering::SeqCst);
        let _ = held.wait_for(|held| !held).await;
        shared.writes_waiting.fetch_sub(1, Ordering::SeqCst);
    }
    let mut events = lock(&shared.events);
    let millis = (event_timestamp * 1000.0).round();
    let event = StoredEvent {
        actor_id,
        session_id,
        event_id: format!("{millis:013}#{:08x}", events.len() + 1),
        event_timestamp,
        payload: body["payload"].clone(),
    };
    events.push(event.clone());
    (
        StatusCode::CREATED,
        Json(json!({ "event": wire_event(&event) })),
    )
        .into_response()
}

async fn list_events(
    State(shared): State<Arc<Shared>>,
    Path((memory_id, actor_id, session_id)): Path<(String, String, String)>,
    body: Option<Json<Value>>,
) -> Response {
    lock(&shared.list_calls).push((actor_id.clone(), session_id.clone()));
    if let Some(refusal) = refused(&shared, &memory_id) {
        return refusal;
    }
    let body = body.map(|Json(body)| body).unwrap_or_else(|| json!({}));
    let max_results = body["maxResults"].as_u64().unwrap_or(20);
    if !(1..=100).contains(&max_results) {
        return validation("maxResults must be between 1 and 100.");
    }
    let start: usize = match body["nextToken"].as_str() {
        None => 0,
        Some(token) => match token.strip_prefix("page-").and_then(|n| n.parse().ok()) {
            Some(start) => start,
            None => return validation("Invalid nextToken."),
        },
    };
    let mut matching: Vec<StoredEvent> = lock(&shared.events)
        .iter()
        .filter(|e| e.actor_id == actor_id && e.session_id == session_id)
        .cloned()
        .collect();
    matching.reverse();
    matching.sort_by(|a, b| b.event_timestamp.total_cmp(&a.event_timestamp));
    let page_size = usize::try_from(max_results).unwrap_or(100);
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(page_size)
        .map(wire_event)
        .collect();
    let mut answer = json!({ "events": page });
    if start + page_size < matching.len() {
        answer["nextToken"] = json!(format!("page-{}", start + page_size));
    }
    Json(answer).into_response()
}

async fn retrieve_records(
    State(shared): State<Arc<Shared>>,
    Path(memory_id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refusal) = refused(&shared, &memory_id) {
        return refusal;
    }
    let Some(namespace) = body["namespace"].as_str() else {
        return validation("namespace is required.");
    };
    if body["searchCriteria"]["searchQuery"].as_str().is_none() {
        return validation("searchCriteria.searchQuery is required.");
    }
    lock(&shared.retrieve_calls).push(namespace.to_owned());
    let top_k =
        usize::try_from(body["searchCriteria"]["topK"].as_u64().unwrap_or(10)).unwrap_or(10);
    let summaries: Vec<Value> = lock(&shared.records)
        .iter()
        .filter(|(n, _)| n == namespace)
        .take(top_k)
        .enumerate()
        .map(|(i, (n, text))| {
            json!({
                "memoryRecordId": format!("mem-{i:08}"),
                "content": {"text": text},
                "memoryStrategyId": "facts-a1B2c3D4e5",
                "namespaces": [n],
                "createdAt": 1_700_000_000,
                "score": 0.9,
            })
        })
        .collect();
    Json(json!({ "memoryRecordSummaries": summaries })).into_response()
}
