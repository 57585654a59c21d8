//! The `serve` command: streamable HTTP at `/mcp`, stateless, with JSON responses.
//!
//! Start-up makes no network call: the listener is bound and serving at once, and the tables
//! are checked in the background (missing ones are logged, not fatal, so the platform's health
//! checks see a live process while an operator fixes the data). SIGTERM or Ctrl-C stops
//! accepting connections and lets in-flight calls finish within the configured grace period.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use service_runtime::signed_cursor::CursorSigner;

use crate::config::ServeConfig;
use crate::request_guard::{self, BodyLimit};
use crate::store::{Store, TableState};
use crate::tools::SupportTools;

pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let authenticator = match config.auth.auth_mode {
        Some(_) => Some(
            inbound_auth::Authenticator::from_args(config.auth.clone())
                .context("authentication settings")?,
        ),
        None => None,
    };
    match &authenticator {
        Some(authenticator) => authenticator.log_startup(),
        None => tracing::info!(
            "AUTH_MODE unset: no caller token is checked (rely on the runtime's JWT authorizer)"
        ),
    }
    // One key for the life of the process: every call's cursors are sealed and opened with it.
    let cursors = CursorSigner::new()?;
    let store = Store::connect(&config.store, cursors).await;
    let tools = SupportTools::new(store.clone())?;
    let app = Router::new().nest_service(
        "/mcp",
        request_guard::guarded(
            mcp_service(&config, tools),
            BodyLimit(config.max_request_bytes),
        ),
    );
    let app = match authenticator {
        Some(authenticator) => app.layer(inbound_auth::AuthLayer::new(authenticator)),
        None => app,
    };
    let (listener, address) = service_runtime::serve::bind(config.host, config.port).await?;
    tracing::info!(%address, path = "/mcp", "listening");
    tokio::spawn(report_tables(store));

    let grace = config.shutdown.grace();
    let stages = service_runtime::serve::ShutdownStages {
        grace,
        linger: std::time::Duration::ZERO,
        on_signal: Box::new(|| tracing::info!("shutdown requested; finishing in-flight calls")),
        on_grace_over: Box::new(move || {
            tracing::warn!(
                grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
                "grace period over; exiting with calls still in flight"
            );
        }),
    };
    service_runtime::serve::serve_until_shutdown(listener, app, stages).await?;
    tracing::info!("stopped");
    Ok(())
}

fn mcp_service(
    config: &ServeConfig,
    tools: SupportTools,
) -> StreamableHttpService<SupportTools, LocalSessionManager> {
    let mut http = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(config.max_request_bytes);
    http = if config.any_host() {
        http.disable_allowed_hosts()
    } else {
        http.with_allowed_hosts(
            config
                .allowed_hosts
                .iter()
                .map(|host| host.trim().to_owned()),
        )
    };
    // Origin is checked whenever a request carries one, so a web page on another site can
    // never drive the tools through a user's browser (DNS rebinding included).
    http = http
        .with_allowed_origins(
            config
                .allowed_origins
                .iter()
                .map(|origin| origin.trim().to_owned()),
        )
        .enforce_origin_validation();
    StreamableHttpService::new(
        move || Ok(tools.clone()),
        Arc::new(LocalSessionManager::default()),
        http,
    )
}

/// Logs whether each configured table exists with the indexes the tools need.
async fn report_tables(store: Store) {
    match store.check_tables().await {
        Ok(states) => {
            for (table, name, state) in states {
                match state {
                    TableState::Ready => {
                        tracing::info!(table = name, kind = table.kind, "table ready")
                    }
                    TableState::Missing => tracing::warn!(
                        table = name,
                        kind = table.kind,
                        "table missing: tools that use it will fail until it exists (`mcp-server seed` creates it)"
                    ),
                    TableState::MissingIndexes(indexes) => tracing::warn!(
                        table = name,
                        kind = table.kind,
                        missing_indexes = indexes.join(","),
                        "table lacks indexes the tools query"
                    ),
                    TableState::NotActive(status) => {
                        tracing::warn!(table = name, kind = table.kind, %status, "table not active yet")
                    }
                }
            }
        }
        Err(error) => {
            tracing::warn!(%error, "could not check the tables; tool calls will report DynamoDB errors as they happen")
        }
    }
}
