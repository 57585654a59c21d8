//! Builders of the Bedrock SDK values a turn sends: messages, tool result blocks and the tool
//! configuration. The SDK builders fail only on missing required fields, reported as
//! [`TurnError::Internal`].

use agent_protocol::ToolStatus;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, Message, Tool, ToolConfiguration, ToolInputSchema,
    ToolResultBlock, ToolResultContentBlock, ToolResultStatus, ToolSpecification,
};
use serde_json::Value;

use super::TurnError;
use crate::model::document;
use crate::tools::{Catalog, ToolOutcome};

/// The block that answers tool use `id` with `outcome`, its output as JSON.
pub fn result_block(id: &str, outcome: &ToolOutcome) -> Result<ContentBlock, TurnError> {
    let status = match outcome.status {
        ToolStatus::Ok => ToolResultStatus::Success,
        ToolStatus::Error => ToolResultStatus::Error,
    };
    ToolResultBlock::builder()
        .tool_use_id(id)
        .content(ToolResultContentBlock::Json(document::from_json(
            &outcome.output,
        )))
        .status(status)
        .build()
        .map(ContentBlock::ToolResult)
        .map_err(|e| TurnError::Internal(e.to_string()))
}

pub fn message(role: ConversationRole, content: Vec<ContentBlock>) -> Result<Message, TurnError> {
    Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
        .map_err(|e| TurnError::Internal(e.to_string()))
}

/// The tools the model may call this turn, or `None` when there are none: Bedrock refuses an
/// empty tool list.
pub fn tool_configuration(catalog: &Catalog) -> Result<Option<ToolConfiguration>, TurnError> {
    if catalog.entries.is_empty() {
        return Ok(None);
    }
    let tools = catalog
        .entries
        .iter()
        .map(|entry| {
            tool_specification(&entry.bedrock_name, &entry.description, &entry.input_schema)
        })
        .collect::<Result<Vec<_>, _>>()?;
    ToolConfiguration::builder()
        .set_tools(Some(tools))
        .build()
        .map(Some)
        .map_err(|e| TurnError::Internal(e.to_string()))
}

fn tool_specification(
    name: &str,
    description: &str,
    input_schema: &Value,
) -> Result<Tool, TurnError> {
    ToolSpecification::builder()
        .name(name)
        .description(description)
        .input_schema(ToolInputSchema::Json(document::from_json(input_schema)))
        .build()
        .map(Tool::ToolSpec)
        .map_err(|e| TurnError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_successful_outcome_becomes_a_success_block_with_its_json() {
        let outcome = ToolOutcome::ok(json!({"order": 42}));
        let ContentBlock::ToolResult(block) = result_block("call-1", &outcome).unwrap() else {
            panic!("not a tool result block");
        };
        assert_eq!(block.tool_use_id(), "call-1");
        assert_eq!(block.status(), Some(&ToolResultStatus::Success));
        let [ToolResultContentBlock::Json(output)] = block.content() else {
            panic!("not one JSON content block: {:?}", block.content());
        };
        assert_eq!(document::to_json(output), json!({"order": 42}));
    }

    #[test]
    fn a_failed_outcome_becomes_an_error_block() {
        let outcome = ToolOutcome::error("no such order");
        let ContentBlock::ToolResult(block) = result_block("call-2", &outcome).unwrap() else {
            panic!("not a tool result block");
        };
        assert_eq!(block.status(), Some(&ToolResultStatus::Error));
        let [ToolResultContentBlock::Json(output)] = block.content() else {
            panic!("not one JSON content block: {:?}", block.content());
        };
        assert_eq!(document::to_json(output), outcome.output);
    }

    #[test]
    fn a_message_keeps_its_role_and_content_in_order() {
        let content = vec![
            ContentBlock::Text("first".to_owned()),
            ContentBlock::Text("second".to_owned()),
        ];
        let built = message(ConversationRole::Assistant, content.clone()).unwrap();
        assert_eq!(built.role(), &ConversationRole::Assistant);
        assert_eq!(built.content(), content.as_slice());
    }

    #[test]
    fn an_empty_catalogue_gives_no_tool_configuration() {
        assert!(tool_configuration(&Catalog::default()).unwrap().is_none());
    }

    #[test]
    fn a_tool_specification_carries_name_description_and_schema() {
        let schema = json!({"type": "object", "properties": {"id": {"type": "string"}}});
        let Tool::ToolSpec(spec) =
            tool_specification("get_order", "Finds an order", &schema).unwrap()
        else {
            panic!("not a tool specification");
        };
        assert_eq!(spec.name(), "get_order");
        assert_eq!(spec.description(), Some("Finds an order"));
        let Some(ToolInputSchema::Json(built)) = spec.input_schema() else {
            panic!("no JSON input schema");
        };
        assert_eq!(document::to_json(built), schema);
    }
}
