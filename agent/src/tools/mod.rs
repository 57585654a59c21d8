//! The tools the model may call: a catalogue merged from the configured sources (the built-in
//! Aurora tools and the MCP servers, reached through [`crate::sources`]), with Bedrock-valid
//! names mapped back to each source's own, and the calls themselves, each scoped to what the
//! caller may see ([`access`]).
//!
//! Listing runs in the background from start, retried with backoff until each source answers
//! and refreshed periodically, so no request waits on it and a source that is down at start
//! joins when it comes up. A source whose tokens need a request's workload access token is
//! listed by the first turn that brings one. A `caller_token` source is listed by every turn,
//! with that turn's caller token, and its listing is kept for that turn only: the gateway
//! behind it lists what the caller's policies let that caller call, so one caller's listing is
//! no other's. A turn uses the catalogue as it is when the turn starts, narrowed for a large
//! gateway to the tools its search finds for the prompt.
//!
//! A source a turn cannot use (no workload access token for an Identity source, no caller token
//! or a refused one for a `caller_token` source, its token cannot be had, or it has never been
//! listed because it fails) has every tool left out of that turn's catalogue; the model is told
//! so in plain words (the source's configured name, what to tell the customer), and a call it
//! makes to such a tool anyway is refused in the same words.
//! Failures reach the model as short stable sentences ([`mcp::SourceError::plain`]); their
//! causes go to the logs with the request id. A gateway's policy denial, as a JSON-RPC error or
//! an `isError` result, reaches the model as a tool error that says it was the access policy and
//! not to retry ([`mcp::policy_denial`]), followed by the gateway's own words for an `isError`.

pub mod access;
pub mod aurora;
pub mod caller_cursors;
pub mod names;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use agent_protocol::{Secret, ToolStatus};
use rmcp::model::{CallToolResult, JsonObject, Tool};
use serde_json::{Value, json};

use crate::sources::mcp::{self, Endpoint, GATEWAY_SEARCH_TOOL, McpSource, SourceError};
use crate::sources::outbound_auth::{OutboundAuthError, RequestTokens};
use access::Access;
use aurora::AuroraTools;
use caller_cursors::CallerCursors;

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

    /// Whether it can be listed only with a request's tokens (workload or caller).
    fn needs_request_token(&self) -> bool {
        matches!(self, Source::Mcp(source) if source.needs_workload_token() || source.needs_caller_token())
    }

    async fn list_tools(&self) -> Result<Vec<Tool>, SourceError> {
        match self {
            Source::Aurora(_) => Ok(AuroraTools::list()),
            Source::Mcp(source) => source.list_tools(RequestTokens::default()).await,
        }
    }
}

/// What a tool call needs to know about the request it serves.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub access: Access,
    pub workload_token: Option<Secret>,
    /// The caller's bearer token that inbound auth accepted for this request, for
    /// `caller_token` sources; dropped with the request.
    pub caller_token: Option<Secret>,
    /// The request's id, on every log line about its tool calls.
    pub request_id: String,
}

impl CallContext {
    /// The request's tokens, as the sources take them.
    fn tokens(&self) -> RequestTokens<'_> {
        RequestTokens {
            workload: self.workload_token.as_ref(),
            caller: self.caller_token.as_ref(),
        }
    }
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
    /// The tools of sources this turn cannot use, by Bedrock name, with what a call to one is
    /// told (see [`Toolbox::catalog_for_turn`]).
    withheld: HashMap<String, Arc<str>>,
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
        Self {
            entries,
            by_name,
            withheld: HashMap::new(),
        }
    }

    /// These entries, keeping what is withheld.
    fn with_entries(&self, entries: Vec<CatalogEntry>) -> Self {
        Self {
            withheld: self.withheld.clone(),
            ..Self::from_entries(entries)
        }
    }

    /// This catalogue without the tools of the `unavailable` sources (by index), which are
    /// withheld with their source's note.
    fn withholding(&self, unavailable: &[(usize, String)]) -> Self {
        let mut withheld = self.withheld.clone();
        let mut entries = Vec::with_capacity(self.entries.len());
        for entry in &self.entries {
            match unavailable.iter().find(|(index, _)| *index == entry.source) {
                Some((_, note)) => {
                    withheld.insert(entry.bedrock_name.clone(), Arc::from(note.as_str()));
                }
                None => entries.push(entry.clone()),
            }
        }
        Self {
            withheld,
            ..Self::from_entries(entries)
        }
    }

    pub fn get(&self, bedrock_name: &str) -> Option<&CatalogEntry> {
        self.by_name.get(bedrock_name).map(|&i| &self.entries[i])
    }

    /// What a call to `bedrock_name` is told when its source is unavailable to this turn.
    pub fn withheld(&self, bedrock_name: &str) -> Option<&str> {
        self.withheld.get(bedrock_name).map(AsRef::as_ref)
    }
}

/// What the model is told about a source this turn cannot use, and what a call to one of its
/// tools gets: plain words naming the source by its configured name and what to tell the
/// customer; never a URL, an ARN or a type.
fn unavailable_note(source_name: &str, error: &SourceError) -> String {
    match error {
        SourceError::Auth(OutboundAuthError::MissingWorkloadToken { .. }) => format!(
            "The {source_name} tools are not available in this conversation because the request was not signed by the runtime; tell the customer you cannot look that up now."
        ),
        SourceError::Auth(OutboundAuthError::MissingCallerToken { .. }) => format!(
            "The {source_name} tools are not available in this conversation because the request carried no sign-in to pass on to them; tell the customer to sign in to use them."
        ),
        SourceError::CallerTokenRefused { .. } => format!(
            "The {source_name} tools are not available right now because they did not accept the customer's sign-in, which has probably expired; tell the customer to sign in again and then ask again."
        ),
        SourceError::Auth(_) | SourceError::Refused { .. } => format!(
            "The {source_name} tools are not available right now because the agent could not sign in to them; tell the customer you cannot look that up now and to try again later."
        ),
        SourceError::Timeout { .. }
        | SourceError::Unreachable { .. }
        | SourceError::Protocol { .. } => format!(
            "The {source_name} tools are not available right now; tell the customer you cannot look that up now and to try again later."
        ),
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
    cursors: CallerCursors,
}

impl Toolbox {
    pub fn new(sources: Vec<Source>, cursors: CallerCursors) -> Arc<Self> {
        let count = sources.len();
        Arc::new(Self {
            sources: sources.into_iter().map(Arc::new).collect(),
            listings: std::sync::Mutex::new(vec![None; count]),
            catalog: RwLock::new(Arc::new(Catalog::default())),
            cursors,
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
            if self.sources[index].needs_request_token() {
                tracing::info!(source = %self.sources[index].name(), "tools will be listed with the requests' own tokens");
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
                    tracing::warn!(source = %source.name(), %error, retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX), "listing tools failed");
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

    /// The catalogue with `per_turn` listings (by source index) in place of the shared ones.
    fn catalog_with(&self, per_turn: Vec<(usize, Vec<Tool>)>) -> Catalog {
        let mut current: Vec<Option<Vec<Tool>>> = self
            .listings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|listing| listing.as_ref().map(|(_, tools)| tools.clone()))
            .collect();
        for (index, tools) in per_turn {
            current[index] = Some(tools);
        }
        Catalog::build(&current, &self.sources)
    }

    fn listed_at(&self, index: usize) -> Option<Instant> {
        self.listings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)[index]
            .as_ref()
            .map(|(at, _)| *at)
    }

    /// The catalogue for one turn, and a note for the model on each source whose tools are
    /// missing from it. Sources that need the request's workload access token are prepared
    /// with it now (and listed if they have not been, or not recently); `caller_token` sources
    /// are listed now with the caller's token, for this turn only; a source that cannot be
    /// prepared or listed so, or has never been listed because listing fails, has all its
    /// tools withheld from this turn. A gateway with more tools than its limit is narrowed to
    /// what its search finds for `prompt`.
    pub async fn catalog_for_turn(
        &self,
        prompt: &str,
        context: &CallContext,
    ) -> (Arc<Catalog>, Vec<String>) {
        let tokens = context.tokens();
        let mut unavailable: Vec<(usize, String)> = Vec::new();
        let mut per_turn: Vec<(usize, Vec<Tool>)> = Vec::new();
        for (index, source) in self.sources.iter().enumerate() {
            let Source::Mcp(mcp) = source.as_ref() else {
                continue;
            };
            if mcp.needs_caller_token() {
                match mcp.list_tools(tokens).await {
                    Ok(tools) => {
                        tracing::info!(request_id = %context.request_id, source = %mcp.name, tools = tools.len(), "tools listed for the caller");
                        per_turn.push((index, tools));
                    }
                    Err(error) => {
                        tracing::warn!(request_id = %context.request_id, source = %mcp.name, %error, "the source's tools are not available to this request");
                        unavailable.push((index, unavailable_note(&mcp.name, &error)));
                    }
                }
                continue;
            }
            if mcp.needs_workload_token() {
                if let Err(error) = mcp.prepare(tokens).await {
                    tracing::warn!(request_id = %context.request_id, source = %mcp.name, %error, "the source's tools are not available to this request");
                    unavailable.push((index, unavailable_note(&mcp.name, &error)));
                    continue;
                }
                let stale = self
                    .listed_at(index)
                    .is_none_or(|at| at.elapsed() > REFRESH_EVERY);
                if stale {
                    match mcp.list_tools(tokens).await {
                        Ok(tools) => {
                            tracing::info!(request_id = %context.request_id, source = %mcp.name, tools = tools.len(), "tools listed");
                            self.set_listing(index, tools);
                        }
                        Err(error) => {
                            tracing::warn!(request_id = %context.request_id, source = %mcp.name, %error, "listing tools failed")
                        }
                    }
                }
            }
            if self.listed_at(index).is_none()
                && let Some(error) = mcp.listing_failure()
            {
                tracing::warn!(request_id = %context.request_id, source = %mcp.name, %error, "the source's tools are not available to this request");
                unavailable.push((index, unavailable_note(&mcp.name, &error)));
            }
        }
        let mut catalog = if per_turn.is_empty() {
            self.catalog()
        } else {
            Arc::new(self.catalog_with(per_turn))
        };
        if !unavailable.is_empty() {
            catalog = Arc::new(catalog.withholding(&unavailable));
        }
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
                self.search_gateway(mcp, prompt, max_tools, &offered, context)
                    .await
            };
            let entries = narrowed.get_or_insert_with(|| catalog.entries.clone());
            entries.retain(|e| e.source != index || keep.contains(&e.mcp_name));
        }
        if let Some(entries) = narrowed {
            catalog = Arc::new(catalog.with_entries(entries));
        }
        let notes = unavailable.into_iter().map(|(_, note)| note).collect();
        (catalog, notes)
    }

    /// The names of at most `max_tools` gateway tools that its search finds for `prompt`; the
    /// first ones by name when the search fails or finds nothing we know.
    async fn search_gateway(
        &self,
        gateway: &McpSource,
        prompt: &str,
        max_tools: usize,
        offered: &[&CatalogEntry],
        context: &CallContext,
    ) -> HashSet<String> {
        let known: HashSet<&str> = offered.iter().map(|e| e.mcp_name.as_str()).collect();
        let mut arguments = JsonObject::new();
        arguments.insert("query".to_owned(), Value::String(prompt.to_owned()));
        let searched = gateway
            .call(GATEWAY_SEARCH_TOOL, arguments, context.tokens())
            .await;
        let found: Vec<String> = match searched {
            Ok(result) => found_tool_names(&result)
                .into_iter()
                .filter(|name| known.contains(name.as_str()))
                .take(max_tools)
                .collect(),
            Err(error) => {
                tracing::warn!(request_id = %context.request_id, source = %gateway.name, %error, "gateway tool search failed");
                Vec::new()
            }
        };
        tracing::info!(request_id = %context.request_id, source = %gateway.name, found = found.len(), offered = offered.len(), "gateway tools picked by search");
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
            Source::Mcp(source) => {
                if self
                    .cursors
                    .open_argument(
                        &source.name,
                        &entry.mcp_name,
                        &context.access,
                        &mut arguments,
                    )
                    .is_err()
                {
                    tracing::info!(tool = %entry.mcp_name, source = %entry.source_name, "refused a cursor not issued to this caller for this tool");
                    return ToolOutcome::error(caller_cursors::INVALID_CURSOR);
                }
                let mut outcome = self.call_mcp(source, entry, arguments, context).await;
                if outcome.status == ToolStatus::Ok {
                    self.cursors.seal_result(
                        &source.name,
                        &entry.mcp_name,
                        &context.access,
                        &mut outcome.output,
                    );
                }
                outcome
            }
        };
        screen_outcome(outcome, entry, &context.access)
    }

    /// One MCP call for the request in `context`. A source that needs a workload access
    /// token, or the caller's, is refused at once for a request without one (the turn's
    /// catalogue already left its tools out; this holds whatever the model names). Failures are
    /// logged with their cause and the request id, and the model gets the plain sentence.
    async fn call_mcp(
        &self,
        source: &McpSource,
        entry: &CatalogEntry,
        arguments: JsonObject,
        context: &CallContext,
    ) -> ToolOutcome {
        let source_name = source.name.clone();
        let missing = if source.needs_workload_token() && context.workload_token.is_none() {
            Some(OutboundAuthError::MissingWorkloadToken { source_name })
        } else if source.needs_caller_token() && context.caller_token.is_none() {
            Some(OutboundAuthError::MissingCallerToken { source_name })
        } else {
            None
        };
        if let Some(missing) = missing {
            let error = SourceError::Auth(missing);
            tracing::warn!(request_id = %context.request_id, tool = %entry.mcp_name, source = %entry.source_name, %error, "tool call refused");
            return ToolOutcome::error(unavailable_note(&source.name, &error));
        }
        match source
            .call(&entry.mcp_name, arguments, context.tokens())
            .await
        {
            Ok(result) => {
                let outcome = ToolOutcome::from_result(result);
                match outcome.output.get("error").and_then(Value::as_str) {
                    Some(text)
                        if outcome.status == ToolStatus::Error && mcp::is_policy_denial(text) =>
                    {
                        tracing::info!(request_id = %context.request_id, tool = %entry.mcp_name, source = %entry.source_name, denial = %text, "tool call denied by the source's policy");
                        ToolOutcome::error(format!(
                            "{} ({text})",
                            mcp::policy_denial(&entry.source_name)
                        ))
                    }
                    _ => outcome,
                }
            }
            Err(error) => {
                tracing::warn!(request_id = %context.request_id, tool = %entry.mcp_name, source = %entry.source_name, %error, "tool call failed");
                ToolOutcome::error(error.plain(&entry.source_name))
            }
        }
    }
}

/// A successful outcome as `access` may see it (see [`access::Access::screen`]). A text-only
/// result is screened too when its text is JSON; other text cannot be read for owners, which
/// is why our own sources return structured results.
fn screen_outcome(outcome: ToolOutcome, entry: &CatalogEntry, access: &Access) -> ToolOutcome {
    if outcome.status != ToolStatus::Ok {
        return outcome;
    }
    let (output, from_text) = match outcome.output {
        Value::Object(mut fields) if fields.len() == 1 && fields.contains_key("text") => {
            match fields.remove("text") {
                Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
                    Ok(parsed) => (parsed, true),
                    Err(_) => return ToolOutcome::ok(json!({ "text": text })),
                },
                other => (json!({ "text": other }), false),
            }
        }
        output => (output, false),
    };
    match access.screen(output) {
        access::Screened::Visible {
            value,
            dropped_items,
        } => {
            if dropped_items > 0 {
                tracing::warn!(tool = %entry.mcp_name, source = %entry.source_name, dropped_items, "dropped list items naming other customers from a tool result");
            }
            if from_text {
                ToolOutcome::ok(json!({ "text": value.to_string() }))
            } else {
                ToolOutcome::ok(value)
            }
        }
        access::Screened::Withheld => {
            tracing::warn!(tool = %entry.mcp_name, source = %entry.source_name, "withheld a tool result naming another customer");
            ToolOutcome::error(access::NOT_FOUND)
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
