//! `columnMetadata` as PgJDBC's `ResultSetMetaData` reports it: labels, type names and
//! `java.sql.Types` codes, nullability from the base table, precision and scale.

use std::collections::HashMap;

use serde_json::{Value, json};
use tokio_postgres::Client;
use tokio_postgres::types::{Kind, Type};

use super::errors::ApiError;

/// One column's `ColumnMetadata`, as PgJDBC's `ResultSetMetaData` describes it.
#[derive(Debug, Clone)]
pub(super) struct ColumnMetadata {
    pub(super) label: String,
    type_name: String,
    jdbc_type: i32,
    nullable: i32,
    precision: i32,
    scale: i32,
    signed: bool,
    auto_increment: bool,
    case_sensitive: bool,
    currency: bool,
    table_name: String,
    array_base_type: i32,
}

impl ColumnMetadata {
    pub(super) fn json(&self) -> Value {
        json!({
            "name": self.label,
            "label": self.label,
            "typeName": self.type_name,
            "type": self.jdbc_type,
            "nullable": self.nullable,
            "precision": self.precision,
            "scale": self.scale,
            "isSigned": self.signed,
            "isAutoIncrement": self.auto_increment,
            "isCaseSensitive": self.case_sensitive,
            "isCurrency": self.currency,
            "schemaName": "",
            "tableName": self.table_name,
            "arrayBaseColumnType": self.array_base_type,
        })
    }
}

/// What the catalog says about a table column.
struct TableColumn {
    table: String,
    not_null: bool,
    auto_increment: bool,
}

/// The metadata of `columns`; the catalog (table, `NOT NULL`, auto-increment) is read only
/// when `lookup`, i.e. the caller asked for metadata: otherwise only the labels are used.
pub(super) async fn column_metadata(
    client: &Client,
    columns: &[tokio_postgres::Column],
    lookup: bool,
) -> Result<Vec<ColumnMetadata>, ApiError> {
    let mut tables: HashMap<(u32, i16), TableColumn> = HashMap::new();
    let sources: Vec<(u32, i16)> = columns
        .iter()
        .filter_map(|c| Some((c.table_oid()?, c.column_id()?)))
        .filter(|(table, _)| *table != 0)
        .collect();
    if lookup && !sources.is_empty() {
        let (oids, numbers): (Vec<u32>, Vec<i16>) = sources.into_iter().unzip();
        let rows = client
            .query(
                "SELECT a.attrelid, a.attnum, c.relname::text, a.attnotnull, \
                        a.attidentity <> '' \
                        OR COALESCE(pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%', false) \
                 FROM unnest($1::oid[], $2::int2[]) AS s(relid, num) \
                 JOIN pg_attribute a ON a.attrelid = s.relid AND a.attnum = s.num \
                 JOIN pg_class c ON c.oid = a.attrelid \
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum",
                &[&oids, &numbers],
            )
            .await
            .map_err(|e| ApiError::internal(format!("reading column metadata: {e}")))?;
        for row in rows {
            let read = || -> Result<_, tokio_postgres::Error> {
                Ok((
                    (row.try_get::<_, u32>(0)?, row.try_get::<_, i16>(1)?),
                    TableColumn {
                        table: row.try_get(2)?,
                        not_null: row.try_get(3)?,
                        auto_increment: row.try_get(4)?,
                    },
                ))
            };
            let (key, column) =
                read().map_err(|e| ApiError::internal(format!("reading column metadata: {e}")))?;
            tables.insert(key, column);
        }
    }
    let metadata: Vec<ColumnMetadata> = columns
        .iter()
        .map(|column| {
            let source = column
                .table_oid()
                .zip(column.column_id())
                .and_then(|key| tables.get(&key));
            describe(column, source)
        })
        .collect();
    Ok(metadata)
}

fn describe(column: &tokio_postgres::Column, source: Option<&TableColumn>) -> ColumnMetadata {
    let ty = column.type_();
    let typmod = column.type_modifier();
    let auto_increment = source.is_some_and(|s| s.auto_increment);
    let base = match ty.kind() {
        Kind::Array(element) => element,
        _ => ty,
    };
    let type_name = match (auto_increment, ty.name()) {
        (true, "int4") => "serial".to_owned(),
        (true, "int8") => "bigserial".to_owned(),
        (true, "int2") => "smallserial".to_owned(),
        (_, name) => name.to_owned(),
    };
    ColumnMetadata {
        label: column.name().to_owned(),
        type_name,
        jdbc_type: jdbc_type(ty),
        nullable: i32::from(!source.is_some_and(|s| s.not_null)),
        precision: precision(base, typmod),
        scale: scale(base, typmod),
        signed: matches!(
            *base,
            Type::INT2 | Type::INT4 | Type::INT8 | Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC
        ),
        auto_increment,
        case_sensitive: !matches!(
            *base,
            Type::OID
                | Type::INT2
                | Type::INT4
                | Type::INT8
                | Type::FLOAT4
                | Type::FLOAT8
                | Type::NUMERIC
                | Type::BOOL
                | Type::BIT
                | Type::VARBIT
                | Type::DATE
                | Type::TIME
                | Type::TIMETZ
                | Type::TIMESTAMP
                | Type::TIMESTAMPTZ
                | Type::INTERVAL
        ),
        currency: *base == Type::MONEY,
        table_name: source.map(|s| s.table.clone()).unwrap_or_default(),
        array_base_type: match ty.kind() {
            Kind::Array(element) => jdbc_type(element),
            _ => 0,
        },
    }
}

/// The `java.sql.Types` code PgJDBC reports for a PostgreSQL type.
fn jdbc_type(ty: &Type) -> i32 {
    match *ty {
        Type::BOOL | Type::BIT => -7,
        Type::INT2 => 5,
        Type::INT4 => 4,
        Type::INT8 | Type::OID => -5,
        Type::FLOAT4 => 7,
        Type::FLOAT8 | Type::MONEY => 8,
        Type::NUMERIC => 2,
        Type::BPCHAR | Type::CHAR => 1,
        Type::VARCHAR | Type::TEXT | Type::NAME => 12,
        Type::DATE => 91,
        Type::TIME | Type::TIMETZ => 92,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => 93,
        Type::BYTEA => -2,
        Type::XML => 2009,
        Type::REFCURSOR => 2012,
        _ if matches!(ty.kind(), Kind::Array(_)) => 2003,
        _ => 1111,
    }
}

/// PgJDBC's precision: digits for numbers, the declared length for strings, the printed
/// length for dates and times, `i32::MAX` when unbounded.
fn precision(ty: &Type, typmod: i32) -> i32 {
    let seconds = match typmod {
        -1 => 7,
        0 => 0,
        digits => digits + 1,
    };
    match *ty {
        Type::INT2 => 5,
        Type::INT4 | Type::OID => 10,
        Type::INT8 => 19,
        Type::FLOAT4 => 8,
        Type::FLOAT8 => 17,
        Type::NUMERIC if typmod == -1 => 0,
        Type::NUMERIC => ((typmod - 4) >> 16) & 0xFFFF,
        Type::BOOL | Type::CHAR => 1,
        Type::BPCHAR | Type::VARCHAR if typmod == -1 => i32::MAX,
        Type::BPCHAR | Type::VARCHAR => typmod - 4,
        Type::DATE => 13,
        Type::TIME => 8 + seconds,
        Type::TIMETZ => 8 + seconds + 6,
        Type::TIMESTAMP => 13 + 1 + 8 + seconds,
        Type::TIMESTAMPTZ => 13 + 1 + 8 + seconds + 6,
        Type::INTERVAL => 49,
        Type::BIT => typmod,
        Type::VARBIT if typmod == -1 => i32::MAX,
        Type::VARBIT => typmod,
        _ => i32::MAX,
    }
}

/// PgJDBC's scale: fraction digits of numbers and times.
fn scale(ty: &Type, typmod: i32) -> i32 {
    match *ty {
        Type::FLOAT4 => 8,
        Type::FLOAT8 => 17,
        Type::NUMERIC if typmod == -1 => 0,
        Type::NUMERIC => (typmod - 4) & 0xFFFF,
        Type::TIME | Type::TIMETZ | Type::TIMESTAMP | Type::TIMESTAMPTZ if typmod == -1 => 6,
        Type::TIME | Type::TIMETZ | Type::TIMESTAMP | Type::TIMESTAMPTZ => typmod,
        Type::INTERVAL if typmod == -1 => 6,
        Type::INTERVAL => typmod & 0xFFFF,
        _ => 0,
    }
}
