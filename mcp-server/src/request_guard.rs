//! A layer in front of the MCP service for what rmcp's stateless transport leaves out.
//!
//! - Malformed bodies get the answer JSON-RPC prescribes: HTTP 400 with a `-32700 Parse
//!   error` or `-32600 Invalid Request` object, instead of the bare `415` text rmcp gives for
//!   a body it cannot read. The body is read once (bounded by the configured request size,
//!   413 beyond it), checked against rmcp's own message type, and the same bytes passed on.
//! - `initialize` answers carry an `Mcp-Session-Id`: the caller's own if it sent one (as
//!   AgentCore's proxy does), else a fresh one. The server keeps no state under it and accepts
//!   any id on later requests; clients that expect a session (and AgentCore's microVM
//!   stickiness) get one to echo.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::ClientJsonRpcMessage;
use serde_json::{Value, json};

/// The largest body the guard reads, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

pub async fn reject_malformed(
    State(BodyLimit(limit)): State<BodyLimit>,
    request: Request,
    next: Next,
) -> Response {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if request.method() != Method::POST || !is_json {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Value::Null,
                -32600,
                format!("Invalid Request: the body is larger than {limit} bytes"),
            );
        }
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32700,
                format!("Parse error: {e}"),
            );
        }
    };
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    let is_initialize = value.get("method").and_then(Value::as_str) == Some("initialize");
    if let Err(e) = serde_json::from_value::<ClientJsonRpcMessage>(value) {
        return error(
            StatusCode::BAD_REQUEST,
            id,
            -32600,
            format!(
                "Invalid Request: not a JSON-RPC 2.0 request or notification this server accepts ({e})"
            ),
        );
    }
    let session_id = parts.headers.get(SESSION_HEADER).cloned();
    let mut response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if is_initialize
        && response.status().is_success()
        && !response.headers().contains_key(SESSION_HEADER)
    {
        let session_id = session_id.unwrap_or_else(new_session_id);
        response.headers_mut().insert(SESSION_HEADER, session_id);
    }
    response
}

const SESSION_HEADER: &str = "mcp-session-id";

fn new_session_id() -> HeaderValue {
    HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
        .unwrap_or(HeaderValue::from_static("stateless"))
}

fn error(status: StatusCode, id: Value, code: i64, message: String) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
