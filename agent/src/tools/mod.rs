//! The tools the model may call: a catalogue merged from the configured MCP sources, with
//! Bedrock-valid names mapped back to each source's own, and the calls themselves.
//!
//! Listing runs in the background from start, retried with backoff until each source answers
//! and refreshed periodically, so no request waits on it and a source that is down at start
//! joins when it comes up. A turn uses the catalogue as it is when the turn starts.

pub mod mcp;
pub mod names;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rmcp::model::{CallToolResult, Tool};
use serde_json::{Value, json};

use crate::events::ToolStatus;
use mcp::{McpSource, SourceError};

/// How often a listed source is listed again.
const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// Longest wait between attempts to list a source that fails.
const MAX_LIST_BACKOFF: Duration = Duration::from_secs(30);

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
    fn build(listings: &[Option<Vec<Tool>>], sources: &[Arc<McpSource>]) -> Self {
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
                    source_name: sources[index].name.clone(),
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

/// The sources and the current catalogue.
#[derive(Debug)]
pub struct Toolbox {
    sources: Vec<Arc<McpSource>>,
    listings: std::sync::Mutex<Vec<Option<Vec<Tool>>>>,
    catalog: RwLock<Arc<Catalog>>,
}

impl Toolbox {
    pub fn new(sources: Vec<McpSource>) -> Arc<Self> {
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

    /// Starts listing every source in the background; returns at once.
    pub fn start_listing(self: &Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        for index in 0..self.sources.len() {
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
                    tracing::info!(source = %source.name, tools = tools.len(), "MCP tools listed");
                    self.set_listing(index, tools);
                    backoff = Duration::from_millis(250);
                    tokio::time::sleep(REFRESH_EVERY).await;
                }
                Err(error) => {
                    tracing::warn!(source = %source.name, %error, retry_in_ms = backoff.as_millis() as u64, "listing MCP tools failed");
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
        listings[index] = Some(tools);
        let catalog = Arc::new(Catalog::build(&listings, &self.sources));
        *self
            .catalog
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = catalog;
    }

    /// Runs one call. Every failure becomes an error outcome the model can read.
    pub async fn call(&self, entry: &CatalogEntry, input: &Value) -> ToolOutcome {
        let Value::Object(arguments) = input else {
            return ToolOutcome::error(format!(
                "the input of {} must be a JSON object",
                entry.bedrock_name
            ));
        };
        match self.sources[entry.source]
            .call(&entry.mcp_name, arguments.clone())
            .await
        {
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
