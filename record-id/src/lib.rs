//! [`RecordId`]: the one rule for a record id in a tool's input (a customer, product, order,
//! review, ticket or serial number): 1 to [`MAX_LEN`] letters, digits, `.`, `_` or `-`, as
//! the Aurora tables' `CHECK` constraints and the DynamoDB items hold them.
//!
//! The rule is written once, for the JSON Schema every id property publishes (inlined, so each
//! property reads as a string with the pattern and length bounds and its own description) and
//! for the check on deserialization. The agent's Aurora tools and its tool-layer isolation use
//! it, and so do the MCP server's tools; it depends on no workspace crate.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};

/// Longest record id.
pub const MAX_LEN: usize = 64;
/// The characters of a record id, as the published schemas state them.
pub const PATTERN: &str = r"^[A-Za-z0-9._-]+$";

/// A record id that follows the rule; only [`RecordId::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordId(String);

/// Why a text is not a record id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a record id: 1 to {MAX_LEN} letters, digits, '.', '_' or '-' (for example CUST-001)"
)]
pub struct InvalidRecordId(String);

impl RecordId {
    /// `text` as a record id, if it follows [`PATTERN`] and is at most [`MAX_LEN`] long.
    pub fn parse(text: &str) -> Result<Self, InvalidRecordId> {
        if is_valid(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidRecordId(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `text` follows the rule, for a caller that needs the answer and not the id.
pub fn is_valid(text: &str) -> bool {
    (1..=MAX_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Deref for RecordId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<RecordId> for String {
    fn from(id: RecordId) -> Self {
        id.0
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for RecordId {
    /// Inlined, so each id property reads as a string with the pattern and the length bounds,
    /// and the field's own description.
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "RecordId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_LEN,
            "pattern": PATTERN,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published schema, [`RecordId::parse`] and [`is_valid`] agree on every sample.
    #[test]
    fn the_schema_and_the_parser_accept_the_same_ids() {
        let schema = serde_json::to_value(schemars::schema_for!(RecordId)).expect("a schema");
        let validator = jsonschema::validator_for(&schema).expect("a valid schema");
        let longest = "X".repeat(MAX_LEN);
        let too_long = "X".repeat(MAX_LEN + 1);
        for (text, valid) in [
            ("CUST-001", true),
            ("SN-LAP-7F3K2Q9D", true),
            ("a.b_c-9", true),
            (longest.as_str(), true),
            ("", false),
            (too_long.as_str(), false),
            ("CUST 001", false),
            ("CUST/001", false),
            ("CUST-00ä", false),
            ("a\"b", false),
            ("CUST-001\n", false),
            ("x'; DROP TABLE orders; --", false),
        ] {
            assert_eq!(RecordId::parse(text).is_ok(), valid, "parse {text:?}");
            assert_eq!(is_valid(text), valid, "is_valid {text:?}");
            assert_eq!(
                validator.is_valid(&serde_json::json!(text)),
                valid,
                "schema {text:?}"
            );
        }
    }

    /// The schema text the tools publish for every id property (the MCP server's tool
    /// schemas are checked byte for byte by the system tests).
    #[test]
    fn the_schema_is_an_inlined_string_with_the_pattern_and_length_bounds() {
        let schema = serde_json::to_value(schemars::schema_for!(RecordId)).expect("a schema");
        assert_eq!(schema["type"], "string");
        assert_eq!(schema["minLength"], 1);
        assert_eq!(schema["maxLength"], MAX_LEN);
        assert_eq!(schema["pattern"], PATTERN);
        assert!(RecordId::inline_schema());
    }

    #[test]
    fn deserializing_an_invalid_id_fails_quoting_it_and_naming_the_rule() {
        let error = serde_json::from_value::<RecordId>(serde_json::json!("CUST/001"))
            .expect_err("not an id");
        let message = error.to_string();
        assert!(
            message.starts_with("\"CUST/001\" is not a record id: 1 to 64 letters"),
            "{message}"
        );
        let id: RecordId = serde_json::from_value(serde_json::json!("CUST-001")).expect("an id");
        assert_eq!(id.as_str(), "CUST-001");
        assert_eq!(&*id, "CUST-001");
        assert_eq!(id.to_string(), "CUST-001");
        assert_eq!(String::from(id), "CUST-001");
    }
}
