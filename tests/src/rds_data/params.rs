//! Typed request parameters: each `Field` bound as PgJDBC's setters bind it (with the
//! `typeHint` cast), and `:name` placeholders turned into `$n` outside literals, quoted
//! identifiers, comments and casts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::errors::ApiError;

/// A request parameter's value, as it will be bound.
#[derive(Debug, Clone)]
pub(super) enum Bound {
    Null,
    Text(String),
    Long(i64),
    Double(f64),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl ToSql for Bound {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Bound::Null => Ok(IsNull::Yes),
            Bound::Text(text) => text.as_str().to_sql(ty, out),
            Bound::Long(value) => value.to_sql(ty, out),
            Bound::Double(value) => value.to_sql(ty, out),
            Bound::Bool(value) => value.to_sql(ty, out),
            Bound::Bytes(value) => value.as_slice().to_sql(ty, out),
        }
    }

    /// The statement declares each parameter's type from the value ([`Parameter::pg_type`]),
    /// so the value always fits.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// One request parameter.
#[derive(Debug, Clone)]
pub(super) struct Parameter {
    name: String,
    value: Bound,
    /// The cast a `typeHint` asks for (`date`, `numeric`, ...).
    cast: Option<&'static str>,
}

impl Parameter {
    /// The type the statement declares for it, as PgJDBC's setter would; `UNKNOWN` lets
    /// PostgreSQL infer it (an untyped NULL).
    fn pg_type(&self) -> Type {
        match (&self.value, self.cast) {
            (Bound::Null | Bound::Text(_), Some(_)) => Type::TEXT,
            (Bound::Null, None) => Type::UNKNOWN,
            (Bound::Text(_), None) => Type::VARCHAR,
            (Bound::Long(_), _) => Type::INT8,
            (Bound::Double(_), _) => Type::FLOAT8,
            (Bound::Bool(_), _) => Type::BOOL,
            (Bound::Bytes(_), _) => Type::BYTEA,
        }
    }

    /// What replaces the placeholder for slot `n`.
    fn placeholder(&self, n: usize) -> String {
        match (&self.value, self.cast) {
            (Bound::Null | Bound::Text(_), Some(cast)) => format!("(${n}::{cast})"),
            _ => format!("${n}"),
        }
    }
}

pub(super) fn parse_parameters(list: &Value, at: &str) -> Result<Vec<Parameter>, ApiError> {
    let Some(list) = list.as_array() else {
        return Err(ApiError::bad_request(format!("'{at}' must be a list.")));
    };
    let mut parameters: Vec<Parameter> = Vec::with_capacity(list.len());
    for (i, parameter) in list.iter().enumerate() {
        let at = format!("{at}.{i}");
        let Some(name) = parameter
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            return Err(ApiError::bad_request(format!(
                "{at}: every parameter needs a name; Aurora PostgreSQL takes named parameters \
                 only (:name in the SQL)."
            )));
        };
        if parameters.iter().any(|p| p.name == name) {
            return Err(ApiError::bad_request(format!(
                "{at}: the parameter name {name:?} is given more than once."
            )));
        }
        let value = parse_field(parameter.get("value"), &at)?;
        let cast = match parameter.get("typeHint") {
            None | Some(Value::Null) => None,
            Some(hint) => Some(match hint.as_str() {
                Some("DATE") => "date",
                Some("TIME") => "time",
                Some("TIMESTAMP") => "timestamp",
                Some("DECIMAL") => "numeric",
                Some("UUID") => "uuid",
                Some("JSON") => "json",
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "{at}.typeHint {hint} is not one of DATE, TIME, TIMESTAMP, DECIMAL, \
                         UUID, JSON."
                    )));
                }
            }),
        };
        parameters.push(Parameter {
            name: name.to_owned(),
            value,
            cast,
        });
    }
    Ok(parameters)
}

/// A `Field` union: exactly one member set.
fn parse_field(field: Option<&Value>, at: &str) -> Result<Bound, ApiError> {
    let members: Vec<(&String, &Value)> = match field {
        Some(Value::Object(members)) => members.iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => {
            return Err(ApiError::bad_request(format!(
                "{at}.value must be a Field object."
            )));
        }
    };
    let [(member, value)] = members.as_slice() else {
        return Err(ApiError::bad_request(format!(
            "{at}.value must set exactly one of isNull, booleanValue, longValue, doubleValue, \
             stringValue, blobValue."
        )));
    };
    let wrong = || ApiError::bad_request(format!("{at}.value.{member} has the wrong type."));
    Ok(match member.as_str() {
        "isNull" => Bound::Null,
        "booleanValue" => Bound::Bool(value.as_bool().ok_or_else(wrong)?),
        "longValue" => Bound::Long(value.as_i64().ok_or_else(wrong)?),
        "doubleValue" => Bound::Double(match value {
            Value::Number(n) => n.as_f64().ok_or_else(wrong)?,
            // How smithy JSON writes the non-finite values.
            Value::String(s) if s == "NaN" => f64::NAN,
            Value::String(s) if s == "Infinity" => f64::INFINITY,
            Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
            _ => return Err(wrong()),
        }),
        "stringValue" => Bound::Text(value.as_str().ok_or_else(wrong)?.to_owned()),
        "blobValue" => Bound::Bytes(
            BASE64
                .decode(value.as_str().ok_or_else(wrong)?)
                .map_err(|_| wrong())?,
        ),
        "arrayValue" => {
            return Err(ApiError::bad_request(format!(
                "{at}: Array parameters are not supported."
            )));
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "{at}.value.{other} is not a member of Field."
            )));
        }
    })
}

/// A statement ready to prepare: the SQL with `$n` placeholders, and the values and types.
#[derive(Debug)]
pub(super) struct BoundStatement {
    pub(super) sql: String,
    pub(super) values: Vec<Bound>,
    pub(super) types: Vec<Type>,
}

/// Replaces the placeholders of the given parameters by `$n` (numbered in order of first
/// appearance); parameters the SQL does not use are not bound.
pub(super) fn bind(sql: &str, parameters: &[Parameter]) -> Result<BoundStatement, ApiError> {
    let mut rewritten = String::with_capacity(sql.len());
    let mut slots: Vec<&Parameter> = Vec::new();
    let mut copied = 0;
    for (start, end) in placeholders(sql) {
        let name = &sql[start + 1..end];
        let Some(parameter) = parameters.iter().find(|p| p.name == name) else {
            continue;
        };
        let n = match slots.iter().position(|p| p.name == name) {
            Some(index) => index + 1,
            None => {
                slots.push(parameter);
                slots.len()
            }
        };
        rewritten.push_str(&sql[copied..start]);
        rewritten.push_str(&parameter.placeholder(n));
        copied = end;
    }
    rewritten.push_str(&sql[copied..]);
    Ok(BoundStatement {
        sql: rewritten,
        values: slots.iter().map(|p| p.value.clone()).collect(),
        types: slots.iter().map(|p| p.pg_type()).collect(),
    })
}

/// The byte ranges of `:name` placeholders in `sql`, outside string literals (`'...'`,
/// `E'...'` with backslash escapes, `$tag$...$tag$`), quoted identifiers, comments and `::`.
fn placeholders(sql: &str) -> Vec<(usize, usize)> {
    let b = sql.as_bytes();
    let ident_start = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c >= 0x80;
    let ident = |c: u8| ident_start(c) || c.is_ascii_digit() || c == b'$';
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let next = b.get(i + 1).copied();
        match b[i] {
            b'\'' => {
                let escapes =
                    i > 0 && matches!(b[i - 1], b'e' | b'E') && (i < 2 || !ident(b[i - 2]));
                i = skip_quoted(b, i, b'\'', escapes);
            }
            b'"' => i = skip_quoted(b, i, b'"', false),
            b'-' if next == Some(b'-') => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p + 1);
            }
            b'/' if next == Some(b'*') => i = skip_block_comment(b, i),
            b'$' => i = dollar_quote_end(b, i).unwrap_or(i + 1),
            b':' if next == Some(b':') => i += 2,
            b':' if next.is_some_and(|c| c.is_ascii_alphabetic() || c == b'_') => {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                found.push((start, i));
            }
            c if ident_start(c) => {
                // A whole word, so a `$` inside an identifier is not a dollar quote.
                while i < b.len() && ident(b[i]) && b[i] != b'\'' {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    found
}

/// The index after the literal or quoted identifier opening at `start`.
fn skip_quoted(b: &[u8], start: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        if backslash_escapes && b[i] == b'\\' {
            i += 2;
        } else if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// The index after the (nestable) block comment opening at `start`.
fn skip_block_comment(b: &[u8], start: usize) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// The index after the dollar-quoted string opening at `start`, if a `$tag$` opens there
/// (`$1`, a positional parameter, does not).
fn dollar_quote_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if b.get(i).is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
        i += 1;
    }
    if b.get(i) != Some(&b'$') {
        return None;
    }
    let tag = &b[start..=i];
    let body = i + 1;
    Some(
        b[body..]
            .windows(tag.len())
            .position(|w| w == tag)
            .map_or(b.len(), |p| body + p + tag.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Vec<&str> {
        placeholders(sql)
            .into_iter()
            .map(|(start, end)| &sql[start + 1..end])
            .collect()
    }

    #[test]
    fn placeholders_skip_literals_identifiers_comments_and_casts() {
        assert_eq!(
            names(
                "SELECT :a, ':b', \":c\", :d::int, E'\\':e', $$ :f $$, $t$ :g $t$ -- :h\n, /* :i /* :j */ */ :k"
            ),
            vec!["a", "d", "k"]
        );
        assert_eq!(names("SELECT a$b, :x FROM t WHERE y = $1"), vec!["x"]);
        assert_eq!(names("SELECT 'it''s :no', :yes"), vec!["yes"]);
        assert_eq!(names("SELECT 'unterminated :no"), Vec::<&str>::new());
    }

    #[test]
    fn bind_numbers_parameters_by_first_appearance_and_leaves_unknown_names() {
        let parameter = |name: &str, value: Bound, cast| Parameter {
            name: name.to_owned(),
            value,
            cast,
        };
        let bound = bind(
            "SELECT :b, :a, :b, :missing, :d",
            &[
                parameter("a", Bound::Long(1), None),
                parameter("b", Bound::Text("x".into()), None),
                parameter("d", Bound::Text("2024-01-02".into()), Some("date")),
                parameter("unused", Bound::Null, None),
            ],
        )
        .expect("binds");
        assert_eq!(bound.sql, "SELECT $1, $2, $1, :missing, ($3::date)");
        assert_eq!(bound.types, vec![Type::VARCHAR, Type::INT8, Type::TEXT]);
    }
}
