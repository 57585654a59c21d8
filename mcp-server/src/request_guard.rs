//! A layer in front of the MCP service for what rmcp's stateless transport leaves out.
//!
//! - Malformed bodies get the answer JSON-RPC prescribes: HTTP 400 with a `-32700 Parse
//!   error` or `-32600 Invalid Request` object, instead of the bare `415` text rmcp gives for
//!   a body it cannot read. The body is read once, checked against rmcp's own message type,
//!   and the same bytes passed on.
//! - Bodies over the configured request size get 413 with a JSON-RPC error saying the limit,
//!   whether the declared length is too long ([`RequestBodyLimitLayer`] refuses it unread) or
//!   the body grows past it while read.
//! - `initialize` answers carry an `Mcp-Session-Id`: the caller's own if it sent one (as
//!   AgentCore's proxy does), else a fresh one. The server keeps no state under it and accepts
//!   any id on later requests; clients that expect a session (and AgentCore's microVM
//!   stickiness) get one to echo.

use std::convert::Infallible;

use axum::body::{Body, Bytes, HttpBody, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use rmcp::model::ClientJsonRpcMessage;
use serde_json::{Value, json};
use tower::Service;
use tower_http::limit::RequestBodyLimitLayer;

/// The largest body a request may carry, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// `service` behind the body limit and the guard.
pub fn guarded<S>(service: S, limit: BodyLimit) -> Router
where
    S: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    // Each `layer` call wraps the one before, so the limit layer's own body type never
    // reaches the guard.
    Router::new()
        .fallback_service(service)
        .layer(middleware::from_fn_with_state(limit, reject_malformed))
        .layer(RequestBodyLimitLayer::new(limit.0))
        .layer(middleware::map_response_with_state(
            limit,
            payload_too_large_as_json_rpc,
        ))
}

async fn reject_malformed(
    State(limit): State<BodyLimit>,
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
    // The limit layer in front bounds the body: reading past it fails here.
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return payload_too_large(limit),
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

/// Gives every 413 the JSON-RPC answer: the body limit layer refuses a declared length over the
/// limit itself, with a plain-text body.
async fn payload_too_large_as_json_rpc<B>(
    State(limit): State<BodyLimit>,
    response: Response<B>,
) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        payload_too_large(limit)
    } else {
        response.into_response()
    }
}

fn payload_too_large(BodyLimit(limit): BodyLimit) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        Value::Null,
        -32600,
        format!("Invalid Request: the body is larger than {limit} bytes"),
    )
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
