//! [`RecordId`]: the one rule for a customer, order or product id in the Aurora tools' inputs
//! (1 to 64 letters, digits, `.`, `_` or `-`, as the tables' `CHECK` constraints hold them),
//! written once for both the published schema and the check on deserialization.

use std::fmt;
use std::ops::Deref;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};

/// Longest record id.
pub const MAX_LEN: usize = 64;
/// The characters of a record id, as the published schema states them.
pub const PATTERN: &str = r"^[A-Za-z0-9._-]+$";

/// A record id that follows the rule; only [`RecordId::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordId(String);

/// Why a text is not a record id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a record id: 1 to {MAX_LEN} letters, digits, '.', '_' or '-'")]
pub struct InvalidRecordId(String);

impl RecordId {
    /// `text` as a record id, if it follows [`PATTERN`] and is at most [`MAX_LEN`] long.
    pub fn parse(text: &str) -> Result<Self, InvalidRecordId> {
        let valid = (1..=MAX_LEN).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidRecordId(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
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

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for RecordId {
    /// Inlined, so each id property reads as it always has: a string with the pattern and
    /// the length bounds, and the field's own description.
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
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

    /// The published schema and [`RecordId::parse`] agree on every sample.
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
            ("CUST-001\n", false),
            ("x'; DROP TABLE orders; --", false),
        ] {
            assert_eq!(RecordId::parse(text).is_ok(), valid, "parse {text:?}");
            assert_eq!(
                validator.is_valid(&serde_json::json!(text)),
                valid,
                "schema {text:?}"
            );
        }
    }

    #[test]
    fn deserializing_refuses_an_invalid_id_and_names_the_rule() {
        let error =
            serde_json::from_value::<RecordId>(serde_json::json!("a b")).expect_err("not an id");
        assert!(error.to_string().contains("1 to 64 letters"), "{error}");
        let id: RecordId = serde_json::from_value(serde_json::json!("ORD-00001")).expect("an id");
        assert_eq!(id.as_str(), "ORD-00001");
    }
}
