//! A completed turn as an AgentCore Memory event payload, and back.
//!
//! A turn is stored as one `blob` payload (a JSON document, API reference `PayloadType`:
//! <https://docs.aws.amazon.com/bedrock-agentcore/latest/APIReference/API_PayloadType.html>)
//! holding the turn's Bedrock messages in the Converse JSON shape (`role`, `content` blocks
//! `text`, `toolUse`, `toolResult`), not Memory's `conversational` payload: that one holds a
//! role and a text only, and a restored conversation must give every tool use its result,
//! with the same ids, or Bedrock refuses it. One event per turn keeps a turn whole: it is
//! restored entirely or not at all.

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, Message, ToolResultBlock, ToolResultContentBlock,
    ToolResultStatus, ToolUseBlock,
};
use aws_smithy_types::Document;
use serde_json::{Value, json};

use crate::model::document;

/// The `format` of the payloads this module writes; a payload with another is not a turn.
const FORMAT: &str = "support-agent.turn.v1";

/// Why a turn could not be encoded, or a payload decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(String);

fn invalid(what: impl Into<String>) -> CodecError {
    CodecError(what.into())
}

/// The `blob` document of one turn's messages.
pub fn encode_turn(messages: &[Message]) -> Result<Document, CodecError> {
    let messages = messages
        .iter()
        .map(encode_message)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(document::from_json(
        &json!({"format": FORMAT, "messages": messages}),
    ))
}

/// The messages of one turn from its `blob` document. The turn must start with the caller's
/// message and end with the model's, so a restored history keeps alternating roles.
pub fn decode_turn(blob: &Document) -> Result<Vec<Message>, CodecError> {
    let value = document::to_json(blob);
    if value["format"] != json!(FORMAT) {
        return Err(invalid("not a turn payload of this agent"));
    }
    let messages = value["messages"]
        .as_array()
        .ok_or_else(|| invalid("a turn payload without messages"))?
        .iter()
        .map(decode_message)
        .collect::<Result<Vec<_>, _>>()?;
    let starts_with_caller = messages
        .first()
        .is_some_and(|m| *m.role() == ConversationRole::User);
    let ends_with_model = messages
        .last()
        .is_some_and(|m| *m.role() == ConversationRole::Assistant);
    if !(starts_with_caller && ends_with_model) {
        return Err(invalid(
            "a turn that does not run from the caller's message to the model's",
        ));
    }
    Ok(messages)
}

fn encode_message(message: &Message) -> Result<Value, CodecError> {
    let role = match message.role() {
        ConversationRole::User => "user",
        ConversationRole::Assistant => "assistant",
        other => return Err(invalid(format!("a message with role {}", other.as_str()))),
    };
    let content = message
        .content()
        .iter()
        .map(encode_block)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"role": role, "content": content}))
}

fn encode_block(block: &ContentBlock) -> Result<Value, CodecError> {
    match block {
        ContentBlock::Text(text) => Ok(json!({"text": text})),
        ContentBlock::ToolUse(tool) => Ok(json!({"toolUse": {
            "toolUseId": tool.tool_use_id(),
            "name": tool.name(),
            "input": document::to_json(tool.input()),
        }})),
        ContentBlock::ToolResult(result) => {
            let content = result
                .content()
                .iter()
                .map(|part| match part {
                    ToolResultContentBlock::Json(json) => {
                        Ok(json!({"json": document::to_json(json)}))
                    }
                    ToolResultContentBlock::Text(text) => Ok(json!({"text": text})),
                    _ => Err(invalid("a tool result part that is neither JSON nor text")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut encoded = json!({"toolUseId": result.tool_use_id(), "content": content});
            if let Some(status) = result.status() {
                encoded["status"] = json!(status.as_str());
            }
            Ok(json!({"toolResult": encoded}))
        }
        _ => Err(invalid(
            "a content block that is not text, a tool use or a tool result",
        )),
    }
}

fn decode_message(value: &Value) -> Result<Message, CodecError> {
    let role = match value["role"].as_str() {
        Some("user") => ConversationRole::User,
        Some("assistant") => ConversationRole::Assistant,
        _ => return Err(invalid("a message without a known role")),
    };
    let content = value["content"]
        .as_array()
        .ok_or_else(|| invalid("a message without content"))?
        .iter()
        .map(decode_block)
        .collect::<Result<Vec<_>, _>>()?;
    Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
        .map_err(|e| invalid(e.to_string()))
}

fn text_of<'a>(value: &'a Value, field: &str) -> Result<&'a str, CodecError> {
    value[field]
        .as_str()
        .ok_or_else(|| invalid(format!("a block without {field}")))
}

fn decode_block(value: &Value) -> Result<ContentBlock, CodecError> {
    if let Some(text) = value.get("text") {
        let text = text
            .as_str()
            .ok_or_else(|| invalid("a text block that is not text"))?;
        return Ok(ContentBlock::Text(text.to_owned()));
    }
    if let Some(tool) = value.get("toolUse") {
        return ToolUseBlock::builder()
            .tool_use_id(text_of(tool, "toolUseId")?)
            .name(text_of(tool, "name")?)
            .input(document::from_json(&tool["input"]))
            .build()
            .map(ContentBlock::ToolUse)
            .map_err(|e| invalid(e.to_string()));
    }
    if let Some(result) = value.get("toolResult") {
        let content = result["content"]
            .as_array()
            .ok_or_else(|| invalid("a tool result without content"))?
            .iter()
            .map(|part| {
                if let Some(json) = part.get("json") {
                    Ok(ToolResultContentBlock::Json(document::from_json(json)))
                } else {
                    text_of(part, "text").map(|t| ToolResultContentBlock::Text(t.to_owned()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let status = result["status"].as_str().map(ToolResultStatus::from);
        return ToolResultBlock::builder()
            .tool_use_id(text_of(result, "toolUseId")?)
            .set_content(Some(content))
            .set_status(status)
            .build()
            .map(ContentBlock::ToolResult)
            .map_err(|e| invalid(e.to_string()));
    }
    Err(invalid("a content block of an unknown kind"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: ConversationRole, content: Vec<ContentBlock>) -> Message {
        Message::builder()
            .role(role)
            .set_content(Some(content))
            .build()
            .expect("valid message")
    }

    fn turn_with_tool() -> Vec<Message> {
        let tool_use = ToolUseBlock::builder()
            .tool_use_id("tooluse_1")
            .name("get_order")
            .input(document::from_json(
                &json!({"order_id": "ORD-1", "n": [1, -2, 2.5]}),
            ))
            .build()
            .expect("valid");
        let result = ToolResultBlock::builder()
            .tool_use_id("tooluse_1")
            .content(ToolResultContentBlock::Json(document::from_json(
                &json!({"status": "shipped"}),
            )))
            .content(ToolResultContentBlock::Text("note".to_owned()))
            .status(ToolResultStatus::Success)
            .build()
            .expect("valid");
        vec![
            message(
                ConversationRole::User,
                vec![ContentBlock::Text("where is ORD-1?".into())],
            ),
            message(
                ConversationRole::Assistant,
                vec![
                    ContentBlock::Text("Let me look.".into()),
                    ContentBlock::ToolUse(tool_use),
                ],
            ),
            message(
                ConversationRole::User,
                vec![ContentBlock::ToolResult(result)],
            ),
            message(
                ConversationRole::Assistant,
                vec![ContentBlock::Text("Shipped.".into())],
            ),
        ]
    }

    #[test]
    fn a_turn_round_trips_exactly() {
        let turn = turn_with_tool();
        let decoded = decode_turn(&encode_turn(&turn).expect("encodes")).expect("decodes");
        assert_eq!(decoded, turn);
    }

    #[test]
    fn foreign_or_broken_payloads_are_refused() {
        let turn = turn_with_tool();
        let mut other_format = document::to_json(&encode_turn(&turn).expect("encodes"));
        other_format["format"] = json!("someone-else");
        assert!(decode_turn(&document::from_json(&other_format)).is_err());
        let half = encode_turn(&turn[..3]).expect("encodes");
        assert!(
            decode_turn(&half).is_err(),
            "a turn must end with the model's message"
        );
        assert!(decode_turn(&document::from_json(&json!({"format": FORMAT}))).is_err());
    }
}
