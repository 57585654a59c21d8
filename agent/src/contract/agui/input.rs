//! Reading an AG-UI run request (`RunAgentInput`, as `@ag-ui/core` defines it): telling it
//! apart from the agent's own `{"prompt"}` body, its new prompt, and the session its thread
//! uses. Only `threadId`, `runId` and `messages` are required, as in the protocol's schema;
//! every other field is accepted and not read (see the [module rules](super)). AgentCore
//! passes the body on unvalidated and leaves the required fields and the answer to invalid
//! input to the container
//! (<https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/runtime-agui-protocol-contract.html>):
//! here, a 400 whose details name what is wrong.

use serde::Deserialize;
use serde_json::Value;

use crate::contract::context::is_valid_session_id;

/// The fields only a `RunAgentInput` has; any of them makes a body an AG-UI request.
const AGUI_FIELDS: [&str; 3] = ["threadId", "runId", "messages"];

/// A required field: its name, what it must be, and the check that it is.
type Required = (&'static str, &'static str, fn(&Value) -> bool);

/// The fields a `RunAgentInput` must have.
const REQUIRED: [Required; 3] = [
    ("threadId", "a string", Value::is_string),
    ("runId", "a string", Value::is_string),
    ("messages", "an array", Value::is_array),
];

/// An AG-UI run request, reduced to what the agent reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunAgentInput {
    pub thread_id: String,
    pub run_id: String,
    pub messages: Vec<InputMessage>,
}

/// One message of the client's conversation.
#[derive(Debug, Clone, Deserialize)]
pub struct InputMessage {
    pub role: String,
    /// A string, or (for a user message) a list of content parts.
    #[serde(default)]
    pub content: Value,
}

/// Why a body is not a usable run request; the text is the 400 answer's `details`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    #[error("\"{field}\" must be {kind}")]
    Field {
        field: &'static str,
        kind: &'static str,
    },
    #[error("not an AG-UI RunAgentInput: {0}")]
    Malformed(String),
    #[error("\"messages\" is empty: the last message must be the user's new message")]
    NoMessages,
    #[error(
        "the last message is the {0}'s: a run answers the user's new message, which must come last"
    )]
    LastNotFromUser(String),
    #[error("the last user message has no text")]
    NoText,
    #[error("the last user message has a \"{0}\" part: this agent reads text only")]
    UnsupportedContent(String),
    #[error(
        "\"threadId\" cannot name a session here: it must be 1 to 256 visible ASCII characters, or send the session header"
    )]
    BadThreadId,
}

impl RunAgentInput {
    /// Whether `body` is meant as an AG-UI request rather than a `{"prompt"}` one.
    pub fn is_meant(body: &Value) -> bool {
        body.as_object()
            .is_some_and(|object| AGUI_FIELDS.iter().any(|field| object.contains_key(*field)))
    }

    /// Reads a request from its JSON body. The required fields are checked one by one first,
    /// so the answer names the field that is wrong.
    pub fn parse(body: Value) -> Result<Self, InputError> {
        for (field, kind, is_kind) in REQUIRED {
            if !body.get(field).is_some_and(is_kind) {
                return Err(InputError::Field { field, kind });
            }
        }
        Self::deserialize(body).map_err(|e| InputError::Malformed(e.to_string()))
    }

    /// The session of a run without the session header: its thread.
    pub fn thread_session_id(&self) -> Result<String, InputError> {
        if is_valid_session_id(&self.thread_id) {
            Ok(self.thread_id.clone())
        } else {
            Err(InputError::BadThreadId)
        }
    }
}

/// The new prompt: the text of the last message, which must be the user's. A content list
/// gives its text parts joined by newlines; any other kind of part is refused rather than
/// silently dropped.
pub fn prompt_of(input: &RunAgentInput) -> Result<String, InputError> {
    let last = input.messages.last().ok_or(InputError::NoMessages)?;
    if last.role != "user" {
        return Err(InputError::LastNotFromUser(last.role.clone()));
    }
    let text = match &last.content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => {
            let mut texts = Vec::with_capacity(parts.len());
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        texts.push(part.get("text").and_then(Value::as_str).unwrap_or_default())
                    }
                    other => {
                        return Err(InputError::UnsupportedContent(
                            other.unwrap_or("untyped").to_owned(),
                        ));
                    }
                }
            }
            texts.join("\n")
        }
        _ => String::new(),
    };
    if text.trim().is_empty() {
        return Err(InputError::NoText);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(messages: Value) -> RunAgentInput {
        RunAgentInput::parse(json!({
            "threadId": "thread-1", "runId": "run-1", "messages": messages,
            "tools": [], "context": [], "state": {}, "forwardedProps": {}
        }))
        .expect("a valid input")
    }

    #[test]
    fn an_agui_body_is_told_apart_from_a_prompt_body() {
        assert!(RunAgentInput::is_meant(&json!({"threadId": "t"})));
        assert!(RunAgentInput::is_meant(&json!({"messages": []})));
        assert!(!RunAgentInput::is_meant(&json!({"prompt": "hi"})));
        assert!(!RunAgentInput::is_meant(&json!(["threadId"])));
    }

    #[test]
    fn the_prompt_is_the_last_user_message() {
        let messages = json!([
            {"id": "1", "role": "user", "content": "first"},
            {"id": "2", "role": "assistant", "content": "answer"},
            {"id": "3", "role": "user", "content": "second"}
        ]);
        assert_eq!(prompt_of(&input(messages)), Ok("second".to_owned()));
        let parts = json!([{"id": "1", "role": "user", "content": [
            {"type": "text", "text": "line one"}, {"type": "text", "text": "line two"}
        ]}]);
        assert_eq!(
            prompt_of(&input(parts)),
            Ok("line one\nline two".to_owned())
        );
    }

    #[test]
    fn a_run_without_a_new_user_text_is_refused() {
        assert_eq!(prompt_of(&input(json!([]))), Err(InputError::NoMessages));
        assert_eq!(
            prompt_of(&input(
                json!([{"id": "1", "role": "assistant", "content": "hi"}])
            )),
            Err(InputError::LastNotFromUser("assistant".into()))
        );
        assert_eq!(
            prompt_of(&input(
                json!([{"id": "1", "role": "user", "content": "  "}])
            )),
            Err(InputError::NoText)
        );
        let image = json!([{"id": "1", "role": "user", "content": [
            {"type": "image", "source": {"type": "url", "value": "https://x"}}
        ]}]);
        assert_eq!(
            prompt_of(&input(image)),
            Err(InputError::UnsupportedContent("image".into()))
        );
        assert_eq!(
            RunAgentInput::parse(json!({"threadId": "t", "messages": []})).err(),
            Some(InputError::Field {
                field: "runId",
                kind: "a string"
            })
        );
        assert!(matches!(
            RunAgentInput::parse(json!({"threadId": "t", "runId": "r", "messages": [{}]})),
            Err(InputError::Malformed(m)) if m.contains("role")
        ));
    }

    #[test]
    fn the_thread_names_the_session_only_when_it_is_a_valid_id() {
        assert_eq!(
            input(json!([])).thread_session_id(),
            Ok("thread-1".to_owned())
        );
        let mut spaced = input(json!([]));
        spaced.thread_id = "has space".into();
        assert_eq!(spaced.thread_session_id(), Err(InputError::BadThreadId));
    }
}
