//! The tools the model may call: a catalogue merged from the configured sources (the built-in
//! Aurora tools and the MCP servers), with Bedrock-valid names mapped back to each source's
//! own, and the calls themselves, each scoped to what the caller may see ([`access`]).
//!
//! Listing runs in the background from start, retried with backoff until each source answers
//! and refreshed periodically, so no request waits on it and a source that is down at start
//! joins when it comes up. A source whose tokens need a request's workload access token is
//! listed by the first turn that brings one. A turn uses the catalogue as it is when the turn
//! starts, narrowed for a large gateway to the tools its search finds for the prompt.

pub mod access;
pub mod aurora;
pub mod authorized_http;
pub mod mcp;
pub mod names;
pub mod outbound_auth;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolResult, JsonObject, Tool};
use serde_json::{Value, json};

use crate::contract::context::Secret;
use crate::events::ToolStatus;
use access::Access;
use aurora::AuroraTools;
use mcp::{Endpoint, GATEWAY_SEARCH_TOOL, McpSource, SourceError};

/// How often a listed source is listed again.
const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// Longest wait between attempts to list a source that fails.
const MAX_LIST_BACKOFF: Duration = Duration::from_secs(30);

/// A place tools come from.
#[derive(Debug)]
pub enum Source {
    /// The built-in Aurora tools (named `aurora`).
    Aurora(AuroraTools),
    Mcp(McpSource),
}

impl Source {
    pub fn name(&self) -> &str {
        match self {
            Source::Aurora(_) => "aurora",
            Source::Mcp(source) => &source.name,
        }
    }

    fn needs_workload_token(&self) -> bool {
        matches!(self, Source::Mcp(source) if source.needs_workload_token())
    }

    async fn list_tools(&self) -> Result<Vec<Tool>, SourceError> {
        match self {
            Source::Aurora(_) => Ok(AuroraTools::list()),
            Source::Mcp(source) => source.list_tools().await,
        }
    }
}

/// What a tool call needs to know about the request it serves.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub access: Access,
    pub workload_token: Option<Secret>,
}

/// A tool as offered to the model.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    /// The name the model sees (Bedrock-valid, unique).
    pub bedrock_name: String,
    /// Index of the source in the toolbox.
    source: usize,
    pub source_name: String,
    /// The tool's own name at its source.
    pub mcp_name: String,
    pub description: String,
    pub input_schema: Value,
    /// The source marks it `readOnlyHint`: safe to run alongside other calls.
    pub read_only: bool,
}

/// The tools of all sources at one moment.
#[derive(Debug, Default)]
pub struct Catalog {
    pub entries: Vec<CatalogEntry>,
    by_name: HashMap<String, usize>,
}

impl Catalog {
    fn build(listings: &[Option<Vec<Tool>>], sources: &[Arc<Source>]) -> Self {
        let mut entries = Vec::new();
        let mut taken = HashSet::new();
        for (index, tools) in listings.iter().enumerate() {
            let Some(tools) = tools else { continue };
            let mut tools: Vec<&Tool> = tools.iter().collect();
            tools.sort_by(|a, b| a.name.cmp(&b.name));
            for tool in tools {
                let bedrock_name = names::bedrock_name(&tool.name, &taken);
                taken.insert(bedrock_name.clone());
                entries.push(CatalogEntry {
                    bedrock_name,
                    source: index,
                    source_name: sources[index].name().to_owned(),
                    mcp_name: tool.name.to_string(),
                    description: tool.description.as_deref().unwrap_or(&tool.name).to_owned(),
                    input_schema: Value::Object((*tool.input_schema).clone()),
                    read_only: tool
                        .annotations
                        .as_ref()
                        .and_then(|a| a.read_only_hint)
                        .unwrap_or(false),
                });
            }
        }
        Self::from_entries(entries)
    }

    fn from_entries(entries: Vec<CatalogEntry>) -> Self {
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.bedrock_name.clone(), i))
            .collect();
        Self { entries, by_name }
    }

    pub fn get(&self, bedrock_name: &str) -> Option<&CatalogEntry> {
        self.by_name.get(bedrock_name).map(|&i| &self.entries[i])
    }
}

/// What a tool call produced, for the model and for the client.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    pub status: ToolStatus,
    /// The tool's structured result, or `{"text": ...}` when it gave only text, or
    /// `{"error": ...}` when the call itself failed.
    pub output: Value,
}

impl ToolOutcome {
    pub fn ok(output: Value) -> Self {
        Self {
            status: ToolStatus::Ok,
            output,
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self {
            status: ToolStatus::Error,
            output: json!({ "error": message.into() }),
        }
    }

    fn from_result(result: CallToolResult) -> Self {
        let status = if result.is_error == Some(true) {
            ToolStatus::Error
        } else {
            ToolStatus::Ok
        };
        let text: Vec<String> = result
            .content
            .iter()
            .filter_map(|block| block.as_text().map(|t| t.text.clone()))
            .collect();
        let output = match result.structured_content {
            Some(structured) if status == ToolStatus::Ok => structured,
            _ if status == ToolStatus::Error => json!({ "error": text.join("\n") }),
            _ => json!({ "text": text.join("\n") }),
        };
        Self { status, output }
    }
}

/// One source's latest listing and when it was taken.
type Listing = Option<(Instant, Vec<Tool>)>;

/// The sources and the current catalogue.
#[derive(Debug)]
pub struct Toolbox {
    sources: Vec<Arc<Source>>,
    listings: std::sync::Mutex<Vec<Listing>>,
    catalog: RwLock<Arc<Catalog>>,
}

impl Toolbox {
    pub fn new(sources: Vec<Source>) -> Arc<Self> {
        let count = sources.len();
        Arc::new(Self {
            sources: sources.into_iter().map(Arc::new).collect(),
            listings: std::sync::Mutex::new(vec![None; count]),
            catalog: RwLock::new(Arc::new(Catalog::default())),
        })
    }

    /// The catalogue as it is now.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Starts listing every source that can be listed without a request in the background;
    /// returns at once.
    pub fn start_listing(self: &Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        for index in 0..self.sources.len() {
            if self.sources[index].needs_workload_token() {
                tracing::info!(source = %self.sources[index].name(), "tools will be listed with the first request's workload access token");
                continue;
            }
            let toolbox = self.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = toolbox.keep_listed(index) => {}
                    () = shutdown.cancelled() => {}
                }
            });
        }
    }

    async fn keep_listed(&self, index: usize) {
        let source = &self.sources[index];
        let mut backoff = Duration::from_millis(250);
        loop {
            match source.list_tools().await {
                Ok(tools) => {
                    tracing::info!(source = %source.name(), tools = tools.len(), "tools listed");
                    self.set_listing(index, tools);
                    backoff = Duration::from_millis(250);
                    tokio::time::sleep(REFRESH_EVERY).await;
                }
                Err(error) => {
                    tracing::warn!(source = %source.name(), %error, retry_in_ms = backoff.as_millis() as u64, "listing tools failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_LIST_BACKOFF);
                }
            }
        }
    }

    fn set_listing(&self, index: usize, tools: Vec<Tool>) {
        let mut listings = self
            .listings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        listings[index] = Some((Instant::now(), tools));
        let current: Vec<Option<Vec<Tool>>> = listings
            .iter()
            .map(|listing| listing.as_ref().map(|(_, tools)| tools.clone()))
            .collect();
        let catalog = Arc::new(Catalog::build(&current, &self.sources));
        *self
            .catalog
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = catalog;
    }

    fn listed_at(&self, index: usize) -> Option<Instant> {
        self.listings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)[index]
            .as_ref()
            .map(|(at, _)| *at)
    }

    /// The catalogue for one turn, and why any source's tools are missing from it. Sources that
    /// need the request's workload access token get it now (and are listed if they have not
    /// been, or not recently); a gateway with more tools than its limit is narrowed to what its
    /// search finds for `prompt`.
    pub async fn catalog_for_turn(
        &self,
        prompt: &str,
        context: &CallContext,
    ) -> (Arc<Catalog>, Vec<String>) {
        let mut unavailable = Vec::new();
        for (index, source) in self.sources.iter().enumerate() {
            let Source::Mcp(mcp) = source.as_ref() else {
                continue;
            };
            if !mcp.needs_workload_token() {
                continue;
            }
            if let Err(error) = mcp.prepare(context.workload_token.as_ref()).await {
                tracing::warn!(source = %mcp.name, %error, "the source's tools are not available to this request");
                unavailable.push(error.to_string());
                continue;
            }
            let stale = self
                .listed_at(index)
                .is_none_or(|at| at.elapsed() > REFRESH_EVERY);
            if stale {
                match mcp.list_tools().await {
                    Ok(tools) => {
                        tracing::info!(source = %mcp.name, tools = tools.len(), "tools listed");
                        self.set_listing(index, tools);
                    }
                    Err(error) => {
                        tracing::warn!(source = %mcp.name, %error, "listing tools failed")
                    }
                }
            }
        }
        let catalog = self.catalog();
        let mut narrowed = None;
        for (index, source) in self.sources.iter().enumerate() {
            let Source::Mcp(mcp) = source.as_ref() else {
                continue;
            };
            let Endpoint::Gateway { max_tools, .. } = mcp.endpoint else {
                continue;
            };
            let offered: Vec<&CatalogEntry> = catalog
                .entries
                .iter()
                .filter(|e| e.source == index && e.mcp_name != GATEWAY_SEARCH_TOOL)
                .collect();
            let has_search = catalog
                .entries
                .iter()
                .any(|e| e.source == index && e.mcp_name == GATEWAY_SEARCH_TOOL);
            if offered.len() <= max_tools && !has_search {
                continue;
            }
            let keep: HashSet<String> = if offered.len() <= max_tools {
                offered.iter().map(|e| e.mcp_name.clone()).collect()
            } else {
                self.search_gateway(mcp, prompt, max_tools, &offered).await
            };
            let entries = narrowed.get_or_insert_with(|| catalog.entries.clone());
            entries.retain(|e| e.source != index || keep.contains(&e.mcp_name));
        }
        let catalog = match narrowed {
            Some(entries) => Arc::new(Catalog::from_entries(entries)),
            None => catalog,
        };
        (catalog, unavailable)
    }

    /// The names of at most `max_tools` gateway tools that its search finds for `prompt`; the
    /// first ones by name when the search fails or finds nothing we know.
    async fn search_gateway(
        &self,
        gateway: &McpSource,
        prompt: &str,
        max_tools: usize,
        offered: &[&CatalogEntry],
    ) -> HashSet<String> {
        let known: HashSet<&str> = offered.iter().map(|e| e.mcp_name.as_str()).collect();
        let mut arguments = JsonObject::new();
        arguments.insert("query".to_owned(), Value::String(prompt.to_owned()));
        let found: Vec<String> = match gateway.call(GATEWAY_SEARCH_TOOL, arguments).await {
            Ok(result) => found_tool_names(&result)
                .into_iter()
                .filter(|name| known.contains(name.as_str()))
                .take(max_tools)
                .collect(),
            Err(error) => {
                tracing::warn!(source = %gateway.name, %error, "gateway tool search failed");
                Vec::new()
            }
        };
        tracing::info!(source = %gateway.name, found = found.len(), offered = offered.len(), "gateway tools picked by search");
        if found.is_empty() {
            return offered
                .iter()
                .take(max_tools)
                .map(|e| e.mcp_name.clone())
                .collect();
        }
        found.into_iter().collect()
    }

    /// Runs one call for a request with `context`. Every failure becomes an error outcome the
    /// model can read; a record the caller may not see is reported as not found.
    pub async fn call(
        &self,
        entry: &CatalogEntry,
        input: &Value,
        context: &CallContext,
    ) -> ToolOutcome {
        let Value::Object(arguments) = input else {
            return ToolOutcome::error(format!(
                "the input of {} must be a JSON object",
                entry.bedrock_name
            ));
        };
        let mut arguments = arguments.clone();
        if let Err(refused) =
            context
                .access
                .scope_arguments(&entry.input_schema, entry.read_only, &mut arguments)
        {
            tracing::info!(tool = %entry.mcp_name, source = %entry.source_name, reason = %refused, "tool call refused by access rules");
            return ToolOutcome::error(refused.to_string());
        }
        let outcome = match self.sources[entry.source].as_ref() {
            Source::Aurora(aurora) => {
                aurora
                    .call(&entry.mcp_name, arguments, &context.access)
                    .await
            }
            Source::Mcp(source) => self.call_mcp(source, entry, arguments, context).await,
        };
        if outcome.status == ToolStatus::Ok && !context.access.may_see(&outcome.output) {
            tracing::warn!(tool = %entry.mcp_name, source = %entry.source_name, "withheld a record of another customer");
            return ToolOutcome::error(
                "no such record exists for this customer; check the id with the customer",
            );
        }
        outcome
    }

    async fn call_mcp(
        &self,
        source: &McpSource,
        entry: &CatalogEntry,
        arguments: JsonObject,
        context: &CallContext,
    ) -> ToolOutcome {
        let called = async {
            source.prepare(context.workload_token.as_ref()).await?;
            source.call(&entry.mcp_name, arguments).await
        };
        match called.await {
            Ok(result) => ToolOutcome::from_result(result),
            Err(error @ (SourceError::Timeout { .. } | SourceError::Unreachable { .. })) => {
                tracing::warn!(tool = %entry.mcp_name, source = %entry.source_name, %error, "tool call failed");
                ToolOutcome::error(format!(
                    "{error}; the tool could not be reached, try again later or answer without it"
                ))
            }
            Err(error) => {
                tracing::warn!(tool = %entry.mcp_name, source = %entry.source_name, %error, "tool call refused");
                ToolOutcome::error(error.to_string())
            }
        }
    }
}

/// Tool names in a gateway search answer: `structuredContent.tools[].name`, or the same JSON in
/// a text block.
fn found_tool_names(result: &CallToolResult) -> Vec<String> {
    let from = |value: &Value| -> Vec<String> {
        value
            .get("tools")
            .and_then(Value::as_array)
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|tool| tool.get("name").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(structured) = &result.structured_content {
        let names = from(structured);
        if !names.is_empty() {
            return names;
        }
    }
    result
        .content
        .iter()
        .filter_map(|block| block.as_text())
        .filter_map(|text| serde_json::from_str::<Value>(&text.text).ok())
        .flat_map(|value| from(&value))
        .collect()
}
