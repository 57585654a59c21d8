//! The agent's streamed events (README, "Event schema", version 1) as this client reads them.
//!
//! Only what the client acts on is typed; the raw JSON is kept for `--json`. Unknown types are
//! tolerated, because the schema may gain event types and fields. AgentCore's own error frame
//! (`{"error", "error_type", "message"}` without a `type`, sent when a stream fails inside the
//! service) is read as an error event too.

use serde_json::Value;

/// One event, as far as rendering and the outcome of a turn need it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    Start,
    TextDelta(&'a str),
    ToolCall {
        id: &'a str,
        name: &'a str,
    },
    ToolResult {
        id: &'a str,
        name: &'a str,
        /// `None` when the tool succeeded, else what it said went wrong.
        failure: Option<String>,
    },
    ModelRetry {
        attempt: u64,
        reason: &'a str,
    },
    /// The turn completed; the last event.
    Done,
    /// The turn failed; the last event.
    Error {
        error: &'a str,
        error_type: &'a str,
    },
    /// A type this client does not know.
    Other,
}

impl<'a> Event<'a> {
    pub fn read(value: &'a Value) -> Self {
        let text = |field: &str| value.get(field).and_then(Value::as_str).unwrap_or("");
        match value.get("type").and_then(Value::as_str) {
            Some("start") => Event::Start,
            Some("text_delta") => Event::TextDelta(text("text")),
            Some("tool_call") => Event::ToolCall {
                id: text("id"),
                name: text("name"),
            },
            Some("tool_result") => Event::ToolResult {
                id: text("id"),
                name: text("name"),
                failure: (text("status") != "ok").then(|| tool_failure(value)),
            },
            Some("model_retry") => Event::ModelRetry {
                attempt: value.get("attempt").and_then(Value::as_u64).unwrap_or(0),
                reason: text("reason"),
            },
            Some("done") => Event::Done,
            Some("error") => Event::Error {
                error: text("error"),
                error_type: text("error_type"),
            },
            None if value.get("error").is_some() => Event::Error {
                error: text("error"),
                error_type: text("error_type"),
            },
            _ => Event::Other,
        }
    }
}

/// What a failed tool result says: its `output.error`, else its `output`.
fn tool_failure(value: &Value) -> String {
    match value.pointer("/output/error") {
        Some(Value::String(error)) => error.clone(),
        Some(other) => other.to_string(),
        None => value
            .get("output")
            .map(Value::to_string)
            .unwrap_or_else(|| "failed".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_read_by_type() {
        let delta = json!({"type": "text_delta", "text": "Hel"});
        assert_eq!(Event::read(&delta), Event::TextDelta("Hel"));
        let result = json!({"type": "tool_result", "id": "t1", "name": "get_order",
            "status": "error", "output": {"error": "no such order"}});
        assert_eq!(
            Event::read(&result),
            Event::ToolResult {
                id: "t1",
                name: "get_order",
                failure: Some("no such order".to_owned())
            }
        );
        let ok = json!({"type": "tool_result", "id": "t1", "name": "get_order",
            "status": "ok", "output": {}});
        assert!(matches!(
            Event::read(&ok),
            Event::ToolResult { failure: None, .. }
        ));
        assert_eq!(
            Event::read(&json!({"type": "later_addition"})),
            Event::Other
        );
    }

    #[test]
    fn agentcore_error_frames_without_a_type_are_errors() {
        let frame = json!({"error": "boom", "error_type": "RuntimeError",
            "message": "An error occurred during streaming"});
        assert_eq!(
            Event::read(&frame),
            Event::Error {
                error: "boom",
                error_type: "RuntimeError"
            }
        );
    }
}
