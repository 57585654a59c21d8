//! The shared demo data set, read straight from `fixtures/` as JSON, so tests compute what the
//! servers should answer independently of the servers' own code.

use serde_json::Value;

use crate::workspace;

/// The records of `fixtures/<name>.json`.
pub fn load(name: &str) -> Vec<Value> {
    let path = workspace::root()
        .join("fixtures")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a JSON array: {e}", path.display()))
}

/// The string field `key` of a record.
pub fn text<'a>(record: &'a Value, key: &str) -> &'a str {
    record[key]
        .as_str()
        .unwrap_or_else(|| panic!("record has no string {key}: {record}"))
}

/// The integer field `key` of a record.
pub fn int(record: &Value, key: &str) -> i64 {
    record[key]
        .as_i64()
        .unwrap_or_else(|| panic!("record has no integer {key}: {record}"))
}

/// Two records of `fixtures/<name>.json` owned by different customers (their `customer_id`):
/// the first record, and the first one of anybody else.
pub fn of_two_customers(name: &str) -> (Value, Value) {
    let records = load(name);
    let first = records
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("fixtures/{name}.json is empty"));
    let owner = text(&first, "customer_id");
    let other = records
        .iter()
        .find(|record| text(record, "customer_id") != owner)
        .cloned()
        .unwrap_or_else(|| panic!("fixtures/{name}.json has records of one customer only"));
    (first, other)
}
