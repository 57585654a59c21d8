//! The AG-UI events the agent sends, in their wire form: one JSON object each, `type` in
//! SCREAMING_SNAKE_CASE, fields in camelCase, as `@ag-ui/core`'s schemas define them
//! (`sdks/typescript/packages/core`, <https://docs.ag-ui.com/concepts/events>). Only the
//! events a turn produces are here; optional fields the agent has nothing for are left out.

use serde::Serialize;
use serde_json::Value;

/// The role of every text message the agent streams.
pub const ASSISTANT: &str = "assistant";
/// The role of a tool result message.
pub const TOOL: &str = "tool";

/// One AG-UI event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum AguiEvent {
    /// First event of a run.
    RunStarted { thread_id: String, run_id: String },
    /// Opens an assistant message.
    TextMessageStart {
        message_id: String,
        role: &'static str,
    },
    /// A piece of the open message's text.
    TextMessageContent { message_id: String, delta: String },
    /// Closes a message.
    TextMessageEnd { message_id: String },
    /// The model called a tool; `parentMessageId` is the assistant message of the same model
    /// response, which the client's message list gives the call to.
    ToolCallStart {
        tool_call_id: String,
        tool_call_name: String,
        parent_message_id: String,
    },
    /// The call's arguments, as JSON text.
    ToolCallArgs { tool_call_id: String, delta: String },
    /// The call's arguments are complete.
    ToolCallEnd { tool_call_id: String },
    /// What the tool returned, as a tool message of its own.
    ToolCallResult {
        message_id: String,
        tool_call_id: String,
        content: String,
        role: &'static str,
    },
    /// An application event outside the protocol (the agent's `model_retry`).
    Custom { name: String, value: Value },
    /// The run completed. `result` carries the stop reason and model call count.
    RunFinished {
        thread_id: String,
        run_id: String,
        outcome: Outcome,
        result: Value,
        usage: Vec<TokenUsage>,
    },
    /// The run failed; always the last event.
    RunError { message: String, code: String },
}

/// Why a finished run ended: the agent's runs always complete (no interrupts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    Success,
}

/// Token counts of a run, in AG-UI's `TokenUsage` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire(event: &AguiEvent) -> Value {
        serde_json::to_value(event).expect("serialises")
    }

    #[test]
    fn types_are_screaming_snake_and_fields_camel_case() {
        assert_eq!(
            wire(&AguiEvent::RunStarted {
                thread_id: "t".into(),
                run_id: "r".into()
            }),
            json!({"type": "RUN_STARTED", "threadId": "t", "runId": "r"})
        );
        assert_eq!(
            wire(&AguiEvent::ToolCallStart {
                tool_call_id: "c1".into(),
                tool_call_name: "get_order".into(),
                parent_message_id: "r-1".into(),
            }),
            json!({"type": "TOOL_CALL_START", "toolCallId": "c1",
                "toolCallName": "get_order", "parentMessageId": "r-1"})
        );
        assert_eq!(
            wire(&AguiEvent::ToolCallResult {
                message_id: "r-2".into(),
                tool_call_id: "c1".into(),
                content: "{}".into(),
                role: TOOL,
            }),
            json!({"type": "TOOL_CALL_RESULT", "messageId": "r-2", "toolCallId": "c1",
                "content": "{}", "role": "tool"})
        );
    }

    #[test]
    fn a_finished_run_says_success_with_its_usage() {
        assert_eq!(
            wire(&AguiEvent::RunFinished {
                thread_id: "t".into(),
                run_id: "r".into(),
                outcome: Outcome::Success,
                result: json!({"stopReason": "end_turn"}),
                usage: vec![TokenUsage {
                    input_tokens: 3,
                    output_tokens: 2,
                    total_tokens: 5
                }],
            }),
            json!({"type": "RUN_FINISHED", "threadId": "t", "runId": "r",
                "outcome": {"type": "success"}, "result": {"stopReason": "end_turn"},
                "usage": [{"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}]})
        );
        assert_eq!(
            wire(&AguiEvent::RunError {
                message: "m".into(),
                code: "c".into()
            }),
            json!({"type": "RUN_ERROR", "message": "m", "code": "c"})
        );
    }
}
