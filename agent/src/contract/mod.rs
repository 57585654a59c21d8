//! The AgentCore HTTP contract, on its own: `GET /ping` ([`health`]), `POST /invocations`
//! ([`invocations`]), `GET /ws` ([`websocket`]) and the typed context built from AgentCore's
//! headers ([`context`]).
//! Handlers here parse and answer; the turn itself is [`crate::turn`]'s business.

pub mod agui;
pub mod context;
pub mod cors;
pub mod health;
pub mod invocations;
pub mod run;
pub mod websocket;

use std::sync::Arc;

use axum::body::{Bytes, HttpBody};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use axum::{BoxError, Router, middleware};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;

use crate::session::Sessions;
use crate::tools::access::AccessPolicy;
use crate::turn::Agent;
use health::Health;

/// What the handlers share.
#[derive(Debug)]
pub struct App {
    pub agent: Agent,
    /// How a caller's identity maps to the data the tools may show them.
    pub access_policy: AccessPolicy,
    pub sessions: Arc<Sessions>,
    pub health: Health,
    pub max_request_bytes: usize,
    /// How often a silent stream sends a keep-alive.
    pub keepalive: std::time::Duration,
    /// Cancelled when running turns must end (the shutdown grace period is over).
    pub ending: CancellationToken,
    /// The open `/ws` connections, which the shutdown drains and waits for.
    pub websockets: websocket::Connections,
    /// Durable short-term memory (AgentCore Memory), when `MEMORY_ID` is set.
    pub memory: Option<Arc<crate::memory::Memory>>,
}

/// The routes of the contract. `auth_layer` wraps `/invocations` and `/ws` (authentication);
/// `/ping` stays open for the platform's health checks. Inside it, `/invocations` bodies are
/// bounded by `max_request_bytes`; before it, a browser's token in the `/ws` subprotocols
/// becomes the `Authorization` header it reads.
pub fn router<L>(app: Arc<App>, auth_layer: L) -> Router
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service: tower::Service<axum::extract::Request, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Response: IntoResponse + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
{
    let health = app.health.clone();
    let max_request_bytes = app.max_request_bytes;
    Router::new()
        .route(
            "/invocations",
            post(invocations::handle)
                .layer(RequestBodyLimitLayer::new(max_request_bytes))
                .layer(middleware::map_response_with_state(
                    max_request_bytes,
                    payload_too_large_as_json,
                ))
                .route_layer(auth_layer.clone()),
        )
        // The server speaks HTTP/1.1, where a WebSocket upgrades with GET.
        .route(
            "/ws",
            get(websocket::handle)
                .route_layer(auth_layer)
                .route_layer(middleware::map_request(websocket::bearer_from_subprotocol)),
        )
        .route("/ping", get(move || async move { Json(health.ping()) }))
        .fallback(|| async {
            error_response(
                StatusCode::NOT_FOUND,
                "Not found",
                "this agent serves GET /ping, POST /invocations and GET /ws",
            )
        })
        .with_state(app)
}

/// A JSON error answer: `{"error": ..., "details": ...}`.
pub fn error_response(
    status: StatusCode,
    error: &str,
    details: impl std::fmt::Display,
) -> Response {
    (
        status,
        Json(json!({"error": error, "details": details.to_string()})),
    )
        .into_response()
}

/// The answer to a body over `limit` bytes.
pub fn payload_too_large(limit: usize) -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Payload too large",
        format!("the body must be at most {limit} bytes"),
    )
}

/// Gives every 413 of `/invocations` the JSON answer: the body limit layer refuses a declared
/// length over the limit itself, with a plain-text body.
async fn payload_too_large_as_json<B>(State(limit): State<usize>, response: Response<B>) -> Response
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
