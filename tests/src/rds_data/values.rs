//! Result values decoded from PostgreSQL's binary format into cells (numbers, text, dates and
//! times as PostgreSQL prints them, arrays), and the text form of every other type, asked of the
//! server.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta};
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Statement};

use super::errors::ApiError;

/// A column value as PostgreSQL sent it (binary format), of any type.
pub(super) struct Raw<'a>(pub(super) Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A binary value sent back to PostgreSQL as a parameter of its own type.
#[derive(Debug)]
struct RawParameter<'a>(&'a [u8]);

impl ToSql for RawParameter<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0);
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// PostgreSQL's text form of values this stand-in does not decode itself, one prepared
/// `SELECT $1::text` per type.
#[derive(Default)]
pub(super) struct TextForms {
    statements: HashMap<u32, Statement>,
}

impl TextForms {
    pub(super) async fn of(
        &mut self,
        client: &Client,
        ty: &Type,
        raw: &[u8],
    ) -> Result<String, ApiError> {
        let unsupported = |error: tokio_postgres::Error| {
            ApiError::unsupported_result(format!(
                "The result contains a value of type {} the stand-in cannot convert to text: \
                 {error}",
                ty.name()
            ))
        };
        let statement = match self.statements.get(&ty.oid()) {
            Some(statement) => statement.clone(),
            None => {
                let statement = client
                    .prepare_typed("SELECT $1::text", std::slice::from_ref(ty))
                    .await
                    .map_err(unsupported)?;
                self.statements.insert(ty.oid(), statement.clone());
                statement
            }
        };
        let row = client
            .query_one(&statement, &[&RawParameter(raw)])
            .await
            .map_err(unsupported)?;
        row.try_get::<_, String>(0)
            .map_err(|e| ApiError::internal(format!("reading a text form: {e}")))
    }
}

/// A decoded value, before it becomes a `Field` or a JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cell {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    /// A `numeric` in its exact text form.
    Decimal(String),
    Text(String),
    Blob(Vec<u8>),
    Array {
        kind: ElementKind,
        items: Vec<Cell>,
    },
}

/// Which `ArrayValue` list an array's elements go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ElementKind {
    Bool,
    Long,
    Double,
    Text,
}

/// PostgreSQL's epoch for dates and timestamps.
fn pg_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

/// The value decoded from its binary form, or `None` for a type (or a value, such as a date
/// beyond chrono's range) whose text form PostgreSQL must provide.
pub(super) fn decode(ty: &Type, raw: &[u8]) -> Option<Cell> {
    let be = |n: usize| raw.get(..n);
    Some(match *ty {
        Type::BOOL => Cell::Bool(*raw.first()? != 0),
        Type::INT2 => Cell::Long(i16::from_be_bytes(be(2)?.try_into().ok()?).into()),
        Type::INT4 => Cell::Long(i32::from_be_bytes(be(4)?.try_into().ok()?).into()),
        Type::INT8 => Cell::Long(i64::from_be_bytes(be(8)?.try_into().ok()?)),
        Type::OID => Cell::Long(u32::from_be_bytes(be(4)?.try_into().ok()?).into()),
        // Through the shortest text form, as PgJDBC reads `0.1::float4` as the double 0.1.
        Type::FLOAT4 => Cell::Double(
            f32::from_be_bytes(be(4)?.try_into().ok()?)
                .to_string()
                .parse()
                .ok()?,
        ),
        Type::FLOAT8 => Cell::Double(f64::from_be_bytes(be(8)?.try_into().ok()?)),
        Type::NUMERIC => Cell::Decimal(numeric_text(raw)?),
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::CHAR
        | Type::UNKNOWN
        | Type::XML
        | Type::JSON => Cell::Text(String::from_utf8(raw.to_vec()).ok()?),
        Type::JSONB => match raw.split_first()? {
            (1, json) => Cell::Text(String::from_utf8(json.to_vec()).ok()?),
            _ => return None,
        },
        Type::UUID => Cell::Text(uuid::Uuid::from_slice(raw).ok()?.hyphenated().to_string()),
        Type::BYTEA => Cell::Blob(raw.to_vec()),
        Type::DATE => Cell::Text(date_text(i32::from_be_bytes(be(4)?.try_into().ok()?))?),
        Type::TIME => Cell::Text(time_text(i64::from_be_bytes(be(8)?.try_into().ok()?))?),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            Cell::Text(timestamp_text(i64::from_be_bytes(be(8)?.try_into().ok()?))?)
        }
        _ => match ty.kind() {
            Kind::Enum(_) => Cell::Text(String::from_utf8(raw.to_vec()).ok()?),
            Kind::Array(element) => decode_array(element, raw)?,
            _ => return None,
        },
    })
}

/// The `ArrayValue` list for elements of type `ty`, if the stand-in decodes them.
fn element_kind(ty: &Type) -> Option<ElementKind> {
    Some(match *ty {
        Type::BOOL => ElementKind::Bool,
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => ElementKind::Long,
        Type::FLOAT4 | Type::FLOAT8 => ElementKind::Double,
        Type::NUMERIC
        | Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::CHAR
        | Type::JSON
        | Type::JSONB
        | Type::UUID
        | Type::DATE
        | Type::TIME
        | Type::TIMESTAMP
        | Type::TIMESTAMPTZ => ElementKind::Text,
        _ if matches!(ty.kind(), Kind::Enum(_)) => ElementKind::Text,
        _ => return None,
    })
}

/// An array in PostgreSQL's binary array format: dimensions, then the elements in row-major
/// order, each with its length (-1 for NULL).
fn decode_array(element: &Type, raw: &[u8]) -> Option<Cell> {
    let kind = element_kind(element)?;
    let int = |at: usize| -> Option<i32> {
        Some(i32::from_be_bytes(raw.get(at..at + 4)?.try_into().ok()?))
    };
    let dimensions = usize::try_from(int(0)?).ok()?;
    let mut lengths = Vec::with_capacity(dimensions);
    for d in 0..dimensions {
        lengths.push(usize::try_from(int(12 + d * 8)?).ok()?);
    }
    let mut at = 12 + dimensions * 8;
    let mut elements = Vec::new();
    for _ in 0..lengths.iter().product::<usize>() {
        let length = int(at)?;
        at += 4;
        elements.push(match usize::try_from(length) {
            Err(_) => Cell::Null,
            Ok(length) => {
                let value = raw.get(at..at + length)?;
                at += length;
                // Numbers stay exact in `stringValues`, as the service has no decimal list.
                match decode(element, value)? {
                    Cell::Decimal(text) => Cell::Text(text),
                    cell => cell,
                }
            }
        });
    }
    Some(nest(kind, &lengths, elements))
}

/// Folds row-major `elements` into nested arrays of the given dimension lengths.
fn nest(kind: ElementKind, lengths: &[usize], elements: Vec<Cell>) -> Cell {
    match lengths {
        [] | [_] => Cell::Array {
            kind,
            items: elements,
        },
        [_, inner @ ..] => {
            let chunk = inner.iter().product::<usize>().max(1);
            let mut items = Vec::new();
            let mut rest = elements.into_iter();
            loop {
                let part: Vec<Cell> = rest.by_ref().take(chunk).collect();
                if part.is_empty() {
                    break;
                }
                items.push(nest(kind, inner, part));
            }
            Cell::Array { kind, items }
        }
    }
}

/// A `numeric` in binary form (digit count, weight, sign, display scale, base-10000 digits)
/// as PostgreSQL prints it.
fn numeric_text(raw: &[u8]) -> Option<String> {
    let word = |i: usize| -> Option<u16> {
        Some(u16::from_be_bytes(
            raw.get(i * 2..i * 2 + 2)?.try_into().ok()?,
        ))
    };
    let ndigits = usize::from(word(0)?);
    // The weight is a signed 16-bit word on the wire; the bits are read as such.
    let weight = i32::from(word(1)?.cast_signed());
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    match sign {
        0xC000 => return Some("NaN".to_owned()),
        0xD000 => return Some("Infinity".to_owned()),
        0xF000 => return Some("-Infinity".to_owned()),
        _ => {}
    }
    let digits = (0..ndigits)
        .map(|i| word(4 + i))
        .collect::<Option<Vec<u16>>>()?;
    let digit = |position: i32| -> u16 {
        usize::try_from(position)
            .ok()
            .and_then(|p| digits.get(p).copied())
            .unwrap_or(0)
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for position in 0..=weight {
            if position == 0 {
                let _ = write!(text, "{}", digit(position));
            } else {
                let _ = write!(text, "{:04}", digit(position));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut position = weight + 1;
        while fraction.len() < dscale {
            let _ = write!(fraction, "{:04}", digit(position));
            position += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Some(text)
}

/// `YYYY-MM-DD` (`... BC` before year 1, as PostgreSQL prints it) for days since 2000-01-01.
fn date_text(days: i32) -> Option<String> {
    match days {
        i32::MAX => Some("infinity".to_owned()),
        i32::MIN => Some("-infinity".to_owned()),
        _ => {
            let date = pg_epoch().checked_add_signed(TimeDelta::try_days(days.into())?)?;
            Some(with_era(date, date.format("%m-%d").to_string()))
        }
    }
}

/// The date's year and `rest`, in PostgreSQL's era notation.
fn with_era(date: NaiveDate, rest: String) -> String {
    if date.year() > 0 {
        format!("{:04}-{rest}", date.year())
    } else {
        format!("{:04}-{rest} BC", 1 - date.year())
    }
}

/// `HH:MM:SS[.ffffff]` for microseconds since midnight.
fn time_text(micros: i64) -> Option<String> {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = u32::try_from(micros.rem_euclid(1_000_000)).ok()?;
    Some(format!(
        "{:02}:{:02}:{:02}{}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        fraction_text(fraction)
    ))
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` for microseconds since 2000-01-01 00:00 (UTC for
/// `timestamptz`).
fn timestamp_text(micros: i64) -> Option<String> {
    match micros {
        i64::MAX => Some("infinity".to_owned()),
        i64::MIN => Some("-infinity".to_owned()),
        _ => {
            let epoch = pg_epoch().and_hms_opt(0, 0, 0)?.and_utc();
            let at: DateTime<chrono::Utc> =
                epoch.checked_add_signed(TimeDelta::microseconds(micros))?;
            let fraction = at.timestamp_subsec_micros();
            let rest = format!(
                "{} {}{}",
                at.format("%m-%d"),
                at.format("%H:%M:%S"),
                fraction_text(fraction)
            );
            Some(with_era(at.date_naive(), rest))
        }
    }
}

/// `.ffffff` without trailing zeros, or nothing for a whole second.
fn fraction_text(micros: u32) -> String {
    if micros == 0 {
        return String::new();
    }
    let digits = format!("{micros:06}");
    format!(".{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut raw = Vec::new();
        for word in [ndigits, weight.cast_unsigned(), sign, dscale]
            .into_iter()
            .chain(digits.iter().copied())
        {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        raw
    }

    #[test]
    fn numerics_print_as_postgresql_prints_them() {
        assert_eq!(
            numeric_text(&numeric(2, 0, 0, 2, &[12, 3400])).as_deref(),
            Some("12.34")
        );
        assert_eq!(
            numeric_text(&numeric(2, 1, 0x4000, 0, &[1, 0])).as_deref(),
            Some("-10000")
        );
        assert_eq!(
            numeric_text(&numeric(1, -1, 0, 5, &[50])).as_deref(),
            Some("0.00500")
        );
        assert_eq!(
            numeric_text(&numeric(0, 0, 0, 2, &[])).as_deref(),
            Some("0.00")
        );
        assert_eq!(
            numeric_text(&numeric(0, 0, 0xC000, 0, &[])).as_deref(),
            Some("NaN")
        );
    }

    #[test]
    fn dates_and_times_print_as_postgresql_prints_them() {
        assert_eq!(date_text(0).as_deref(), Some("2000-01-01"));
        assert_eq!(date_text(-730_120).as_deref(), Some("0001-12-31 BC"));
        assert_eq!(time_text(3_723_500_000).as_deref(), Some("01:02:03.5"));
        assert_eq!(
            timestamp_text(86_400_000_000 + 1).as_deref(),
            Some("2000-01-02 00:00:00.000001")
        );
        assert_eq!(timestamp_text(0).as_deref(), Some("2000-01-01 00:00:00"));
    }
}
