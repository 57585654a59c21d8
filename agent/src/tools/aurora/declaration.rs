//! Each Aurora tool declared once: its name, title and description, and the input and output
//! types whose schemars schemas are the published `inputSchema` and `outputSchema`. The listing
//! is built from these declarations, and so are the validators every call's arguments are
//! checked against (with the `jsonschema` crate, as the MCP server checks its own), so a limit
//! written on an input type is the limit a caller sees and the limit enforced.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde_json::Value;

use super::{customers, orders, products};

/// At most this many schema violations are reported for one call.
const MAX_REPORTED_VIOLATIONS: usize = 5;

/// One tool's static description.
pub(super) struct Declaration {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input: fn() -> JsonObject,
    pub output: fn() -> JsonObject,
}

/// A type's JSON Schema as a JSON object, the form a tool listing carries.
pub(super) fn schema<T: JsonSchema>() -> JsonObject {
    match serde_json::to_value(schemars::schema_for!(T)) {
        Ok(Value::Object(object)) => object,
        _ => JsonObject::new(),
    }
}

/// The Aurora tools. Every tool is read-only, idempotent and closed-world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuroraTool {
    CustomerProfile,
    CustomerOrders,
    Order,
    SearchProducts,
    Product,
}

impl AuroraTool {
    pub const ALL: [Self; 5] = [
        Self::CustomerProfile,
        Self::CustomerOrders,
        Self::Order,
        Self::SearchProducts,
        Self::Product,
    ];

    pub fn declaration(self) -> &'static Declaration {
        match self {
            Self::CustomerProfile => &customers::GET_CUSTOMER_PROFILE,
            Self::CustomerOrders => &orders::LIST_CUSTOMER_ORDERS,
            Self::Order => &orders::GET_ORDER,
            Self::SearchProducts => &products::SEARCH_PRODUCTS,
            Self::Product => &products::GET_PRODUCT,
        }
    }

    pub fn named(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|tool| tool.declaration().name == name)
    }

    pub fn name(self) -> &'static str {
        self.declaration().name
    }

    /// The tool as an MCP listing describes it.
    pub fn listing(self) -> Tool {
        let declaration = self.declaration();
        let mut tool = Tool::new(
            declaration.name,
            declaration.description,
            Arc::new((declaration.input)()),
        )
        .with_raw_output_schema(Arc::new((declaration.output)()));
        tool.annotations = Some(
            ToolAnnotations::with_title(declaration.title)
                .read_only(true)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
        );
        tool
    }
}

/// Each tool's input schema, compiled once.
pub(super) struct InputValidators {
    /// In the order of [`AuroraTool::ALL`]; a schema that does not compile keeps its error.
    validators: Vec<(AuroraTool, Result<jsonschema::Validator, String>)>,
}

/// Why arguments were not checked or did not pass.
#[derive(Debug)]
pub(super) enum Refusal {
    /// What is wrong with the arguments, one clause per violation.
    Invalid(String),
    /// The tool's own schema does not compile: a defect, not the caller's mistake.
    NoValidator(String),
}

impl InputValidators {
    pub fn compile() -> Self {
        let validators = AuroraTool::ALL
            .into_iter()
            .map(|tool| {
                let schema = Value::Object((tool.declaration().input)());
                let validator = jsonschema::validator_for(&schema).map_err(|e| {
                    format!("the input schema of {} does not compile: {e}", tool.name())
                });
                (tool, validator)
            })
            .collect();
        Self { validators }
    }

    /// Checks `arguments` against `tool`'s input schema.
    pub fn check(&self, tool: AuroraTool, arguments: &Value) -> Result<(), Refusal> {
        let validator = self
            .validators
            .iter()
            .find(|(candidate, _)| *candidate == tool)
            .map(|(_, validator)| validator)
            .ok_or_else(|| Refusal::NoValidator(format!("no validator for {}", tool.name())))?
            .as_ref()
            .map_err(|e| Refusal::NoValidator(e.clone()))?;
        let violations: Vec<String> = validator
            .iter_errors(arguments)
            .take(MAX_REPORTED_VIOLATIONS)
            .map(
                |error| match error.instance_path().as_str().trim_start_matches('/') {
                    "" => error.to_string(),
                    field => format!("{field}: {error}"),
                },
            )
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Invalid(violations.join("; ")))
        }
    }
}

impl std::fmt::Debug for InputValidators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let compiled: Vec<(&str, bool)> = self
            .validators
            .iter()
            .map(|(tool, validator)| (tool.name(), validator.is_ok()))
            .collect();
        f.debug_struct("InputValidators")
            .field("compiled", &compiled)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declaration_has_a_unique_name_and_schemas_that_compile() {
        let validators = InputValidators::compile();
        let mut names: Vec<&str> = AuroraTool::ALL.into_iter().map(AuroraTool::name).collect();
        for tool in AuroraTool::ALL {
            assert_eq!(AuroraTool::named(tool.name()), Some(tool));
            assert!(
                !matches!(
                    validators.check(tool, &serde_json::json!({})),
                    Err(Refusal::NoValidator(_))
                ),
                "{} has a validator",
                tool.name()
            );
            let output = Value::Object((tool.declaration().output)());
            assert!(
                jsonschema::validator_for(&output).is_ok(),
                "{} output",
                tool.name()
            );
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuroraTool::ALL.len());
        assert_eq!(AuroraTool::named("drop_tables"), None);
    }

    #[test]
    fn every_listing_has_object_schemas_and_is_read_only() {
        for tool in AuroraTool::ALL {
            let listing = tool.listing();
            assert_eq!(
                listing.input_schema.get("type"),
                Some(&Value::from("object"))
            );
            let output = listing.output_schema.expect("an output schema");
            assert_eq!(output.get("type"), Some(&Value::from("object")));
            let annotations = listing.annotations.expect("annotations");
            assert_eq!(annotations.read_only_hint, Some(true));
        }
    }

    #[test]
    fn violations_name_the_field_and_unknown_fields_are_refused() {
        let validators = InputValidators::compile();
        let refusal = validators
            .check(
                AuroraTool::CustomerOrders,
                &serde_json::json!({"customer_id": "CUST 001", "page_size": 500, "sql": "x"}),
            )
            .expect_err("three violations");
        let Refusal::Invalid(text) = refusal else {
            panic!("the schema compiles: {refusal:?}");
        };
        for part in ["customer_id:", "page_size:", "sql"] {
            assert!(text.contains(part), "{part} in {text}");
        }
    }
}
