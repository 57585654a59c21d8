//! The deployed AgentCore Memory (`deploy/runtimes.yaml`) against the agent's memory code: the
//! memory resource, the agent runtime told its id, and the agent's role allowed exactly the
//! Memory operations the agent calls, on that memory only.

// Test code: a failed setup step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use system_tests::cloudformation::template;
use system_tests::workspace;

fn statements(role: &Value) -> Vec<Value> {
    role["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn the_agent_has_a_memory_with_expiring_events() {
    let template = template("runtimes");
    let memory = &template["Resources"]["AgentMemory"];
    assert_eq!(memory["Type"], "AWS::BedrockAgentCore::Memory");
    let days = memory["Properties"]["EventExpiryDuration"]
        .as_u64()
        .unwrap();
    assert!((1..=365).contains(&days), "{days}");
    assert!(
        memory["Properties"]["MemoryStrategies"].is_null(),
        "short-term memory only: no strategy extracts long-term records"
    );
    let env = &template["Resources"]["AgentRuntime"]["Properties"]["EnvironmentVariables"];
    assert_eq!(
        env["MEMORY_ID"],
        json!({"Fn::GetAtt": ["AgentMemory", "MemoryId"]})
    );
    assert!(
        env["MEMORY_RECALL_NAMESPACE"].is_null(),
        "without a strategy there are no records to recall"
    );
}

#[test]
fn the_agent_role_may_use_its_memory_only() {
    let template = template("runtimes");
    let memory_statements: Vec<Value> = statements(&template["Resources"]["AgentRole"])
        .into_iter()
        .filter(|s| s["Action"].to_string().contains("bedrock-agentcore:"))
        .collect();
    assert_eq!(memory_statements.len(), 1, "{memory_statements:#?}");
    let statement = &memory_statements[0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(
        statement["Action"],
        json!([
            "bedrock-agentcore:CreateEvent",
            "bedrock-agentcore:ListEvents",
            "bedrock-agentcore:RetrieveMemoryRecords"
        ])
    );
    assert_eq!(
        statement["Resource"],
        json!({"Fn::GetAtt": ["AgentMemory", "MemoryArn"]}),
        "this memory, never *"
    );
    for forbidden in ["DeleteEvent", "DeleteMemoryRecord", "GetEvent"] {
        assert!(
            !statement["Action"].to_string().contains(forbidden),
            "{forbidden}"
        );
    }
}

#[test]
fn the_agent_code_calls_exactly_the_granted_operations() {
    let client =
        std::fs::read_to_string(workspace::root().join("agent/src/memory/client.rs")).unwrap();
    for call in [
        ".create_event()",
        ".list_events()",
        ".retrieve_memory_records()",
    ] {
        assert!(client.contains(call), "{call}");
    }
    for other in [
        ".delete_event()",
        ".get_event()",
        ".batch_create_memory_records()",
    ] {
        assert!(!client.contains(other), "{other} would need a grant");
    }
}
