//! Reading a request's members as the service validates them: required and optional strings,
//! flags, the `resourceArn`/`secretArn` target and the `sql` limit.

use serde_json::{Map, Value};

use super::errors::ApiError;

pub(super) type Request = Map<String, Value>;

/// The model's limit on `sql`.
const SQL_LIMIT: usize = 65_536;

/// A required string member.
pub(super) fn required<'a>(request: &'a Request, member: &str) -> Result<&'a str, ApiError> {
    match request.get(member) {
        Some(Value::String(value)) => Ok(value),
        None | Some(Value::Null) => Err(ApiError::bad_request(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: \
             Member must not be null"
        ))),
        Some(_) => Err(ApiError::bad_request(format!(
            "'{member}' must be a string."
        ))),
    }
}

/// An optional string member.
pub(super) fn optional<'a>(
    request: &'a Request,
    member: &str,
) -> Result<Option<&'a str>, ApiError> {
    match request.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(ApiError::bad_request(format!(
            "'{member}' must be a string."
        ))),
    }
}

/// An optional boolean member, false when absent.
pub(super) fn flag(request: &Request, member: &str) -> Result<bool, ApiError> {
    match request.get(member) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(ApiError::bad_request(format!(
            "'{member}' must be a boolean."
        ))),
    }
}

/// Checks `resourceArn` and `secretArn` and refuses `schema`, as every operation does.
pub(super) fn check_target(request: &Request) -> Result<&str, ApiError> {
    let arn = required(request, "resourceArn")?;
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let valid = parts.len() == 7
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "rds"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5] == "cluster"
        && !parts[6].is_empty();
    if !valid {
        return Err(ApiError::bad_request(format!(
            "Invalid resourceArn {arn:?}: expected arn:aws:rds:<region>:<account>:cluster:<name>"
        )));
    }
    if optional(request, "schema")?.is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::bad_request(
            "The schema parameter isn't supported for Aurora PostgreSQL.",
        ));
    }
    required(request, "secretArn")
}

pub(super) fn checked_sql(request: &Request) -> Result<&str, ApiError> {
    let sql = required(request, "sql")?;
    if sql.len() > SQL_LIMIT {
        return Err(ApiError::bad_request(format!(
            "'sql' is {} characters long; the limit is {SQL_LIMIT}.",
            sql.len()
        )));
    }
    Ok(sql)
}
