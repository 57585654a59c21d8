//! The response of a statement: `records` of typed `Field`s (with `longReturnType`), or
//! `formattedRecords` for `formatRecordsAs: JSON`, with `columnMetadata` when asked for.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::metadata::ColumnMetadata;
use super::statements::{ResultOptions, StatementResult};
use super::values::{Cell, ElementKind};

impl StatementResult {
    pub(super) fn into_response(self, options: &ResultOptions) -> Value {
        let mut response = json!({ "numberOfRecordsUpdated": self.updated });
        let Some(columns) = self.columns else {
            response["generatedFields"] = json!([]);
            return response;
        };
        if options.json {
            let records: Vec<Value> = self
                .rows
                .into_iter()
                .map(|row| {
                    Value::Object(
                        columns
                            .iter()
                            .zip(row)
                            .map(|(column, cell)| (column.label.clone(), json_value(cell, options)))
                            .collect(),
                    )
                })
                .collect();
            response["formattedRecords"] = json!(Value::Array(records).to_string());
            return response;
        }
        response["records"] = Value::Array(
            self.rows
                .into_iter()
                .map(|row| Value::Array(row.into_iter().map(|c| field(c, options)).collect()))
                .collect(),
        );
        if options.metadata {
            response["columnMetadata"] =
                Value::Array(columns.iter().map(ColumnMetadata::json).collect());
        }
        response
    }
}

/// A double as smithy JSON writes it (non-finite values as strings).
fn double(value: f64) -> Value {
    if value.is_nan() {
        json!("NaN")
    } else if value.is_infinite() {
        json!(if value > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(value)
    }
}

/// A `numeric` as a long when it has no fraction digits, else as a double.
fn decimal_number(text: &str) -> Option<Cell> {
    if !text.contains('.')
        && let Ok(long) = text.parse::<i64>()
    {
        return Some(Cell::Long(long));
    }
    text.parse::<f64>()
        .ok()
        .filter(|d| d.is_finite())
        .map(Cell::Double)
}

/// The cell after the result set options, with a `Decimal` resolved to a string or number.
fn resolved(cell: Cell, options: &ResultOptions) -> Cell {
    match cell {
        Cell::Decimal(text) if options.decimals_as_numbers => {
            decimal_number(&text).unwrap_or(Cell::Text(text))
        }
        Cell::Decimal(text) => Cell::Text(text),
        Cell::Long(long) if options.longs_as_strings => Cell::Text(long.to_string()),
        cell => cell,
    }
}

/// The `Field` union member for a cell.
pub(super) fn field(cell: Cell, options: &ResultOptions) -> Value {
    match resolved(cell, options) {
        Cell::Null => json!({ "isNull": true }),
        Cell::Bool(value) => json!({ "booleanValue": value }),
        Cell::Long(value) => json!({ "longValue": value }),
        Cell::Double(value) => json!({ "doubleValue": double(value) }),
        Cell::Decimal(text) | Cell::Text(text) => json!({ "stringValue": text }),
        Cell::Blob(bytes) => json!({ "blobValue": BASE64.encode(bytes) }),
        array @ Cell::Array { .. } => json!({ "arrayValue": array_value(array, options) }),
    }
}

/// An `ArrayValue`: a typed list, or `arrayValues` for arrays of arrays.
fn array_value(array: Cell, options: &ResultOptions) -> Value {
    let Cell::Array { kind, items } = array else {
        return json!({});
    };
    if items.iter().any(|item| matches!(item, Cell::Array { .. })) {
        let nested: Vec<Value> = items
            .into_iter()
            .map(|item| array_value(item, options))
            .collect();
        return json!({ "arrayValues": nested });
    }
    let list = match kind {
        ElementKind::Long if options.longs_as_strings => "stringValues",
        ElementKind::Long => "longValues",
        ElementKind::Double => "doubleValues",
        ElementKind::Bool => "booleanValues",
        ElementKind::Text => "stringValues",
    };
    let values: Vec<Value> = items
        .into_iter()
        .map(|item| match resolved(item, options) {
            Cell::Bool(value) => json!(value),
            Cell::Long(value) => json!(value),
            Cell::Double(value) => double(value),
            Cell::Text(text) | Cell::Decimal(text) => json!(text),
            _ => Value::Null,
        })
        .collect();
    json!({ list: values })
}

/// A cell in `formattedRecords`.
fn json_value(cell: Cell, options: &ResultOptions) -> Value {
    match resolved(cell, options) {
        Cell::Null => Value::Null,
        Cell::Bool(value) => json!(value),
        Cell::Long(value) => json!(value),
        Cell::Double(value) => double(value),
        Cell::Decimal(text) | Cell::Text(text) => json!(text),
        Cell::Blob(bytes) => json!(BASE64.encode(bytes)),
        Cell::Array { items, .. } => {
            Value::Array(items.into_iter().map(|i| json_value(i, options)).collect())
        }
    }
}
