//! The deployed Bedrock guardrail (`deploy/runtimes.yaml`), checked against the code without an
//! AWS account: the guardrail filters harmful content both ways and prompt attacks on input,
//! masks card numbers both ways and emails in answers, has blocked messages; the agent runs
//! with a fixed version of it (never the draft) in the synchronous stream mode that masking
//! needs; and the agent's role may apply that guardrail and no other. cfn-lint and the
//! role-versus-code and runtime-environment-versus-`--help` checks of every template are in
//! `deploy_templates.rs`.
//!
//! The template is decoded by cfn-lint's own decoder from the project's `.venv`, as there.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use serde_json::{Value, json};
use system_tests::cloudformation::{resource, template};
use system_tests::workspace;

/// The one resource of `kind`, by logical id.
fn only<'a>(template: &'a Value, kind: &str) -> (&'a String, &'a Value) {
    let found: Vec<_> = template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "one {kind}");
    found[0]
}

fn get_att(logical_id: &str, attribute: &str) -> Value {
    json!({"Fn::GetAtt": [logical_id, attribute]})
}

#[test]
fn the_guardrail_filters_content_and_prompt_attacks_and_masks_cards_and_emails() {
    let template = template("runtimes");
    let (_, guardrail) = only(&template, "AWS::Bedrock::Guardrail");
    let properties = &guardrail["Properties"];
    for messaging in ["BlockedInputMessaging", "BlockedOutputsMessaging"] {
        let text = properties[messaging].as_str().unwrap();
        assert!(text.contains("can't help"), "{messaging}: {text}");
    }
    let filters = properties["ContentPolicyConfig"]["FiltersConfig"]
        .as_array()
        .unwrap();
    let filter = |kind: &str| {
        filters
            .iter()
            .find(|f| f["Type"] == kind)
            .unwrap_or_else(|| panic!("a {kind} filter"))
    };
    // Prompt attacks are judged on input only: Bedrock takes no output strength for them.
    assert_eq!(filter("PROMPT_ATTACK")["InputStrength"], "HIGH");
    assert_eq!(filter("PROMPT_ATTACK")["OutputStrength"], "NONE");
    for kind in ["HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT"] {
        let filter = filter(kind);
        for direction in ["InputStrength", "OutputStrength"] {
            assert_ne!(filter[direction], "NONE", "{kind} {direction}");
        }
    }
    let pii = properties["SensitiveInformationPolicyConfig"]["PiiEntitiesConfig"]
        .as_array()
        .unwrap();
    let entity = |kind: &str| {
        pii.iter()
            .find(|e| e["Type"] == kind)
            .unwrap_or_else(|| panic!("a {kind} entity"))
    };
    let card = entity("CREDIT_DEBIT_CARD_NUMBER");
    assert_eq!(card["Action"], "ANONYMIZE");
    assert!(card.get("InputEnabled").is_none() && card.get("OutputEnabled").is_none());
    let email = entity("EMAIL");
    assert_eq!(email["Action"], "ANONYMIZE");
    assert_eq!(email["OutputEnabled"], true, "emails are masked in answers");
}

#[test]
fn the_agent_runs_with_a_fixed_version_of_that_guardrail_in_sync_mode() {
    let template = template("runtimes");
    let (guardrail_id, _) = only(&template, "AWS::Bedrock::Guardrail");
    let (version_id, version) = only(&template, "AWS::Bedrock::GuardrailVersion");
    assert_eq!(
        version["Properties"]["GuardrailIdentifier"],
        get_att(guardrail_id, "GuardrailId")
    );
    let env = &resource(&template, "AgentRuntime")["Properties"]["EnvironmentVariables"];
    assert_eq!(env["GUARDRAIL_ID"], get_att(guardrail_id, "GuardrailId"));
    assert_eq!(
        env["GUARDRAIL_VERSION"],
        get_att(version_id, "Version"),
        "a published version, never DRAFT"
    );
    // Masking PII needs the synchronous mode, the agent's default.
    assert!(
        env.get("GUARDRAIL_STREAM_MODE")
            .is_none_or(|mode| mode == "sync"),
        "{env}"
    );
}

#[test]
fn the_agent_role_may_apply_that_guardrail_and_no_other() {
    let template = template("runtimes");
    let (guardrail_id, _) = only(&template, "AWS::Bedrock::Guardrail");
    let role = resource(&template, "AgentRole");
    let statements: Vec<&Value> = role["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|policy| policy["PolicyDocument"]["Statement"].as_array().unwrap())
        .filter(|statement| statement["Action"].to_string().contains("ApplyGuardrail"))
        .collect();
    assert_eq!(statements.len(), 1, "{statements:?}");
    let statement = statements[0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], "bedrock:ApplyGuardrail");
    assert_eq!(
        statement["Resource"],
        get_att(guardrail_id, "GuardrailArn"),
        "this guardrail only"
    );
    for other in ["McpRole", "GatewayRole"] {
        let text = resource(&template, other).to_string();
        assert!(!text.contains("ApplyGuardrail"), "{other}");
    }
}

#[test]
fn the_agent_binary_reads_the_guardrail_and_caching_settings() {
    let output = Command::new(workspace::binary("agent"))
        .arg("--help")
        .output()
        .expect("agent --help runs");
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for name in [
        "GUARDRAIL_ID",
        "GUARDRAIL_VERSION",
        "GUARDRAIL_STREAM_MODE",
        "PROMPT_CACHING",
    ] {
        assert!(
            help.contains(&format!("[env: {name}=")),
            "{name} in:\n{help}"
        );
    }
}
