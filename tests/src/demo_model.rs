//! A rule-based stand-in for the model, for running the local stack with no AWS credentials
//! (`scripts/run-local`): the standalone Bedrock stand-in (`bedrock-standin`) asks it for each
//! turn. It understands just enough to show the whole path working (streaming, tool calls
//! through the agent's tool layer, tool results coming back) and says plainly what it is.
//!
//! Its rules, from the request's last message:
//! - tool results: answer with what each tool returned, shortened;
//! - a question naming a subject (warranty, ticket, review, order, product, customer) and the
//!   ids a tool of that subject requires (`SN-...`, `TKT-...`, `REV-...`, `ORD-...`, `PROD-...`,
//!   `CUST-...`): call the first such tool offered, with those ids;
//! - anything else: explain what it understands and which tools it was offered.

use serde_json::{Map, Value, json};

use crate::bedrock::{ToolCall, Turn};

/// How a reply begins, so nobody mistakes it for a real model's.
const BANNER: &str = "[local model stand-in, not a real model]";

/// The longest tool result quoted back, in characters.
const QUOTE_LIMIT: usize = 600;

/// Subjects a question may be about, as the words in questions and tool names spell them.
const SUBJECTS: &[&str] = &[
    "warrant", "ticket", "review", "order", "product", "customer",
];

/// Input properties filled from ids in the question: a word in the property's name and the
/// prefix of the ids it takes.
const ID_FIELDS: &[(&str, &str)] = &[
    ("serial", "SN-"),
    ("ticket", "TKT-"),
    ("review", "REV-"),
    ("order", "ORD-"),
    ("product", "PROD-"),
    ("customer", "CUST-"),
];

/// The turn to answer `request` (a Converse request body) with.
pub fn answer(request: &Value) -> Turn {
    let last = request
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|messages| messages.last());
    let content = last
        .and_then(|message| message.get("content"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let results: Vec<&Value> = content
        .iter()
        .filter_map(|block| block.get("toolResult"))
        .collect();
    if !results.is_empty() {
        return Turn::text(report(&results));
    }
    let question: String = content
        .iter()
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let tools = offered_tools(request);
    match choose_call(&question, &tools) {
        Some((name, input)) => Turn::ToolUse {
            text: Some(format!("{BANNER} Calling {name}.")),
            calls: vec![ToolCall::new("demo-call-1", name, input)],
        },
        None => Turn::text(help(&tools)),
    }
}

/// A tool offered in `toolConfig`: its name, its input's properties and which are required.
struct OfferedTool {
    name: String,
    properties: Vec<String>,
    required: Vec<String>,
}

fn offered_tools(request: &Value) -> Vec<OfferedTool> {
    request
        .pointer("/toolConfig/tools")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|tool| {
            let spec = tool.get("toolSpec")?;
            let name = spec.get("name")?.as_str()?.to_owned();
            let required = spec
                .pointer("/inputSchema/json/required")
                .and_then(Value::as_array)
                .map(|names| {
                    names
                        .iter()
                        .filter_map(|name| name.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let properties = spec
                .pointer("/inputSchema/json/properties")
                .and_then(Value::as_object)
                .map(|properties| properties.keys().cloned().collect())
                .unwrap_or_default();
            Some(OfferedTool {
                name,
                properties,
                required,
            })
        })
        .collect()
}

/// The first tool about a subject the question names whose required inputs are all ids found
/// in the question and which takes at least one of them, with every id input it takes.
fn choose_call(question: &str, tools: &[OfferedTool]) -> Option<(String, Value)> {
    let lowered = question.to_lowercase();
    let ids: Vec<&str> = question
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| ID_FIELDS.iter().any(|(_, prefix)| word.starts_with(prefix)))
        .collect();
    SUBJECTS
        .iter()
        .filter(|subject| lowered.contains(*subject))
        .flat_map(|subject| tools.iter().filter(move |tool| tool.name.contains(subject)))
        .find_map(|tool| {
            let id_for = |property: &str| {
                let (_, prefix) = ID_FIELDS.iter().find(|(word, _)| property.contains(word))?;
                ids.iter().find(|id| id.starts_with(prefix))
            };
            let input: Map<String, Value> = tool
                .properties
                .iter()
                .chain(&tool.required)
                .filter_map(|property| Some((property.clone(), json!(id_for(property)?))))
                .collect();
            let complete = tool.required.iter().all(|name| input.contains_key(name));
            (complete && !input.is_empty()).then(|| (tool.name.clone(), Value::Object(input)))
        })
}

/// Quotes each tool result back, shortened.
fn report(results: &[&Value]) -> String {
    // On a line of its own: the agent's `done` text joins the model calls' texts as they are.
    let mut text = format!("\n\n{BANNER} The tools answered:");
    for result in results {
        let status = result
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("success");
        let body: Vec<String> = result
            .get("content")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|block| match block.get("text").and_then(Value::as_str) {
                Some(text) => text.to_owned(),
                None => block.get("json").unwrap_or(block).to_string(),
            })
            .collect();
        let body = body.join(" ");
        let quoted: String = body.chars().take(QUOTE_LIMIT).collect();
        let ellipsis = if quoted.len() < body.len() {
            " ..."
        } else {
            ""
        };
        text.push_str(&format!("\n- ({status}) {quoted}{ellipsis}"));
    }
    text
}

/// What the stand-in understands, and the tools it was offered.
fn help(tools: &[OfferedTool]) -> String {
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_str()).collect();
    format!(
        "{BANNER} I only understand questions that name a subject (warranty, ticket, review, \
         order, product, customer) and the id a tool needs, e.g. \"Is the warranty on \
         SN-AUD-AS5BATSL still valid?\" or \"List the orders of customer CUST-001\". \
         Configure AWS credentials for a real model. Tools offered: {}.",
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(messages: Value) -> Value {
        json!({
            "messages": messages,
            "toolConfig": {"tools": [
                {"toolSpec": {"name": "support___get_order", "inputSchema": {"json": {
                    "type": "object", "required": ["order_id"]}}}},
                {"toolSpec": {"name": "list_customer_orders", "inputSchema": {"json": {
                    "type": "object", "properties": {"customer_id": {}, "status": {}}}}}},
                {"toolSpec": {"name": "support___check_warranty", "inputSchema": {"json": {
                    "type": "object", "required": ["serial_number"]}}}},
            ]},
        })
    }

    fn ask(question: &str) -> Turn {
        answer(&request(
            json!([{"role": "user", "content": [{"text": question}]}]),
        ))
    }

    fn only_call(turn: Turn) -> ToolCall {
        match turn {
            Turn::ToolUse { calls, .. } if calls.len() == 1 => calls[0].clone(),
            other => panic!("expected one tool call, got {other:?}"),
        }
    }

    #[test]
    fn a_question_with_the_ids_a_tool_needs_calls_that_tool() {
        let call = only_call(ask("Is the warranty on SN-AUD-AS5BATSL still valid?"));
        assert_eq!(call.name, "support___check_warranty");
        assert_eq!(call.input, json!({"serial_number": "SN-AUD-AS5BATSL"}));
    }

    #[test]
    fn tools_whose_required_ids_are_missing_are_passed_over() {
        let call = only_call(ask("What did customer CUST-001 order most recently?"));
        assert_eq!(call.name, "list_customer_orders");
        assert_eq!(call.input, json!({"customer_id": "CUST-001"}));
    }

    #[test]
    fn a_tool_is_not_called_without_any_id_from_the_question() {
        let Turn::Text(text) = ask("Where is my order?") else {
            panic!("expected a text answer");
        };
        assert!(text.contains("Tools offered"), "{text}");
    }

    #[test]
    fn a_question_it_cannot_map_gets_help_naming_the_offered_tools() {
        let Turn::Text(text) = ask("Hello there") else {
            panic!("expected a text answer");
        };
        assert!(text.starts_with(BANNER));
        assert!(text.contains("support___get_order, list_customer_orders"));
    }

    #[test]
    fn tool_results_are_quoted_back_shortened() {
        let long = "x".repeat(QUOTE_LIMIT + 50);
        let turn = answer(&request(json!([
            {"role": "user", "content": [{"text": "order ORD-1"}]},
            {"role": "assistant", "content": [{"toolUse": {
                "toolUseId": "demo-call-1", "name": "support___get_order", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {
                "toolUseId": "demo-call-1", "status": "error",
                "content": [{"text": long}]}}]},
        ])));
        let Turn::Text(text) = turn else {
            panic!("expected a text answer");
        };
        assert!(text.contains("(error) xxx"));
        assert!(text.ends_with(" ..."));
        assert!(text.len() < QUOTE_LIMIT + BANNER.len() + 60);
    }
}
