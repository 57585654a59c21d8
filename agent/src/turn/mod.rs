//! The agent loop of one turn: call the model, stream its text, run the tools it asks for,
//! feed the results back, until it answers or the model-call limit is reached.
//!
//! - Every tool call gets a result (unknown tool, bad input, timeout and tool errors become
//!   error results), so the conversation stays valid for the next model call.
//! - Consecutive read-only calls run concurrently (bounded); any other call runs alone, in
//!   the order the model gave.
//! - Throttling and transient model failures, before or inside the stream, are retried with
//!   full-jitter exponential backoff within a time budget; the client is told with a
//!   `model_retry` event.
//! - The turn's messages are returned, not written: the caller commits them to the session
//!   only when the turn completes.
//! - Tools of a source the request cannot use are left out of the turn's catalogue; the model
//!   is told why in the system prompt, and a call it makes to one anyway gets the same words.
//! - What reaches the caller when a turn fails is [`TurnError::public_message`], a short stable
//!   sentence; the `Display` of the error, with its cause, is for the logs.
//! - A guardrail intervention (stop reason `guardrail_intervened`) ends the turn at once: no
//!   tool the response asked for runs, the guardrail's blocked message is the answer, and
//!   nothing of the turn is committed, so the blocked prompt is not sent again with the next
//!   one (Bedrock screens the whole conversation) and the session stays usable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_protocol::events::GUARDRAIL_INTERVENED;
use agent_protocol::{Event, ToolStatus, Usage};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, Message, ToolConfiguration, ToolUseBlock,
};
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::config::ModelConfig;
use crate::model::bedrock::{Model, ModelError, ModelEvent, ModelRequest};
use crate::model::{document, tool_blocks};
use crate::tools::{CallContext, Catalog, CatalogEntry, ToolOutcome, Toolbox};
use messages::{message, result_block, tool_configuration};

mod answer;
mod batching;
mod messages;
mod retry;

pub use answer::{Conversation, Invocation};

/// Stop reason reported when a turn reaches the model-call limit.
pub const MAX_MODEL_CALLS_REASON: &str = "max_model_calls";

/// The answer of a guardrail intervention whose stream carried no blocked message.
pub const GUARDRAIL_FALLBACK_TEXT: &str = "Sorry, I can't help with that request.";

/// Why a turn ended without an answer. The `Display` names the cause, for the logs.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("the model call failed: {0}")]
    Model(ModelError),
    #[error("the client went away")]
    ClientGone,
    #[error("the agent is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Internal(String),
}

impl TurnError {
    pub const SHUTTING_DOWN: &str = "ShuttingDown";

    /// What the caller is told: one stable sentence per failure class, without causes, URLs,
    /// ARNs or type names.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::Model(error) => error.public_message(),
            Self::ClientGone => "the client went away",
            Self::ShuttingDown => "the agent is shutting down; try again in a moment",
            Self::Internal(_) => "the agent could not finish this answer; try again",
        }
    }

    /// The `error_type` reported to the client.
    pub fn error_type(&self) -> String {
        match self {
            Self::Model(error) => error.code.clone(),
            Self::ClientGone => "ClientGone".to_owned(),
            Self::ShuttingDown => Self::SHUTTING_DOWN.to_owned(),
            Self::Internal(_) => "InternalError".to_owned(),
        }
    }
}

/// A completed turn.
#[derive(Debug)]
pub struct TurnOutcome {
    /// The prompt, the model's messages and the tool results, to commit to the session.
    pub new_messages: Vec<Message>,
    pub text: String,
    pub stop_reason: String,
    pub usage: Usage,
    pub model_calls: u32,
}

/// How turns are run.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    pub max_model_calls: u32,
    pub retry_budget: Duration,
    pub retry_base: Duration,
    pub tool_concurrency: usize,
}

impl LoopSettings {
    pub fn new(model: &ModelConfig, tool_concurrency: u16) -> Self {
        Self {
            max_model_calls: model.max_model_calls,
            retry_budget: Duration::from_millis(model.retry_budget_ms),
            retry_base: Duration::from_millis(model.retry_base_ms.max(1)),
            tool_concurrency: usize::from(tool_concurrency.max(1)),
        }
    }
}

/// The model and the tools.
#[derive(Debug, Clone)]
pub struct Agent {
    pub model: Model,
    pub toolbox: Arc<Toolbox>,
    pub settings: LoopSettings,
}

/// Sends events to the client; fails once the client is gone.
#[derive(Debug, Clone)]
pub struct EventSink(pub mpsc::Sender<Event>);

impl EventSink {
    async fn send(&self, event: Event) -> Result<(), TurnError> {
        self.0.send(event).await.map_err(|_| TurnError::ClientGone)
    }
}

/// One tool call the model asked for.
#[derive(Debug)]
struct ToolRequest {
    id: String,
    name: String,
    input: Value,
    input_error: Option<String>,
}

/// One model response.
#[derive(Debug, Default)]
struct ModelResponse {
    text: String,
    tool_requests: Vec<ToolRequest>,
    stop_reason: String,
    usage: Usage,
    /// The guardrail's `actionReason`, when its trace gave one.
    guardrail_action: Option<String>,
}

impl Agent {
    /// Runs one turn on top of `history`, with tools scoped to `context`. The model is told
    /// who the caller is, and the conversation's `system_note` (what memory recalled).
    pub async fn run(
        &self,
        history: &[Message],
        system_note: Option<&str>,
        prompt: &str,
        context: &CallContext,
        sink: &EventSink,
    ) -> Result<TurnOutcome, TurnError> {
        let (catalog, unavailable) = self.toolbox.catalog_for_turn(prompt, context).await;
        let mut system_suffix = context.access.describe();
        if let Some(note) = system_note {
            system_suffix.push('\n');
            system_suffix.push_str(note);
        }
        for note in unavailable {
            system_suffix.push('\n');
            system_suffix.push_str(&note);
        }
        let system_suffix = Some(system_suffix);
        let tools = tool_configuration(&catalog)?;
        let mut new_messages = vec![message(
            ConversationRole::User,
            vec![ContentBlock::Text(prompt.to_owned())],
        )?];
        let mut usage = Usage::default();
        let mut answer = String::new();
        for model_calls in 1..=self.settings.max_model_calls {
            let mut messages: Vec<Message> = history.iter().chain(&new_messages).cloned().collect();
            if tools.is_none() {
                messages = tool_blocks::as_text(messages)
                    .map_err(|e| TurnError::Internal(e.to_string()))?;
            }
            let response = self
                .call_model(messages, tools.clone(), system_suffix.clone(), sink)
                .await?;
            usage += response.usage;
            answer.push_str(&response.text);
            if response.stop_reason == GUARDRAIL_INTERVENED {
                if response.text.is_empty() {
                    sink.send(Event::TextDelta {
                        text: GUARDRAIL_FALLBACK_TEXT.to_owned(),
                    })
                    .await?;
                    answer.push_str(GUARDRAIL_FALLBACK_TEXT);
                }
                tracing::info!(
                    request_id = %context.request_id,
                    model_calls,
                    ignored_tool_calls = response.tool_requests.len(),
                    "the guardrail intervened; the turn ends here and is not kept"
                );
                return Ok(TurnOutcome {
                    new_messages: Vec::new(),
                    text: answer,
                    stop_reason: response.stop_reason,
                    usage,
                    model_calls,
                });
            }
            let mut content = Vec::new();
            if !response.text.is_empty() {
                content.push(ContentBlock::Text(response.text.clone()));
            }
            for request in &response.tool_requests {
                content.push(ContentBlock::ToolUse(
                    ToolUseBlock::builder()
                        .tool_use_id(&request.id)
                        .name(&request.name)
                        .input(document::from_json(&request.input))
                        .build()
                        .map_err(|e| TurnError::Internal(e.to_string()))?,
                ));
            }
            if content.is_empty() {
                content.push(ContentBlock::Text("(no answer)".to_owned()));
            }
            new_messages.push(message(ConversationRole::Assistant, content)?);
            if response.tool_requests.is_empty() {
                return Ok(TurnOutcome {
                    new_messages,
                    text: answer,
                    stop_reason: response.stop_reason,
                    usage,
                    model_calls,
                });
            }
            let results = self
                .run_tools(&catalog, response.tool_requests, context, sink)
                .await?;
            new_messages.push(message(ConversationRole::User, results)?);
        }
        // The last message holds tool results; close the turn with an assistant message so the
        // history keeps alternating roles.
        let note = "(Stopped here: this request reached its limit of model calls.)";
        new_messages.push(message(
            ConversationRole::Assistant,
            vec![ContentBlock::Text(note.to_owned())],
        )?);
        Ok(TurnOutcome {
            new_messages,
            text: answer,
            stop_reason: MAX_MODEL_CALLS_REASON.to_owned(),
            usage,
            model_calls: self.settings.max_model_calls,
        })
    }

    /// One model call, retried on retryable failures within the budget.
    async fn call_model(
        &self,
        messages: Vec<Message>,
        tools: Option<ToolConfiguration>,
        system_suffix: Option<String>,
        sink: &EventSink,
    ) -> Result<ModelResponse, TurnError> {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            let request = ModelRequest {
                messages: messages.clone(),
                tools: tools.clone(),
                system_suffix: system_suffix.clone(),
            };
            let span = tracing::info_span!(
                "chat",
                otel.name = format!("chat {}", self.model.model_id()),
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                "gen_ai.operation.name" = "chat",
                "gen_ai.system" = "aws.bedrock",
                "gen_ai.provider.name" = "aws.bedrock",
                "gen_ai.request.model" = self.model.model_id(),
                "gen_ai.usage.input_tokens" = tracing::field::Empty,
                "gen_ai.usage.output_tokens" = tracing::field::Empty,
                "gen_ai.usage.cache_read.input_tokens" = tracing::field::Empty,
                "gen_ai.usage.cache_creation.input_tokens" = tracing::field::Empty,
                "gen_ai.response.finish_reasons" = tracing::field::Empty,
                "aws.bedrock.guardrail.id" = self.model.guardrail().map(|g| g.identifier.as_str()),
                "aws.bedrock.guardrail.intervened" = tracing::field::Empty,
                "aws.bedrock.guardrail.action_reason" = tracing::field::Empty,
                "error.type" = tracing::field::Empty,
            );
            let streamed = self
                .stream_once(request, sink)
                .instrument(span.clone())
                .await;
            match &streamed {
                Ok(response) => {
                    let usage = response.usage;
                    // The semantic conventions count cached input within the input tokens
                    // (<https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/>);
                    // Bedrock's `inputTokens` leaves it out.
                    span.record(
                        "gen_ai.usage.input_tokens",
                        usage.input_tokens
                            + usage.cache_read_input_tokens
                            + usage.cache_write_input_tokens,
                    );
                    span.record("gen_ai.usage.output_tokens", usage.output_tokens);
                    span.record(
                        "gen_ai.usage.cache_read.input_tokens",
                        usage.cache_read_input_tokens,
                    );
                    span.record(
                        "gen_ai.usage.cache_creation.input_tokens",
                        usage.cache_write_input_tokens,
                    );
                    span.record(
                        "gen_ai.response.finish_reasons",
                        format!("[\"{}\"]", response.stop_reason),
                    );
                    if self.model.guardrail().is_some() {
                        span.record(
                            "aws.bedrock.guardrail.intervened",
                            response.stop_reason == GUARDRAIL_INTERVENED,
                        );
                    }
                    if let Some(reason) = &response.guardrail_action {
                        span.record("aws.bedrock.guardrail.action_reason", reason.as_str());
                    }
                }
                Err(error) => {
                    span.record("error.type", error.error_type());
                    span.record("otel.status_code", "ERROR");
                }
            }
            let error = match streamed {
                Ok(response) => return Ok(response),
                Err(TurnError::Model(error)) if error.retryable => error,
                Err(other) => return Err(other),
            };
            attempt += 1;
            let delay = retry::jittered(
                retry::ceiling(self.settings.retry_base, attempt),
                rand::random::<f64>(),
            );
            let Some(delay) =
                retry::within_budget(started.elapsed(), delay, self.settings.retry_budget)
            else {
                tracing::warn!(code = %error.code, attempts = attempt, "model retries exhausted");
                return Err(TurnError::Model(error));
            };
            tracing::info!(code = %error.code, attempt, delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "retrying the model call");
            sink.send(Event::ModelRetry {
                attempt,
                reason: error.code.clone(),
                delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            })
            .await?;
            tokio::time::sleep(delay).await;
        }
    }

    async fn stream_once(
        &self,
        request: ModelRequest,
        sink: &EventSink,
    ) -> Result<ModelResponse, TurnError> {
        let mut stream = self.model.stream(request).await.map_err(TurnError::Model)?;
        let mut response = ModelResponse::default();
        // Tool inputs arrive as JSON text in pieces, keyed by content block index.
        let mut pending: Vec<(i32, String, String, String)> = Vec::new();
        while let Some(event) = stream.next().await.map_err(TurnError::Model)? {
            match event {
                ModelEvent::Text(text) => {
                    response.text.push_str(&text);
                    sink.send(Event::TextDelta { text }).await?;
                }
                ModelEvent::ToolUseStart { index, id, name } => {
                    pending.push((index, id, name, String::new()))
                }
                ModelEvent::ToolUseInput { index, json } => {
                    if let Some(entry) = pending.iter_mut().find(|(i, ..)| *i == index) {
                        entry.3.push_str(&json);
                    }
                }
                ModelEvent::BlockStop { .. } => {}
                ModelEvent::Stop { reason } => response.stop_reason = reason,
                ModelEvent::Usage(usage) => response.usage = usage,
                ModelEvent::GuardrailAction { reason } => response.guardrail_action = Some(reason),
            }
        }
        response.tool_requests = pending
            .into_iter()
            .map(|(_, id, name, json)| {
                let parsed = if json.trim().is_empty() {
                    Ok(Value::Object(Default::default()))
                } else {
                    serde_json::from_str(&json)
                };
                match parsed {
                    Ok(input @ Value::Object(_)) => ToolRequest {
                        id,
                        name,
                        input,
                        input_error: None,
                    },
                    _ => ToolRequest {
                        id,
                        name,
                        input: Value::Object(Default::default()),
                        input_error: Some("the tool input was not a JSON object".to_owned()),
                    },
                }
            })
            .collect();
        Ok(response)
    }

    /// Runs the calls of one model response and returns their result blocks, in order.
    async fn run_tools(
        &self,
        catalog: &Catalog,
        requests: Vec<ToolRequest>,
        context: &CallContext,
        sink: &EventSink,
    ) -> Result<Vec<ContentBlock>, TurnError> {
        for request in &requests {
            let (name, source) = match catalog.get(&request.name) {
                Some(entry) => (entry.mcp_name.clone(), entry.source_name.clone()),
                None => (request.name.clone(), String::new()),
            };
            sink.send(Event::ToolCall {
                id: request.id.clone(),
                name,
                source,
                input: request.input.clone(),
            })
            .await?;
        }
        let mut blocks = Vec::with_capacity(requests.len());
        let read_only: Vec<bool> = requests
            .iter()
            .map(|r| catalog.get(&r.name).is_some_and(|e| e.read_only))
            .collect();
        for batch in batching::batches(&read_only) {
            let calls: Vec<_> = requests[batch.clone()]
                .iter()
                .map(|request| Box::pin(self.run_tool(catalog, request, context)))
                .collect();
            let mut outcomes =
                futures::stream::iter(calls).buffered(self.settings.tool_concurrency);
            let mut position = batch.start;
            while let Some(outcome) = outcomes.next().await {
                let request = &requests[position];
                let name = catalog
                    .get(&request.name)
                    .map_or_else(|| request.name.clone(), |e| e.mcp_name.clone());
                sink.send(Event::ToolResult {
                    id: request.id.clone(),
                    name,
                    status: outcome.status,
                    output: outcome.output.clone(),
                })
                .await?;
                blocks.push(result_block(&request.id, &outcome)?);
                position += 1;
            }
        }
        Ok(blocks)
    }

    async fn run_tool(
        &self,
        catalog: &Catalog,
        request: &ToolRequest,
        context: &CallContext,
    ) -> ToolOutcome {
        if let Some(error) = &request.input_error {
            return ToolOutcome::error(error.clone());
        }
        let Some(entry) = catalog.get(&request.name) else {
            if let Some(note) = catalog.withheld(&request.name) {
                tracing::warn!(request_id = %context.request_id, tool = %request.name, "refused a call to a tool withheld from this turn");
                return ToolOutcome::error(note);
            }
            return unknown_tool(catalog, &request.name);
        };
        self.call_entry(entry, &request.input, context).await
    }

    async fn call_entry(
        &self,
        entry: &CatalogEntry,
        input: &Value,
        context: &CallContext,
    ) -> ToolOutcome {
        let started = Instant::now();
        let span = tracing::info_span!(
            "execute_tool",
            otel.name = format!("execute_tool {}", entry.mcp_name),
            otel.status_code = tracing::field::Empty,
            "gen_ai.operation.name" = "execute_tool",
            "gen_ai.tool.name" = %entry.mcp_name,
            "tool.source" = %entry.source_name,
            "tool.outcome" = tracing::field::Empty,
        );
        let outcome = self
            .toolbox
            .call(entry, input, context)
            .instrument(span.clone())
            .await;
        let ok = outcome.status == ToolStatus::Ok;
        span.record("tool.outcome", if ok { "ok" } else { "error" });
        if !ok {
            span.record("otel.status_code", "ERROR");
        }
        tracing::info!(
            tool = %entry.mcp_name,
            source = %entry.source_name,
            outcome = if outcome.status == ToolStatus::Ok { "ok" } else { "error" },
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "tool call"
        );
        outcome
    }
}

fn unknown_tool(catalog: &Catalog, name: &str) -> ToolOutcome {
    let available: Vec<&str> = catalog
        .entries
        .iter()
        .map(|e| e.bedrock_name.as_str())
        .collect();
    ToolOutcome::error(format!(
        "there is no tool named {name:?}; the available tools are: {}",
        if available.is_empty() {
            "none".to_owned()
        } else {
            available.join(", ")
        }
    ))
}
