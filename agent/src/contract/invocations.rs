//! `POST /invocations`: parse the payload, take the session, start the turn, and answer with
//! an SSE stream of [`Event`]s (the default) or, when the caller accepts only
//! `application/json`, one JSON object. The events themselves, from `start` to `done` or
//! `error`, and the commit of the turn to the session are the turn's
//! ([`crate::turn::Agent::answer`]).
//!
//! Two bodies are understood, told apart by their fields: `{"prompt": ...}`, answered in the
//! agent's own event schema, and AG-UI's `RunAgentInput` (any of `threadId`, `runId`,
//! `messages`), always answered as an SSE stream of AG-UI events ([`super::agui`], which
//! also says how its thread, session and messages are read). A malformed `RunAgentInput` gets
//! a 400 `{"error":"Invalid RunAgentInput","details":...}`.
//!
//! Both streams send an SSE comment line (`:`) after `App::keepalive` of silence, while the
//! model or a tool is slow, so proxies do not cut an idle connection; SSE readers skip
//! comment lines (<https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>),
//! as the CLI's parser and `@ag-ui/client`'s (which reads `data:` lines only) do.
//!
//! The turn runs in its own task ([`super::run`]); the response owns it, so when the client
//! goes away the response is dropped and the turn is aborted.

use std::convert::Infallible;
use std::sync::Arc;

use agent_protocol::headers::SESSION_ID;
use agent_protocol::{Event, SCHEMA_VERSION};
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use futures::{Stream, StreamExt};
use inbound_auth::Caller;
use serde_json::{Value, json};

use super::agui::input::{RunAgentInput, prompt_of};
use super::agui::translate::{AguiRun, agui_events};
use super::context::InvocationContext;
use super::run::{RunningTurn, start_turn};
use super::{App, error_response, payload_too_large};
use crate::turn::TurnError;

/// Sent in place of an AG-UI event that could not be serialised (the events are plain
/// strings and JSON values, so this is not expected to happen).
const UNWRITABLE_AGUI_EVENT: &str =
    r#"{"type":"RUN_ERROR","message":"an event could not be written","code":"InternalError"}"#;

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
    if RunAgentInput::is_meant(&payload) {
        return agui_answer(&app, &caller, &parts.headers, context, payload);
    }
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
    let turn = match start_turn(&app, &caller, &context, &parts.headers, prompt) {
        Ok(turn) => turn,
        Err(refusal) => return refusal.into_response(),
    };
    let mut response = if accepts_json_only(&parts.headers) {
        json_answer(turn, &context).await
    } else {
        let frames = turn.into_stream().map(|event| {
            SseEvent::default()
                .json_data(&event)
                .unwrap_or_else(|_| SseEvent::default().data("{}"))
        });
        sse(&app, frames)
    };
    with_session_header(&mut response, &context);
    response
}

/// An AG-UI run: the input read, the session chosen (the header, else the thread), the turn
/// started and its events sent as AG-UI events.
fn agui_answer(
    app: &Arc<App>,
    caller: &Caller,
    headers: &HeaderMap,
    mut context: InvocationContext,
    payload: Value,
) -> Response {
    let invalid = |e| error_response(StatusCode::BAD_REQUEST, "Invalid RunAgentInput", e);
    let input = match RunAgentInput::parse(payload) {
        Ok(input) => input,
        Err(e) => return invalid(e),
    };
    let prompt = match prompt_of(&input) {
        Ok(prompt) => prompt,
        Err(e) => return invalid(e),
    };
    if !headers.contains_key(SESSION_ID) {
        context.session_id = match input.thread_session_id() {
            Ok(session_id) => session_id,
            Err(e) => return invalid(e),
        };
    }
    let turn = match start_turn(app, caller, &context, headers, &prompt) {
        Ok(turn) => turn,
        Err(refusal) => return refusal.into_response(),
    };
    let run = AguiRun::new(input.thread_id, input.run_id);
    let frames = agui_events(turn.into_stream(), run).map(|event| {
        SseEvent::default()
            .json_data(&event)
            .unwrap_or_else(|_| SseEvent::default().data(UNWRITABLE_AGUI_EVENT))
    });
    let mut response = sse(app, frames);
    with_session_header(&mut response, &context);
    response
}

/// An SSE answer of `frames`, with a comment line after each `App::keepalive` of silence.
fn sse(app: &App, frames: impl Stream<Item = SseEvent> + Send + 'static) -> Response {
    Sse::new(frames.map(Ok::<_, Infallible>))
        .keep_alive(KeepAlive::new().interval(app.keepalive))
        .into_response()
}

/// Names the session in the response, so a caller without the header learns it.
fn with_session_header(response: &mut Response, context: &InvocationContext) {
    if let Ok(value) = HeaderValue::from_str(&context.session_id) {
        response.headers_mut().insert(SESSION_ID, value);
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

/// Collects a turn's events into one JSON answer.
async fn json_answer(mut turn: RunningTurn, context: &InvocationContext) -> Response {
    let mut tool_calls: Vec<Value> = Vec::new();
    let mut retries = 0;
    while let Some(event) = turn.events.recv().await {
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
