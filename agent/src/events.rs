//! The event schema of an invocation: what a client receives, one JSON object per SSE frame
//! (`data: <json>\n\n`), each with a `type`. Versioned by [`SCHEMA_VERSION`], announced in the
//! first frame; fields are only ever added within a version.
//!
//! A turn streams `start`, then any number of `text_delta`, `tool_call`, `tool_result` and
//! `model_retry`, and ends with exactly one `done` or `error`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version of this schema. Bumped only for changes a client could misread.
pub const SCHEMA_VERSION: u32 = 1;

/// Token counts reported by the model, summed over the model calls of a turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
    }
}

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    Ok,
    Error,
}

/// One frame of the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// First frame: which schema, session and request this stream belongs to.
    Start {
        schema_version: u32,
        session_id: String,
        request_id: String,
    },
    /// A piece of the assistant's answer, in order.
    TextDelta { text: String },
    /// The model asked for a tool. `name` is the tool's own name at its source.
    ToolCall {
        id: String,
        name: String,
        source: String,
        input: Value,
    },
    /// A tool call finished. `output` is the tool's structured result, or its text.
    ToolResult {
        id: String,
        name: String,
        status: ToolStatus,
        output: Value,
    },
    /// The model call was throttled or failed transiently and is being retried: text streamed
    /// since the last `tool_result` (or since `start`) will be sent again and should be
    /// discarded.
    ModelRetry {
        attempt: u32,
        reason: String,
        delay_ms: u64,
    },
    /// The turn is complete.
    Done {
        /// The whole answer of this turn.
        text: String,
        /// Bedrock's stop reason of the last model call (`end_turn`, `max_tokens`, ...), or
        /// `max_model_calls` when the turn hit the configured limit.
        stop_reason: String,
        usage: Usage,
        model_calls: u32,
    },
    /// The turn failed after streaming began; always the last frame. `error`, `error_type`
    /// and `message` are the fields AgentCore's own SDKs send in this position.
    Error {
        error: String,
        error_type: String,
        message: String,
    },
}

impl Event {
    pub fn error(error: impl Into<String>, error_type: impl Into<String>) -> Self {
        Self::Error {
            error: error.into(),
            error_type: error_type.into(),
            message: "An error occurred during streaming".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_json_objects_tagged_with_their_type() {
        let json = serde_json::to_string(&Event::TextDelta {
            text: "hi\nthere".into(),
        })
        .expect("serialises");
        assert_eq!(json, "{\"type\":\"text_delta\",\"text\":\"hi\\nthere\"}");
    }

    #[test]
    fn the_error_frame_carries_agentcore_fields() {
        let json = serde_json::to_value(Event::error("model unavailable", "ModelError"))
            .expect("serialises");
        assert_eq!(json["type"], "error");
        assert_eq!(json["error"], "model unavailable");
        assert_eq!(json["error_type"], "ModelError");
        assert_eq!(json["message"], "An error occurred during streaming");
    }
}
