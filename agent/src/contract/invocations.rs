//! `POST /invocations`: parse the payload, take the session, start the turn, and answer with
//! an SSE stream of [`Event`]s (the default) or, when the caller accepts only
//! `application/json`, one JSON object. The events themselves, from `start` to `done` or
//! `error`, and the commit of the turn to the session are the turn's
//! ([`crate::turn::Agent::answer`]).
//!
//! The turn runs in its own task holding the session and a busy mark for `/ping`. The
//! response owns an abort handle: when the client goes away, the response is dropped, the
//! task is aborted, and the model stream and running tool calls stop with it.

use std::convert::Infallible;
use std::sync::Arc;

use agent_protocol::headers::SESSION_ID;
use agent_protocol::{Event, SCHEMA_VERSION};
use aws_sdk_bedrockruntime::types::Message;
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
use super::{App, error_response, payload_too_large};
use crate::session::{History, SessionError, SessionOwner};
use crate::tools::CallContext;
use crate::turn::{Conversation, EventSink, Invocation, TurnError};

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
    let invocation = Invocation {
        session_id: context.session_id.clone(),
        caller: caller.subject().unwrap_or("anonymous").to_owned(),
        prompt: prompt.to_owned(),
        context: CallContext {
            access: app.access_policy.access_for(&caller),
            workload_token: context.workload_access_token.clone(),
            caller_token: context.caller_token.clone(),
            request_id: context.request_id.clone(),
        },
    };
    let mut conversation = SessionConversation {
        history,
        budget: app.sessions.history_budget,
    };
    let (tx, rx) = mpsc::channel(EVENT_BUFFER);
    let busy = app.health.busy();
    let turn_app = app.clone();
    let task = tokio::spawn(
        async move {
            let _busy = busy;
            let sink = EventSink(tx);
            turn_app
                .agent
                .answer(&mut conversation, &invocation, &turn_app.ending, &sink)
                .await;
        }
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

/// The session's history as the turn's conversation, kept within the session byte budget.
struct SessionConversation {
    history: OwnedMutexGuard<History>,
    budget: usize,
}

impl Conversation for SessionConversation {
    fn messages(&self) -> &[Message] {
        self.history.messages()
    }

    fn commit(&mut self, new_messages: Vec<Message>) {
        self.history.commit(new_messages, self.budget);
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
