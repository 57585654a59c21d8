//! Earlier tool calls shown to the model as text, for a model call that offers no tools.
//!
//! Bedrock's Converse API refuses a request whose messages hold `toolUse` or `toolResult`
//! blocks unless it also has a `toolConfig` ("The toolConfig field must be defined when using
//! toolUse and toolResult content blocks", a `ValidationException`), and a `toolConfig` needs at
//! least one tool (Converse API reference, `toolConfig` and `ToolConfiguration`:
//! <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html>; the error
//! text is the service's, as reported in public issue threads, and the Bedrock stand-in in
//! `tests/src/bedrock.rs` enforces the same rule). A turn can have no tools at all while its session's history has tool calls,
//! for example when every source needs a workload access token the request did not bring. The
//! model then reads those calls and their results as text; the session's history itself keeps
//! the blocks, so the next turn with tools sees them as they were.

use aws_sdk_bedrockruntime::types::{ContentBlock, Message, ToolResultContentBlock};

use super::document;

/// `messages` with every tool use and tool result turned into a text block.
pub fn as_text(
    messages: Vec<Message>,
) -> Result<Vec<Message>, aws_sdk_bedrockruntime::error::BuildError> {
    messages
        .into_iter()
        .map(|message| {
            let content = message.content().iter().map(block_as_text).collect();
            Message::builder()
                .role(message.role().clone())
                .set_content(Some(content))
                .build()
        })
        .collect()
}

fn block_as_text(block: &ContentBlock) -> ContentBlock {
    match block {
        ContentBlock::ToolUse(tool) => ContentBlock::Text(format!(
            "[earlier tool call {}: {} with {}]",
            tool.tool_use_id(),
            tool.name(),
            document::to_json(tool.input())
        )),
        ContentBlock::ToolResult(result) => {
            let parts: Vec<String> = result
                .content()
                .iter()
                .map(|part| match part {
                    ToolResultContentBlock::Json(json) => document::to_json(json).to_string(),
                    ToolResultContentBlock::Text(text) => text.clone(),
                    _ => "(content left out)".to_owned(),
                })
                .collect();
            ContentBlock::Text(format!(
                "[result of earlier tool call {}: {}]",
                result.tool_use_id(),
                parts.join(" ")
            ))
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_bedrockruntime::types::{ConversationRole, ToolResultBlock, ToolUseBlock};
    use serde_json::json;

    #[test]
    fn tool_blocks_become_text_and_the_rest_is_kept() {
        let tool_use = ToolUseBlock::builder()
            .tool_use_id("t1")
            .name("check_warranty")
            .input(document::from_json(&json!({"serial_number": "SN-1"})))
            .build()
            .expect("valid tool use");
        let tool_result = ToolResultBlock::builder()
            .tool_use_id("t1")
            .content(ToolResultContentBlock::Json(document::from_json(
                &json!({"status": "active"}),
            )))
            .build()
            .expect("valid tool result");
        let messages = vec![
            Message::builder()
                .role(ConversationRole::Assistant)
                .content(ContentBlock::Text("Let me check.".to_owned()))
                .content(ContentBlock::ToolUse(tool_use))
                .build()
                .expect("valid"),
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::ToolResult(tool_result))
                .build()
                .expect("valid"),
        ];
        let shown = as_text(messages).expect("rebuilt");
        assert_eq!(shown.len(), 2);
        assert_eq!(*shown[1].role(), ConversationRole::User);
        let texts: Vec<&str> = shown
            .iter()
            .flat_map(|m| m.content())
            .map(|block| match block {
                ContentBlock::Text(text) => text.as_str(),
                _ => "not text",
            })
            .collect();
        assert_eq!(
            texts,
            [
                "Let me check.",
                r#"[earlier tool call t1: check_warranty with {"serial_number":"SN-1"}]"#,
                r#"[result of earlier tool call t1: {"status":"active"}]"#,
            ]
        );
    }
}
