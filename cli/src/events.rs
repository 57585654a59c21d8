//! The agent's streamed events (README, "Event schema") as this client reads them: the
//! protocol's [`Event`], read leniently by [`Event::read`] (unknown types are skipped, missing
//! fields take their defaults, AgentCore's own error frame is an error), and what a failed tool
//! result says. The raw JSON is kept apart for `--json`.

pub use agent_protocol::{Event, ToolStatus};
use serde_json::Value;

/// What a tool result says went wrong: `None` when it succeeded, else its `output.error`, else
/// its whole `output`.
pub fn tool_failure(status: ToolStatus, output: &Value) -> Option<String> {
    if status == ToolStatus::Ok {
        return None;
    }
    Some(match output.get("error") {
        Some(Value::String(error)) => error.clone(),
        Some(other) => other.to_string(),
        None if output.is_null() => "failed".to_owned(),
        None => output.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_result_says_its_error_else_its_output() {
        assert_eq!(
            tool_failure(ToolStatus::Error, &json!({"error": "no such order"})),
            Some("no such order".to_owned())
        );
        assert_eq!(
            tool_failure(ToolStatus::Error, &json!({"error": {"code": 7}})),
            Some("{\"code\":7}".to_owned())
        );
        assert_eq!(
            tool_failure(ToolStatus::Error, &json!(["partial"])),
            Some("[\"partial\"]".to_owned())
        );
        assert_eq!(
            tool_failure(ToolStatus::Error, &Value::Null),
            Some("failed".to_owned())
        );
    }

    #[test]
    fn a_successful_result_has_no_failure() {
        assert_eq!(
            tool_failure(ToolStatus::Ok, &json!({"error": "ignored"})),
            None
        );
    }

    #[test]
    fn a_result_without_ok_status_is_read_as_failed() {
        let frame = json!({"type": "tool_result", "id": "t1", "name": "get_order",
            "status": "error", "output": {"error": "no such order"}});
        let Event::ToolResult { status, output, .. } = Event::read(&frame) else {
            panic!("a tool result");
        };
        assert_eq!(
            tool_failure(status, &output),
            Some("no such order".to_owned())
        );
    }
}
