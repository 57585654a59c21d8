//! `POST /invocations`: parse the payload, take the session, start the turn, and answer with
//! an SSE stream of [`Event`]s (the default) or, when the caller accepts only
//! `application/json`, one JSON object.
//!
//! The turn runs in its own task holding the session and a busy mark for `/ping`. The
//! response owns an abort handle: when the client goes away, the response is dropped, the
//! task is aborted, and the model stream and running tool calls stop with it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use agent_protocol::headers::SESSION_ID;
use agent_protocol::{Event, SCHEMA_VERSION};
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Json, Response};
use futures::StreamExt;
use inbound_auth::Caller;
use serde_json::{Value, json};
use tokio::sync::{OwnedMutexGuard, mpsc};
use tokio::task::AbortHandle;
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;

use super::context::InvocationContext;
use super::health::BusyGuard;
use super::{App, error_response, payload_too_large};
use crate::session::{History, SessionError, SessionOwner};
use crate::tools::CallContext;
use crate::turn::{EventSink, TurnError};

/// Events buffered between the turn and a slow client before the turn waits.
const EVENT_BUFFER: usize = 64;

pub async fn handle(State(app): State<Arc<App>>, caller: Caller, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let context = match InvocationContext::from_headers(&parts.headers) {
        Ok(context) => context,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "Invalid session id", e),
    };
    // The route's body limit layer bounds the body: reading past it fails here.
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return payload_too_large(app.max_request_bytes),
    };
    let payload: Value = match serde_json::from_slice(&bytes) {
        Ok(payload) => payload,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "Invalid JSON", e),
    };
    let Some(prompt) = payload
        .get("prompt")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
    else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "Missing prompt",
            "the body must be a JSON object with a non-empty \"prompt\" string",
        );
    };
    let owner = SessionOwner::of(&caller, context.runtime_user_id.as_deref());
    let history = match app.sessions.checkout(&context.session_id, &owner) {
        Ok(history) => history,
        Err(e @ SessionError::Busy) => {
            return error_response(StatusCode::CONFLICT, "Session busy", e);
        }
        Err(e @ SessionError::Full) => {
            return error_response(StatusCode::SERVICE_UNAVAILABLE, "Too many sessions", e);
        }
        Err(SessionError::OwnedByAnother {
            owner: session_owner,
        }) => {
            tracing::warn!(
                security_event = "session_owner_mismatch",
                session_id = %context.session_id,
                request_id = %context.request_id,
                session_owner = %session_owner.short_hash(),
                caller = %owner.short_hash(),
                "refused a request for a session started by another caller"
            );
            let refusal = SessionError::OwnedByAnother {
                owner: session_owner,
            };
            return error_response(
                StatusCode::FORBIDDEN,
                "Session belongs to another caller",
                refusal,
            );
        }
    };
    let span = tracing::info_span!(
        "invoke_agent",
        otel.name = "invoke_agent support-agent",
        otel.kind = "server",
        "gen_ai.operation.name" = "invoke_agent",
        "gen_ai.agent.name" = "support-agent",
        "session.id" = %context.session_id,
        "request.id" = %context.request_id,
        "enduser.id" = caller.subject().unwrap_or("anonymous"),
    );
    service_runtime::telemetry::continue_trace(
        &span,
        &parts.headers,
        &[("session.id", context.session_id.as_str())],
    );
    let (tx, rx) = mpsc::channel(EVENT_BUFFER);
    let task = tokio::spawn(
        run_turn(
            app.clone(),
            history,
            prompt.to_owned(),
            context.clone(),
            caller,
            EventSink(tx),
            app.health.busy(),
        )
        .instrument(span),
    );
    let abort = AbortOnDrop(task.abort_handle());
    let mut response = if accepts_json_only(&parts.headers) {
        json_answer(rx, &context, abort).await
    } else {
        let stream = ReceiverStream::new(rx).map(move |event| {
            let _owned_by_the_stream = &abort;
            Ok::<_, Infallible>(
                SseEvent::default()
                    .json_data(&event)
                    .unwrap_or_else(|_| SseEvent::default().data("{}")),
            )
        });
        Sse::new(stream).into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&context.session_id) {
        response.headers_mut().insert(SESSION_ID, value);
    }
    response
}

/// Aborts the turn when the response that owns it is dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn accepts_json_only(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    accept.contains("application/json") && !accept.contains("text/event-stream")
}

async fn run_turn(
    app: Arc<App>,
    mut history: OwnedMutexGuard<History>,
    prompt: String,
    context: InvocationContext,
    caller: Caller,
    sink: EventSink,
    _busy: BusyGuard,
) {
    let started = Instant::now();
    let start = Event::Start {
        schema_version: SCHEMA_VERSION,
        session_id: context.session_id.clone(),
        request_id: context.request_id.clone(),
    };
    if sink.0.send(start).await.is_err() {
        return;
    }
    let call_context = CallContext {
        access: app.access_policy.access_for(&caller),
        workload_token: context.workload_access_token.clone(),
        request_id: context.request_id.clone(),
    };
    let outcome = tokio::select! {
        outcome = app.agent.run(history.messages(), &prompt, &call_context, &sink) => outcome,
        () = app.ending.cancelled() => Err(TurnError::ShuttingDown),
    };
    match outcome {
        Ok(turn) => {
            tracing::info!(
                session_id = %context.session_id,
                request_id = %context.request_id,
                caller = caller.subject().unwrap_or("anonymous"),
                access = call_context.access.kind(),
                workload_token = context.workload_access_token.is_some(),
                model_calls = turn.model_calls,
                stop_reason = %turn.stop_reason,
                input_tokens = turn.usage.input_tokens,
                output_tokens = turn.usage.output_tokens,
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "turn completed"
            );
            history.commit(turn.new_messages, app.sessions.history_budget);
            let done = Event::Done {
                text: turn.text,
                stop_reason: turn.stop_reason,
                usage: turn.usage,
                model_calls: turn.model_calls,
            };
            let _ = sink.0.send(done).await;
        }
        Err(TurnError::ClientGone) => {
            tracing::info!(session_id = %context.session_id, request_id = %context.request_id, "client went away; turn dropped");
        }
        Err(error) => {
            // The cause is for the logs; the caller gets the plain sentence and the code.
            tracing::warn!(session_id = %context.session_id, request_id = %context.request_id, %error, "turn failed");
            let _ = sink
                .0
                .send(Event::error(error.public_message(), error.error_type()))
                .await;
        }
    }
}

/// Collects a turn's events into one JSON answer.
async fn json_answer(
    mut rx: mpsc::Receiver<Event>,
    context: &InvocationContext,
    _abort: AbortOnDrop,
) -> Response {
    let mut tool_calls: Vec<Value> = Vec::new();
    let mut retries = 0;
    while let Some(event) = rx.recv().await {
        match event {
            Event::ToolCall {
                id,
                name,
                source,
                input,
            } => {
                tool_calls.push(json!({"id": id, "name": name, "source": source, "input": input}));
            }
            Event::ToolResult {
                id, status, output, ..
            } => {
                if let Some(call) = tool_calls.iter_mut().find(|c| c["id"] == json!(id)) {
                    call["status"] = json!(status);
                    call["output"] = output;
                }
            }
            Event::ModelRetry { .. } => retries += 1,
            Event::Done {
                text,
                stop_reason,
                usage,
                model_calls,
            } => {
                return Json(json!({
                    "schema_version": SCHEMA_VERSION,
                    "session_id": context.session_id,
                    "request_id": context.request_id,
                    "text": text,
                    "stop_reason": stop_reason,
                    "usage": usage,
                    "model_calls": model_calls,
                    "model_retries": retries,
                    "tool_calls": tool_calls,
                }))
                .into_response();
            }
            Event::Error {
                error, error_type, ..
            } => {
                let status = if error_type == TurnError::SHUTTING_DOWN {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::BAD_GATEWAY
                };
                return (
                    status,
                    Json(json!({"error": error, "error_type": error_type})),
                )
                    .into_response();
            }
            Event::Start { .. } | Event::TextDelta { .. } | Event::Unknown => {}
        }
    }
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Turn ended without an answer",
        "see the agent's logs",
    )
}
