//! A turn's events ([`Event`], the agent's own schema) as the AG-UI events of one run, in
//! the order the protocol and `@ag-ui/client`'s verifier require: `RUN_STARTED` first; text
//! as `TEXT_MESSAGE_START`, `_CONTENT`, `_END`, the message ended before a tool call starts;
//! each call as `TOOL_CALL_START`, `_ARGS` (the whole JSON input), `_END`, its result as
//! `TOOL_CALL_RESULT`; and exactly one `RUN_FINISHED` or `RUN_ERROR` last
//! (<https://docs.ag-ui.com/concepts/events>).
//!
//! Message ids are the run id and a counter (`<runId>-1`, `<runId>-2`, ...), so they are
//! stable for a run and never clash between runs of a thread. Tool call ids are the model's.
//!
//! A guardrail intervention is an ordinary finished run: the guardrail's blocked message is the
//! assistant's text and `result.stopReason` is `guardrail_intervened`. Should its text not have
//! been streamed, the `done` event's text becomes the message, so a chat always shows it.

use agent_protocol::events::GUARDRAIL_INTERVENED;
use agent_protocol::{Event, Usage};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

use super::events::{ASSISTANT, AguiEvent, Outcome, TOOL, TokenUsage};

/// The `code` of the error that ends a run whose turn stopped without a last event.
pub const INCOMPLETE: &str = "TurnIncomplete";

/// One run being translated.
#[derive(Debug)]
pub struct AguiRun {
    thread_id: String,
    run_id: String,
    /// Messages named so far in this run.
    messages: u64,
    /// The assistant message of the current model response: its text and tool calls.
    response_message: Option<String>,
    /// Whether that message's text is open (started, not ended).
    text_open: bool,
    /// Whether the run has shown any text.
    text_seen: bool,
    /// Whether the run's last event has been produced.
    ended: bool,
}

impl AguiRun {
    pub fn new(thread_id: impl Into<String>, run_id: impl Into<String>) -> Self {
        Self {
            thread_id: thread_id.into(),
            run_id: run_id.into(),
            messages: 0,
            response_message: None,
            text_open: false,
            text_seen: false,
            ended: false,
        }
    }

    /// The AG-UI events for the turn's next event; none once the run has ended.
    pub fn translate(&mut self, event: Event) -> Vec<AguiEvent> {
        if self.ended {
            return Vec::new();
        }
        match event {
            Event::Start { .. } => vec![AguiEvent::RunStarted {
                thread_id: self.thread_id.clone(),
                run_id: self.run_id.clone(),
            }],
            Event::TextDelta { text } if text.is_empty() => Vec::new(),
            Event::TextDelta { text } => {
                self.text_seen = true;
                let mut events = Vec::new();
                if !self.text_open {
                    let message_id = self.next_message_id();
                    self.response_message = Some(message_id.clone());
                    self.text_open = true;
                    events.push(AguiEvent::TextMessageStart {
                        message_id,
                        role: ASSISTANT,
                    });
                }
                events.push(AguiEvent::TextMessageContent {
                    message_id: self.response_message.clone().unwrap_or_default(),
                    delta: text,
                });
                events
            }
            Event::ToolCall {
                id, name, input, ..
            } => {
                let mut events = self.end_text();
                let parent_message_id = match &self.response_message {
                    Some(id) => id.clone(),
                    None => {
                        let id = self.next_message_id();
                        self.response_message = Some(id.clone());
                        id
                    }
                };
                events.extend([
                    AguiEvent::ToolCallStart {
                        tool_call_id: id.clone(),
                        tool_call_name: name,
                        parent_message_id,
                    },
                    AguiEvent::ToolCallArgs {
                        tool_call_id: id.clone(),
                        delta: input.to_string(),
                    },
                    AguiEvent::ToolCallEnd { tool_call_id: id },
                ]);
                events
            }
            Event::ToolResult { id, output, .. } => {
                let mut events = self.end_text();
                // The next model call answers with a new assistant message.
                self.response_message = None;
                let content = match output {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                events.push(AguiEvent::ToolCallResult {
                    message_id: self.next_message_id(),
                    tool_call_id: id,
                    content,
                    role: TOOL,
                });
                events
            }
            Event::ModelRetry {
                attempt,
                reason,
                delay_ms,
            } => {
                let discarded = self.text_open.then(|| self.response_message.clone());
                let mut events = self.end_text();
                self.response_message = None;
                events.push(AguiEvent::Custom {
                    name: "model_retry".to_owned(),
                    value: json!({
                        "attempt": attempt,
                        "reason": reason,
                        "delayMs": delay_ms,
                        "discardMessageId": discarded.flatten(),
                    }),
                });
                events
            }
            Event::Done {
                text,
                stop_reason,
                usage,
                model_calls,
            } => {
                let mut events = Vec::new();
                if stop_reason == GUARDRAIL_INTERVENED && !self.text_seen && !text.is_empty() {
                    events.extend(self.translate(Event::TextDelta { text }));
                }
                events.extend(self.end_text());
                self.ended = true;
                events.push(AguiEvent::RunFinished {
                    thread_id: self.thread_id.clone(),
                    run_id: self.run_id.clone(),
                    outcome: Outcome::Success,
                    result: json!({"stopReason": stop_reason, "modelCalls": model_calls}),
                    usage: vec![token_usage(usage)],
                });
                events
            }
            Event::Error {
                error, error_type, ..
            } => {
                let mut events = self.end_text();
                self.ended = true;
                events.push(AguiEvent::RunError {
                    message: error,
                    code: error_type,
                });
                events
            }
            Event::Unknown => Vec::new(),
        }
    }

    /// What ends the run when the turn's events stop: nothing after its last event, and a
    /// `RUN_ERROR` when the turn stopped without one.
    pub fn end_of_stream(&mut self) -> Vec<AguiEvent> {
        if self.ended {
            return Vec::new();
        }
        let mut events = self.end_text();
        self.ended = true;
        events.push(AguiEvent::RunError {
            message: "the turn ended without an answer; see the agent's logs".to_owned(),
            code: INCOMPLETE.to_owned(),
        });
        events
    }

    fn end_text(&mut self) -> Vec<AguiEvent> {
        if !self.text_open {
            return Vec::new();
        }
        self.text_open = false;
        vec![AguiEvent::TextMessageEnd {
            message_id: self.response_message.clone().unwrap_or_default(),
        }]
    }

    fn next_message_id(&mut self) -> String {
        self.messages += 1;
        format!("{}-{}", self.run_id, self.messages)
    }
}

/// A turn's whole event stream as the run's AG-UI events, ended by [`AguiRun::end_of_stream`].
pub fn agui_events(
    turn_events: impl Stream<Item = Event> + Send + 'static,
    run: AguiRun,
) -> impl Stream<Item = AguiEvent> + Send + 'static {
    futures::stream::unfold(Some((Box::pin(turn_events), run)), |state| async move {
        let (mut turn_events, mut run) = state?;
        match turn_events.next().await {
            Some(event) => {
                let events = run.translate(event);
                Some((events, Some((turn_events, run))))
            }
            None => Some((run.end_of_stream(), None)),
        }
    })
    .flat_map(futures::stream::iter)
}

fn token_usage(usage: Usage) -> TokenUsage {
    TokenUsage {
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        total_tokens: usage.total_tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_protocol::ToolStatus;

    fn types(events: &[AguiEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| {
                serde_json::to_value(e).expect("serialises")["type"]
                    .as_str()
                    .expect("typed")
                    .to_owned()
            })
            .collect()
    }

    fn run_of(events: Vec<Event>) -> Vec<AguiEvent> {
        let mut run = AguiRun::new("thread", "run");
        let mut out: Vec<AguiEvent> = events.into_iter().flat_map(|e| run.translate(e)).collect();
        out.extend(run.end_of_stream());
        out
    }

    fn start() -> Event {
        Event::Start {
            schema_version: 1,
            session_id: "s".into(),
            request_id: "r".into(),
        }
    }

    fn text(text: &str) -> Event {
        Event::TextDelta { text: text.into() }
    }

    fn done() -> Event {
        Event::Done {
            text: String::new(),
            stop_reason: "end_turn".into(),
            usage: Usage::default(),
            model_calls: 1,
        }
    }

    #[test]
    fn a_guardrail_intervention_shows_its_blocked_message_even_if_not_streamed() {
        let blocked = Event::Done {
            text: "I can't help with that.".into(),
            stop_reason: GUARDRAIL_INTERVENED.into(),
            usage: Usage::default(),
            model_calls: 1,
        };
        let out = run_of(vec![start(), blocked.clone()]);
        assert_eq!(
            types(&out),
            [
                "RUN_STARTED",
                "TEXT_MESSAGE_START",
                "TEXT_MESSAGE_CONTENT",
                "TEXT_MESSAGE_END",
                "RUN_FINISHED"
            ]
        );
        let content = serde_json::to_value(&out[2]).expect("serialises");
        assert_eq!(content["delta"], json!("I can't help with that."));
        let finished = serde_json::to_value(&out[4]).expect("serialises");
        assert_eq!(
            finished["result"]["stopReason"],
            json!("guardrail_intervened")
        );

        let streamed = run_of(vec![start(), text("I can't help with that."), blocked]);
        assert_eq!(types(&streamed), types(&out), "the text is not shown twice");
    }

    #[test]
    fn text_is_one_message_between_run_started_and_run_finished() {
        let out = run_of(vec![start(), text("Hel"), text(""), text("lo"), done()]);
        assert_eq!(
            types(&out),
            [
                "RUN_STARTED",
                "TEXT_MESSAGE_START",
                "TEXT_MESSAGE_CONTENT",
                "TEXT_MESSAGE_CONTENT",
                "TEXT_MESSAGE_END",
                "RUN_FINISHED"
            ]
        );
        assert!(
            out[1..5].iter().all(|e| {
                serde_json::to_value(e).expect("serialises")["messageId"] == json!("run-1")
            }),
            "{out:?}"
        );
    }

    #[test]
    fn a_tool_call_ends_the_text_and_belongs_to_its_message() {
        let out = run_of(vec![
            start(),
            text("Let me check."),
            Event::ToolCall {
                id: "c1".into(),
                name: "get_order".into(),
                source: "aurora".into(),
                input: json!({"order_id": "o-1"}),
            },
            Event::ToolResult {
                id: "c1".into(),
                name: "get_order".into(),
                status: ToolStatus::Ok,
                output: json!({"status": "shipped"}),
            },
            text("Shipped."),
            done(),
        ]);
        assert_eq!(
            types(&out),
            [
                "RUN_STARTED",
                "TEXT_MESSAGE_START",
                "TEXT_MESSAGE_CONTENT",
                "TEXT_MESSAGE_END",
                "TOOL_CALL_START",
                "TOOL_CALL_ARGS",
                "TOOL_CALL_END",
                "TOOL_CALL_RESULT",
                "TEXT_MESSAGE_START",
                "TEXT_MESSAGE_CONTENT",
                "TEXT_MESSAGE_END",
                "RUN_FINISHED"
            ]
        );
        assert_eq!(
            out[4],
            AguiEvent::ToolCallStart {
                tool_call_id: "c1".into(),
                tool_call_name: "get_order".into(),
                parent_message_id: "run-1".into(),
            }
        );
        assert_eq!(
            out[5],
            AguiEvent::ToolCallArgs {
                tool_call_id: "c1".into(),
                delta: r#"{"order_id":"o-1"}"#.into(),
            }
        );
        assert_eq!(
            out[7],
            AguiEvent::ToolCallResult {
                message_id: "run-2".into(),
                tool_call_id: "c1".into(),
                content: r#"{"status":"shipped"}"#.into(),
                role: TOOL,
            }
        );
        assert_eq!(
            out[8],
            AguiEvent::TextMessageStart {
                message_id: "run-3".into(),
                role: ASSISTANT
            }
        );
    }

    #[test]
    fn a_retry_ends_the_partial_message_and_names_it() {
        let out = run_of(vec![
            start(),
            text("Let me"),
            Event::ModelRetry {
                attempt: 1,
                reason: "ThrottlingException".into(),
                delay_ms: 20,
            },
            text("Hi."),
            done(),
        ]);
        assert_eq!(
            types(&out)[2..6],
            [
                "TEXT_MESSAGE_CONTENT",
                "TEXT_MESSAGE_END",
                "CUSTOM",
                "TEXT_MESSAGE_START"
            ]
        );
        assert_eq!(
            out[4],
            AguiEvent::Custom {
                name: "model_retry".into(),
                value: json!({"attempt": 1, "reason": "ThrottlingException", "delayMs": 20,
                    "discardMessageId": "run-1"}),
            }
        );
        assert_eq!(
            out[5],
            AguiEvent::TextMessageStart {
                message_id: "run-2".into(),
                role: ASSISTANT
            }
        );
    }

    #[test]
    fn an_error_ends_the_run_and_nothing_follows_it() {
        let out = run_of(vec![
            start(),
            text("Part"),
            Event::error("the model is unavailable", "ModelError"),
            done(),
        ]);
        assert_eq!(
            types(&out),
            [
                "RUN_STARTED",
                "TEXT_MESSAGE_START",
                "TEXT_MESSAGE_CONTENT",
                "TEXT_MESSAGE_END",
                "RUN_ERROR"
            ]
        );
        assert_eq!(
            out[4],
            AguiEvent::RunError {
                message: "the model is unavailable".into(),
                code: "ModelError".into()
            }
        );
    }

    #[test]
    fn a_turn_that_stops_without_a_last_event_ends_in_run_error() {
        let out = run_of(vec![start(), text("Part")]);
        assert_eq!(
            types(&out),
            [
                "RUN_STARTED",
                "TEXT_MESSAGE_START",
                "TEXT_MESSAGE_CONTENT",
                "TEXT_MESSAGE_END",
                "RUN_ERROR"
            ]
        );
    }
}
