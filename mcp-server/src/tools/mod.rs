//! The MCP tools: reviews, warranties and support tickets.
//!
//! Arguments are first validated against the tool's own input schema (so the limits a client
//! sees are the limits enforced), then each tool checks what a schema cannot, asks the
//! [`Store`], and answers with `structuredContent` matching its output schema. Anything the caller can fix (a bad argument, an unknown id, a
//! stale cursor) comes back as an `isError` result whose text says what to change; a store
//! failure is logged with its cause and reported as retryable. Unknown tools and malformed
//! requests stay JSON-RPC errors, which rmcp produces.
//!
//! Reviews are public and anonymous to everyone (only a customer's own list names them); every
//! other record belongs to a customer. A call that names a `customer_id` (the agent fills in a
//! signed-in customer's own) finds only that customer's records, and another customer's record
//! gets word for word the answer of one that does not exist, so no answer tells which ids are
//! real. Staff name no customer and find every record.
//!
//! Layout: this module holds [`SupportTools`], its schema validation of arguments and the
//! [`ServerHandler`] that traces each call; [`inputs`] and [`outputs`] the types behind the
//! tools' schemas; [`checks`] the argument checks and the wording of refusals; and the tools
//! themselves, one router per record kind merged at start, are in [`reviews`], [`warranties`]
//! and [`tickets`].

mod checks;
mod inputs;
mod outputs;
mod reviews;
mod tickets;
mod warranties;

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};
use tracing::Instrument;

use crate::store::Store;

/// The tool set served at `/mcp`. Cheap to clone: one instance is built at start and cloned
/// for each request.
#[derive(Clone)]
pub struct SupportTools {
    store: Store,
    tool_router: ToolRouter<Self>,
    input_validators: Arc<HashMap<String, jsonschema::Validator>>,
}

/// At most this many schema violations are reported for one call.
const MAX_REPORTED_VIOLATIONS: usize = 5;

impl SupportTools {
    /// Builds the tool set, compiling a validator for each tool's input schema.
    pub fn new(store: Store) -> anyhow::Result<Self> {
        let tool_router = Self::review_tools() + Self::warranty_tools() + Self::ticket_tools();
        let mut input_validators = HashMap::new();
        for tool in tool_router.list_all() {
            let schema = serde_json::Value::Object((*tool.input_schema).clone());
            let validator = jsonschema::validator_for(&schema).map_err(|e| {
                anyhow::anyhow!("the input schema of {} does not compile: {e}", tool.name)
            })?;
            input_validators.insert(tool.name.to_string(), validator);
        }
        Ok(Self {
            store,
            tool_router,
            input_validators: Arc::new(input_validators),
        })
    }

    /// What is wrong with `arguments` for `tool`, if anything, in one line per violation.
    fn schema_violations(&self, tool: &str, arguments: &serde_json::Value) -> Option<String> {
        let validator = self.input_validators.get(tool)?;
        let violations: Vec<String> = validator
            .iter_errors(arguments)
            .take(MAX_REPORTED_VIOLATIONS)
            .map(
                |error| match error.instance_path().as_str().trim_start_matches('/') {
                    "" => error.to_string(),
                    field => format!("{field}: {error}"),
                },
            )
            .collect();
        (!violations.is_empty()).then(|| violations.join("; "))
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "support-dynamodb-mcp",
    instructions = "Customer-support data in DynamoDB: product reviews, product warranties and support tickets. Ids look like CUST-001 (customer), PROD-001 (product), ORD-00001 (order), REV-0001 (review), TKT-0001 (ticket). Lists are paged: pass next_cursor back as cursor."
)]
impl ServerHandler for SupportTools {
    /// Runs the call in a server span that continues the caller's trace, read from the HTTP
    /// headers or, failing them, from the request's `_meta`.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let span = tracing::info_span!(
            "mcp_tool",
            otel.name = format!("tools/call {}", request.name),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            "mcp.method.name" = "tools/call",
            "gen_ai.operation.name" = "execute_tool",
            "gen_ai.tool.name" = %request.name,
        );
        let mut carrier = context
            .extensions
            .get::<axum::http::request::Parts>()
            .map(|parts| parts.headers.clone())
            .unwrap_or_default();
        if !carrier.contains_key("traceparent")
            && let Some(meta) = &request.meta
        {
            for (name, value) in &service_runtime::trace_meta::extract(&meta.0.0) {
                carrier.insert(name, value.clone());
            }
        }
        service_runtime::telemetry::continue_trace(&span, &carrier, &[]);
        let answer = self
            .call_tool_in_span(request, context)
            .instrument(span.clone())
            .await;
        if answer.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        answer
    }
}

impl SupportTools {
    async fn call_tool_in_span(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = serde_json::Value::Object(request.arguments.clone().unwrap_or_default());
        if let Some(violations) = self.schema_violations(&request.name, &arguments) {
            tracing::info!(tool = %request.name, outcome = "rejected", "arguments do not match the input schema");
            let message = format!(
                "invalid arguments for {}: {violations}. Fix them to match the tool's inputSchema.",
                request.name
            );
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }
        self.tool_router
            .call(ToolCallContext::new(self, request, context))
            .await
    }
}

impl std::fmt::Debug for SupportTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupportTools")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}
