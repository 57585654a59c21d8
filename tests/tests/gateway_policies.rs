//! The Gateway's Cedar policies (`policies/`), checked as AgentCore's policy engine would use
//! them: each file parses and validates strictly against `policies/schema.cedarschema`; the
//! schema's actions are exactly the tools the real MCP server lists, each with that tool's
//! arguments; the staff group is the one `deploy/identity.yaml` creates; and the decisions, made
//! by the `cedar-policy` crate's authorizer, isolate customers: own id allowed, another's or none
//! denied, staff everything, a caller linked to no customer only the product tools.
//!
//! The request is built as AWS's authorization-flow page shows it: principal
//! `AgentCore::OAuthUser::"<sub>"` with the token's claims as tags, action
//! `AgentCore::Action::"support___<tool>"`, resource the gateway's ARN, `context.input` the
//! arguments (https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/policy-authorization-flow.html),
//! by `system_tests::cedar_policy_engine`, the library the gateway stand-in enforces them with.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use cedar_policy::{Decision, Schema, SchemaFragment, ValidationMode, Validator};
use serde_json::{Value, json};
use system_tests::cedar_policy_engine::{OAuthUser, PolicyEngine, Verdict};
use system_tests::mcp_server::seeded_stack;
use system_tests::workspace;

const GATEWAY_ARN: &str = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/support-abc123";
const TARGET: &str = "support";
const PRODUCT_TOOLS: &[&str] = &[
    "get_review",
    "list_product_reviews",
    "get_product_rating_summary",
];
const CUSTOMER_TOOLS: &[&str] = &[
    "list_customer_reviews",
    "check_warranty",
    "list_customer_warranties",
    "create_support_ticket",
    "get_support_ticket",
    "list_customer_tickets",
    "add_ticket_note",
];

fn schema_text() -> String {
    std::fs::read_to_string(workspace::root().join("policies/schema.cedarschema")).unwrap()
}

/// The policies and schema as the gateway stand-in loads them, for [`GATEWAY_ARN`].
fn engine() -> PolicyEngine {
    PolicyEngine::load(&workspace::root().join("policies"), GATEWAY_ARN).unwrap()
}

/// Every `policies/*.cedar` file, by file name, as written (with the `${GatewayArn}` placeholder).
fn policy_files() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(workspace::root().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "cedar") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            files.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    assert!(
        files.len() >= 3,
        "expected the policy files, found {files:?}"
    );
    files
}

/// The decision for a caller whose token has `claims` calling `tool` with `input`, made by the
/// library the gateway stand-in enforces with.
fn decide(claims: &[(&str, &str)], tool: &str, input: Value) -> Decision {
    let user = OAuthUser::new("user-sub", claims.iter().copied());
    let engine = engine();
    // The input must fit the schema: a test of the policies, not of the schema check.
    engine
        .request(&user, &format!("{TARGET}___{tool}"), &input)
        .unwrap_or_else(|e| panic!("{tool}: {e:#}"));
    match engine.authorize(&user, &format!("{TARGET}___{tool}"), &input) {
        Verdict::Allow => Decision::Allow,
        Verdict::Deny { .. } => Decision::Deny,
    }
}

/// Arguments that satisfy `tool`'s schema, for `customer` (or none).
fn input(tool: &str, customer: Option<&str>) -> Value {
    let mut input = match tool {
        "get_review" => json!({"review_id": "REV-0001"}),
        "list_product_reviews" | "get_product_rating_summary" => json!({"product_id": "PROD-001"}),
        "check_warranty" => json!({"serial_number": "SN-LAP-1"}),
        "create_support_ticket" => json!({
            "subject": "s", "description": "d", "category": "other", "client_token": "t"
        }),
        "get_support_ticket" => json!({"ticket_id": "TKT-0001"}),
        "add_ticket_note" => json!({"ticket_id": "TKT-0001", "note": "n"}),
        _ => json!({}),
    };
    if let Some(customer) = customer {
        input["customer_id"] = json!(customer);
    }
    input
}

const CUSTOMER: &[(&str, &str)] = &[("custom:customer_id", "CUST-001"), ("token_use", "id")];
const STAFF: &[(&str, &str)] = &[("cognito:groups", "support-staff"), ("token_use", "id")];
const UNLINKED: &[(&str, &str)] = &[("token_use", "id")];

#[test]
fn every_policy_validates_strictly_against_the_schema() {
    let (schema, warnings) = Schema::from_cedarschema_str(&schema_text()).unwrap();
    let warnings: Vec<String> = warnings.map(|w| w.to_string()).collect();
    assert!(warnings.is_empty(), "schema warnings: {warnings:?}");
    let result = Validator::new(schema).validate(engine().policies(), ValidationMode::Strict);
    let errors: Vec<String> = result.validation_errors().map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "validation errors: {errors:?}");
    let warnings: Vec<String> = result
        .validation_warnings()
        .map(|e| e.to_string())
        .collect();
    assert!(warnings.is_empty(), "validation warnings: {warnings:?}");
}

#[tokio::test]
async fn the_schema_has_one_action_per_mcp_tool_with_its_arguments() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let fragment = SchemaFragment::from_cedarschema_str(&schema_text())
        .unwrap()
        .0;
    let json = fragment.to_json_value().unwrap();
    let actions = json["AgentCore"]["actions"].as_object().unwrap();
    let tool_actions: BTreeSet<String> = actions
        .keys()
        .filter(|name| *name != "Mcp" && *name != "CallTool")
        .cloned()
        .collect();
    let listed: BTreeSet<String> = tools
        .iter()
        .map(|tool| format!("{TARGET}___{}", tool.name))
        .collect();
    assert_eq!(tool_actions, listed);
    for tool in &tools {
        let action = &actions[&format!("{TARGET}___{}", tool.name)];
        let attributes = action["appliesTo"]["context"]["attributes"]["input"]["attributes"]
            .as_object()
            .unwrap_or_else(|| panic!("{}: no context.input record", tool.name));
        let schema = Value::Object((*tool.input_schema).clone());
        let properties: BTreeSet<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let required: BTreeSet<String> = schema["required"]
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let cedar_names: BTreeSet<String> = attributes.keys().cloned().collect();
        assert_eq!(cedar_names, properties, "{}: input attributes", tool.name);
        let cedar_required: BTreeSet<String> = attributes
            .iter()
            .filter(|(_, attribute)| attribute["required"] != json!(false))
            .map(|(name, _)| name.clone())
            .collect();
        assert_eq!(cedar_required, required, "{}: required inputs", tool.name);
    }
}

#[test]
fn the_staff_group_is_the_one_the_identity_stack_creates() {
    let identity = std::fs::read_to_string(workspace::root().join("deploy/identity.yaml")).unwrap();
    let group = identity
        .lines()
        .skip_while(|line| !line.starts_with("  StaffGroup:"))
        .find_map(|line| line.trim().strip_prefix("GroupName: "))
        .expect("StaffGroup's GroupName");
    let staff_policy = &policy_files()["staff-all-tools"];
    assert!(
        staff_policy.contains(&format!("getTag(\"cognito:groups\") == \"{group}\"")),
        "the staff policy names another group than {group}"
    );
}

#[test]
fn customers_call_customer_tools_only_with_their_own_id() {
    for tool in CUSTOMER_TOOLS {
        assert_eq!(
            decide(CUSTOMER, tool, input(tool, Some("CUST-001"))),
            Decision::Allow,
            "{tool} own"
        );
        assert_eq!(
            decide(CUSTOMER, tool, input(tool, Some("CUST-002"))),
            Decision::Deny,
            "{tool} other"
        );
        if !matches!(
            *tool,
            "list_customer_reviews"
                | "list_customer_warranties"
                | "list_customer_tickets"
                | "create_support_ticket"
        ) {
            assert_eq!(
                decide(CUSTOMER, tool, input(tool, None)),
                Decision::Deny,
                "{tool} without id"
            );
        }
    }
    for tool in PRODUCT_TOOLS {
        assert_eq!(
            decide(CUSTOMER, tool, input(tool, None)),
            Decision::Allow,
            "{tool}"
        );
    }
}

#[test]
fn staff_call_every_tool_for_anyone() {
    for tool in CUSTOMER_TOOLS {
        assert_eq!(
            decide(STAFF, tool, input(tool, Some("CUST-002"))),
            Decision::Allow,
            "{tool}"
        );
    }
    for tool in PRODUCT_TOOLS {
        assert_eq!(
            decide(STAFF, tool, input(tool, None)),
            Decision::Allow,
            "{tool}"
        );
    }
    let lookalike = &[("cognito:groups", "support-staff-trainee")];
    assert_eq!(
        decide(
            lookalike,
            "get_support_ticket",
            input("get_support_ticket", Some("CUST-002"))
        ),
        Decision::Deny
    );
}

#[test]
fn callers_linked_to_no_customer_only_read_products() {
    for tool in PRODUCT_TOOLS {
        assert_eq!(
            decide(UNLINKED, tool, input(tool, None)),
            Decision::Allow,
            "{tool}"
        );
    }
    for tool in CUSTOMER_TOOLS {
        assert_eq!(
            decide(UNLINKED, tool, input(tool, Some("CUST-001"))),
            Decision::Deny,
            "{tool}"
        );
    }
}
