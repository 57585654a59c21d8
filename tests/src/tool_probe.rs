//! An MCP server in the test process whose one read-only tool waits before it answers and
//! records how many of its calls were in flight at once.
//!
//! The project's MCP server answers in milliseconds, so calls the agent runs one after another
//! look just like calls it runs together. [`WAIT_TOOL`] waits as long as each call asks
//! (`wait_ms`), long enough for the agent's next call to arrive while it waits, and
//! [`ToolProbe::peak_in_flight`] tells how many calls overlapped at most. It serves streamable
//! HTTP at `/mcp` (stateless, JSON responses) on a free loopback port until dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    Implementation, InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler};
use serde_json::{Value, json};

use crate::agentcore_runtime::lock;
use crate::serving::{Serving, bind_loopback};

/// The probe's tool: input `{"label": string, "wait_ms": integer}`, result `{"label": ...}`
/// after waiting `wait_ms` milliseconds.
pub const WAIT_TOOL: &str = "wait_then_echo";

/// The longest wait a call may ask for, so a mistaken test cannot hang.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// A running probe server; stops when dropped.
pub struct ToolProbe {
    /// `http://127.0.0.1:<port>/mcp`.
    pub url: String,
    flights: Arc<Mutex<Flights>>,
    _serving: Serving,
}

#[derive(Default)]
struct Flights {
    now: usize,
    peak: usize,
    /// Labels of the calls, in the order they arrived.
    arrivals: Vec<String>,
}

impl ToolProbe {
    /// Starts serving on a free loopback port.
    pub async fn start() -> Self {
        let (listener, base) = bind_loopback().await;
        let flights = Arc::new(Mutex::new(Flights::default()));
        let handler = Probe(Arc::clone(&flights));
        let host = base.trim_start_matches("http://").to_owned();
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None)
            .with_allowed_hosts([host]);
        let mcp = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        let app = Router::new().nest_service("/mcp", mcp);
        Self {
            url: format!("{base}/mcp"),
            flights,
            _serving: Serving::start("Tool probe", listener, app),
        }
    }

    /// The most calls of [`WAIT_TOOL`] that were running at the same time.
    pub fn peak_in_flight(&self) -> usize {
        lock(&self.flights).peak
    }

    /// The labels of the calls received so far, in arrival order.
    pub fn arrivals(&self) -> Vec<String> {
        lock(&self.flights).arrivals.clone()
    }
}

/// One call counted as in flight until dropped, also when the client goes away mid-wait.
struct InFlight(Arc<Mutex<Flights>>);

impl InFlight {
    fn enter(flights: &Arc<Mutex<Flights>>, label: &str) -> Self {
        let mut counted = lock(flights);
        counted.now += 1;
        counted.peak = counted.peak.max(counted.now);
        counted.arrivals.push(label.to_owned());
        Self(Arc::clone(flights))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.0).now -= 1;
    }
}

#[derive(Clone)]
struct Probe(Arc<Mutex<Flights>>);

fn wait_tool() -> Tool {
    Tool::new(
        WAIT_TOOL,
        "Waits wait_ms milliseconds, then returns the label it was given.",
        Arc::new(rmcp::object!({
            "type": "object",
            "properties": {
                "label": { "type": "string" },
                "wait_ms": { "type": "integer", "minimum": 0 },
            },
            "required": ["label", "wait_ms"],
        })),
    )
    .with_raw_output_schema(Arc::new(rmcp::object!({
        "type": "object",
        "properties": { "label": { "type": "string" } },
        "required": ["label"],
    })))
    .with_annotations(
        ToolAnnotations::new()
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    )
}

impl ServerHandler for Probe {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("tool-probe", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![wait_tool()]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != WAIT_TOOL {
            return Err(ErrorData::invalid_params(
                format!("Unknown tool: {}", request.name),
                None,
            ));
        }
        let arguments = request.arguments.unwrap_or_default();
        let (Some(label), Some(wait_ms)) = (
            arguments.get("label").and_then(Value::as_str),
            arguments.get("wait_ms").and_then(Value::as_u64),
        ) else {
            return Ok(CallToolResult::error(vec![ContentBlock::text(
                "label (string) and wait_ms (integer) are required",
            )])
            .into());
        };
        let _in_flight = InFlight::enter(&self.0, label);
        tokio::time::sleep(Duration::from_millis(wait_ms).min(MAX_WAIT)).await;
        Ok(CallToolResult::structured(json!({ "label": label })).into())
    }
}
