//! The deployment templates (`deploy/*.yaml`) as the template tests read them. Templates use
//! CloudFormation's short tags (`!Ref`, `!Sub`), which plain YAML parsers reject: they are
//! decoded to JSON by cfn-lint's own decoder (`cfnlint.decode`) from the project's `.venv`,
//! so intrinsic tags become `{"Fn::...": ...}`.
//!
//! Helpers for tests: a template that does not decode, or a resource that is missing, panics,
//! which fails the test that asked for it.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::workspace;

/// `deploy/<name>.yaml`.
pub fn template_path(name: &str) -> PathBuf {
    workspace::root()
        .join("deploy")
        .join(format!("{name}.yaml"))
}

/// `deploy/<name>.yaml` as JSON, decoded by cfn-lint.
pub fn template(name: &str) -> Value {
    let script = "import json, sys\nfrom cfnlint.decode import decode\ntemplate, matches = decode(sys.argv[1])\nif matches:\n    sys.exit('\\n'.join(str(m) for m in matches))\nprint(json.dumps(template))";
    let output = Command::new(workspace::venv_program("python"))
        .args(["-c", script])
        .arg(template_path(name))
        .output()
        .expect("the venv's python runs");
    assert!(
        output.status.success(),
        "decoding deploy/{name}.yaml: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the decoder prints JSON")
}

pub fn resources(template: &Value) -> &serde_json::Map<String, Value> {
    template["Resources"]
        .as_object()
        .expect("a template has Resources")
}

/// The resources of CloudFormation type `kind`, with their logical ids.
pub fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    resources(template)
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

pub fn resource<'a>(template: &'a Value, logical_id: &str) -> &'a Value {
    resources(template)
        .get(logical_id)
        .unwrap_or_else(|| panic!("no resource {logical_id}"))
}

/// The text of a `Fn::Sub` (short or long form), or a plain string.
pub fn sub_text(value: &Value) -> Option<&str> {
    if let Some(text) = value.as_str() {
        return Some(text);
    }
    match &value["Fn::Sub"] {
        Value::String(text) => Some(text),
        Value::Array(parts) => parts.first().and_then(Value::as_str),
        _ => None,
    }
}

/// The export name an `Fn::ImportValue` reads, with `${EnvironmentName}` kept.
pub fn import_name(value: &Value) -> Option<&str> {
    value.get("Fn::ImportValue").and_then(sub_text)
}

/// A value CloudFormation takes as one item or a list, as a list.
pub fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}
