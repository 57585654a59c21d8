//! What every service binary of this project needs around its own logic, in one place so the
//! agent and the MCP server behave alike in AgentCore: JSON log lines on stdout ([`logging`]),
//! traces exported over OTLP, to X-Ray in AgentCore ([`telemetry`]), carried in MCP requests'
//! `_meta` ([`trace_meta`]), the shutdown signal the platform sends ([`shutdown`]), serving a
//! router until then and shutting down in two stages ([`serve`]), socket settings
//! ([`no_delay`]), SigV4 request signing ([`sigv4`]), the images' health-check command
//! ([`health`]) and tamper-evident pagination cursors bound to their list and caller
//! ([`signed_cursor`]).

pub mod health;
pub mod logging;
pub mod serve;
pub mod shutdown;
pub mod signed_cursor;
pub mod sigv4;
pub mod telemetry;
pub mod trace_meta;

/// Turns Nagle's algorithm off on an accepted connection, so each SSE frame or JSON answer
/// leaves at once instead of waiting up to 40 ms for the peer's delayed ACK. Use with axum's
/// `ListenerExt::tap_io`.
pub fn no_delay(stream: &mut tokio::net::TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
}
