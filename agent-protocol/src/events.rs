//! The event schema of an invocation: what a client receives, one JSON object per SSE frame
//! (`data: <json>\n\n`), each with a `type`. Versioned by [`SCHEMA_VERSION`], announced in the
//! first frame; fields are only ever added within a version.
//!
//! A turn streams `start`, then any number of `text_delta`, `tool_call`, `tool_result` and
//! `model_retry`, and ends with exactly one `done` or `error`.
//!
//! Reading is lenient, so that a client built against this version keeps working with other
//! agents and with AgentCore itself: a `type` it does not know reads as [`Event::Unknown`], a
//! missing field takes its default, and a tool status other than `ok` reads as an error.
//! [`Event::read`] also takes AgentCore's own error frame, which has no `type`.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Version of this schema. Bumped only for changes a client could misread.
pub const SCHEMA_VERSION: u32 = 1;

/// The `done` stop reason of a turn that a Bedrock guardrail ended: the guardrail blocked the
/// prompt (before any tool ran) or the answer. The turn's text is the guardrail's own blocked
/// message, already streamed as `text_delta`, so a client that knows nothing of guardrails shows
/// it as the answer; nothing of the turn is kept in the conversation.
pub const GUARDRAIL_INTERVENED: &str = "guardrail_intervened";

/// Token counts reported by the model, summed over the model calls of a turn.
///
/// With prompt caching, `input_tokens` counts only the input neither read from nor written to
/// the cache, as Bedrock's `inputTokens` does; `cache_read_input_tokens` and
/// `cache_write_input_tokens` are Bedrock's `cacheReadInputTokens` and `cacheWriteInputTokens`
/// (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html>).
/// Both were added within version 1: a reader without them ignores them, and a frame without
/// them reads them as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_write_input_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
        self.cache_read_input_tokens += other.cache_read_input_tokens;
        self.cache_write_input_tokens += other.cache_write_input_tokens;
    }
}

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    Ok,
    Error,
}

/// A result that does not say it succeeded did not, so any status but `ok` is an error.
impl<'de> Deserialize<'de> for ToolStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let status = Value::deserialize(deserializer)?;
        Ok(if status == "ok" {
            Self::Ok
        } else {
            Self::Error
        })
    }
}

fn unconfirmed() -> ToolStatus {
    ToolStatus::Error
}

/// One frame of the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// First frame: which schema, session and request this stream belongs to.
    Start {
        #[serde(default)]
        schema_version: u32,
        #[serde(default)]
        session_id: String,
        #[serde(default)]
        request_id: String,
    },
    /// A piece of the assistant's answer, in order.
    TextDelta {
        #[serde(default)]
        text: String,
    },
    /// The model asked for a tool. `name` is the tool's own name at its source.
    ToolCall {
        #[serde(default)]
        id: String,
        #[serde(default)]
        name: String,
        #[serde(default)]
        source: String,
        #[serde(default)]
        input: Value,
    },
    /// A tool call finished. `output` is the tool's structured result, or its text.
    ToolResult {
        #[serde(default)]
        id: String,
        #[serde(default)]
        name: String,
        #[serde(default = "unconfirmed")]
        status: ToolStatus,
        #[serde(default)]
        output: Value,
    },
    /// The model call was throttled or failed transiently and is being retried: text streamed
    /// since the last `tool_result` (or since `start`) will be sent again and should be
    /// discarded.
    ModelRetry {
        #[serde(default)]
        attempt: u32,
        #[serde(default)]
        reason: String,
        #[serde(default)]
        delay_ms: u64,
    },
    /// The turn is complete.
    Done {
        /// The whole answer of this turn.
        #[serde(default)]
        text: String,
        /// Bedrock's stop reason of the last model call (`end_turn`, `max_tokens`,
        /// [`GUARDRAIL_INTERVENED`], ...), or `max_model_calls` when the turn hit the
        /// configured limit.
        #[serde(default)]
        stop_reason: String,
        #[serde(default)]
        usage: Usage,
        #[serde(default)]
        model_calls: u32,
    },
    /// The turn failed after streaming began; always the last frame. `error`, `error_type`
    /// and `message` are the fields AgentCore's own SDKs send in this position.
    Error {
        #[serde(default)]
        error: String,
        #[serde(default)]
        error_type: String,
        #[serde(default)]
        message: String,
    },
    /// A frame of a type this version does not know, added by a newer agent; a client skips
    /// it. Only ever read: serialising it is an error, so no agent sends it.
    #[serde(other, skip_serializing)]
    Unknown,
}

impl Event {
    pub fn error(error: impl Into<String>, error_type: impl Into<String>) -> Self {
        Self::Error {
            error: error.into(),
            error_type: error_type.into(),
            message: "An error occurred during streaming".to_owned(),
        }
    }

    /// One frame's JSON as a client reads it. AgentCore's own error frame (`error`,
    /// `error_type` and `message` without a `type`, sent when a stream fails inside the
    /// service) is an [`Event::Error`]; a frame that cannot be read as any event (a field of
    /// the wrong kind, or no object at all) is [`Event::Unknown`], skipped like a newer type.
    pub fn read(frame: &Value) -> Self {
        let typed = frame.get("type").is_some_and(Value::is_string);
        if !typed && frame.get("error").is_some() {
            let text = |field: &str| {
                frame
                    .get(field)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            return Self::Error {
                error: text("error"),
                error_type: text("error_type"),
                message: text("message"),
            };
        }
        Self::deserialize(frame).unwrap_or(Self::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `event` is written as exactly `wire`, and `wire` reads back as `event`.
    fn assert_wire_form(event: Event, wire: &str) {
        assert_eq!(serde_json::to_string(&event).expect("serialises"), wire);
        let read: Event = serde_json::from_str(wire).expect("deserialises");
        assert_eq!(read, event);
    }

    #[test]
    fn start_announces_the_schema_session_and_request() {
        assert_wire_form(
            Event::Start {
                schema_version: SCHEMA_VERSION,
                session_id: "s-1".into(),
                request_id: "r-1".into(),
            },
            r#"{"type":"start","schema_version":1,"session_id":"s-1","request_id":"r-1"}"#,
        );
    }

    #[test]
    fn a_text_delta_carries_its_text_escaped() {
        assert_wire_form(
            Event::TextDelta {
                text: "hi\nthere".into(),
            },
            r#"{"type":"text_delta","text":"hi\nthere"}"#,
        );
    }

    #[test]
    fn a_tool_call_names_the_tool_its_source_and_input() {
        assert_wire_form(
            Event::ToolCall {
                id: "t1".into(),
                name: "get_order".into(),
                source: "aurora".into(),
                input: json!({"order_id": "o-1"}),
            },
            r#"{"type":"tool_call","id":"t1","name":"get_order","source":"aurora","input":{"order_id":"o-1"}}"#,
        );
    }

    #[test]
    fn a_tool_result_has_its_status_in_snake_case() {
        assert_wire_form(
            Event::ToolResult {
                id: "t1".into(),
                name: "get_order".into(),
                status: ToolStatus::Ok,
                output: json!({"status": "shipped"}),
            },
            r#"{"type":"tool_result","id":"t1","name":"get_order","status":"ok","output":{"status":"shipped"}}"#,
        );
        assert_wire_form(
            Event::ToolResult {
                id: "t2".into(),
                name: "get_order".into(),
                status: ToolStatus::Error,
                output: json!({"error": "no such order"}),
            },
            r#"{"type":"tool_result","id":"t2","name":"get_order","status":"error","output":{"error":"no such order"}}"#,
        );
    }

    #[test]
    fn a_model_retry_says_which_attempt_why_and_how_long_it_waits() {
        assert_wire_form(
            Event::ModelRetry {
                attempt: 2,
                reason: "throttled".into(),
                delay_ms: 400,
            },
            r#"{"type":"model_retry","attempt":2,"reason":"throttled","delay_ms":400}"#,
        );
    }

    #[test]
    fn done_carries_the_answer_stop_reason_usage_and_model_calls() {
        assert_wire_form(
            Event::Done {
                text: "Hello".into(),
                stop_reason: "end_turn".into(),
                usage: Usage {
                    input_tokens: 10,
                    output_tokens: 5,
                    total_tokens: 1215,
                    cache_read_input_tokens: 1000,
                    cache_write_input_tokens: 200,
                },
                model_calls: 1,
            },
            r#"{"type":"done","text":"Hello","stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":5,"total_tokens":1215,"cache_read_input_tokens":1000,"cache_write_input_tokens":200},"model_calls":1}"#,
        );
    }

    #[test]
    fn usage_without_cache_counts_reads_them_as_zero() {
        let before_caching = json!({"type": "done", "text": "Hi", "stop_reason": "end_turn",
            "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}});
        let Event::Done { usage, .. } = Event::read(&before_caching) else {
            panic!("not a done event");
        };
        assert_eq!(
            usage,
            Usage {
                input_tokens: 10,
                output_tokens: 5,
                total_tokens: 15,
                ..Usage::default()
            }
        );
    }

    #[test]
    fn a_guardrail_intervention_is_a_done_with_the_blocked_message() {
        assert_wire_form(
            Event::Done {
                text: "I can't help with that.".into(),
                stop_reason: GUARDRAIL_INTERVENED.into(),
                usage: Usage::default(),
                model_calls: 1,
            },
            r#"{"type":"done","text":"I can't help with that.","stop_reason":"guardrail_intervened","usage":{"input_tokens":0,"output_tokens":0,"total_tokens":0,"cache_read_input_tokens":0,"cache_write_input_tokens":0},"model_calls":1}"#,
        );
    }

    #[test]
    fn the_error_frame_carries_agentcore_fields() {
        assert_wire_form(
            Event::error("model unavailable", "ModelError"),
            r#"{"type":"error","error":"model unavailable","error_type":"ModelError","message":"An error occurred during streaming"}"#,
        );
    }

    #[test]
    fn an_unknown_type_reads_as_unknown_and_is_never_written() {
        let later: Event = serde_json::from_str(r#"{"type":"later_addition","detail":{"x":1}}"#)
            .expect("deserialises");
        assert_eq!(later, Event::Unknown);
        assert_eq!(
            Event::read(&json!({"type": "later_addition"})),
            Event::Unknown
        );
        assert!(serde_json::to_string(&Event::Unknown).is_err());
    }

    #[test]
    fn missing_fields_take_their_defaults_and_any_status_but_ok_is_an_error() {
        assert_eq!(
            Event::read(&json!({"type": "done", "text": "Hi", "stop_reason": "end_turn"})),
            Event::Done {
                text: "Hi".into(),
                stop_reason: "end_turn".into(),
                usage: Usage::default(),
                model_calls: 0,
            }
        );
        for status in [json!("partial"), json!(null), json!(1)] {
            let result = json!({"type": "tool_result", "id": "t", "name": "n", "status": status});
            assert!(
                matches!(
                    Event::read(&result),
                    Event::ToolResult {
                        status: ToolStatus::Error,
                        ..
                    }
                ),
                "{status}"
            );
        }
        let no_status = json!({"type": "tool_result", "id": "t", "name": "n"});
        assert!(matches!(
            Event::read(&no_status),
            Event::ToolResult {
                status: ToolStatus::Error,
                output: Value::Null,
                ..
            }
        ));
    }

    #[test]
    fn agentcore_error_frames_without_a_type_are_errors() {
        let frame = json!({"error": "boom", "error_type": "RuntimeError",
            "message": "An error occurred during streaming"});
        assert_eq!(Event::read(&frame), Event::error("boom", "RuntimeError"));
    }

    #[test]
    fn frames_that_are_no_event_are_unknown() {
        for frame in [
            json!({"type": "text_delta", "text": 5}),
            json!({"text": "no type"}),
            json!("just a string"),
        ] {
            assert_eq!(Event::read(&frame), Event::Unknown, "{frame}");
        }
    }
}
