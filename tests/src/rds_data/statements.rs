//! `ExecuteStatement` and `BatchExecuteStatement`: what the caller asked for in results, the
//! work a call runs on its connection, and the statement's rows within the response limit.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio_postgres::types::Type;
use tokio_postgres::{Row, Statement};

use super::RESPONSE_LIMIT;
use super::connections::{Connection, Shared};
use super::errors::ApiError;
use super::metadata::{ColumnMetadata, column_metadata};
use super::params::{BoundStatement, bind, parse_parameters};
use super::request::{Request, check_target, checked_sql, flag, optional};
use super::values::{Cell, Raw, TextForms, decode};

pub(super) async fn execute_statement(
    shared: &Arc<Shared>,
    request: &Request,
) -> Result<Value, ApiError> {
    let secret_arn = check_target(request)?;
    let sql = checked_sql(request)?;
    let parameters = match request.get("parameters") {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => parse_parameters(list, "parameters")?,
    };
    let statement = bind(sql, &parameters)?;
    let options = ResultOptions::parse(request)?;
    let continue_after_timeout = flag(request, "continueAfterTimeout")?;
    let (home, connection) = shared
        .lease(
            secret_arn,
            optional(request, "database")?,
            optional(request, "transactionId")?,
        )
        .await?;
    let work = Work::Execute { statement, options };
    shared
        .run(home, connection, work, continue_after_timeout)
        .await
}

pub(super) async fn batch_execute_statement(
    shared: &Arc<Shared>,
    request: &Request,
) -> Result<Value, ApiError> {
    let secret_arn = check_target(request)?;
    let sql = checked_sql(request)?;
    let sets = match request.get("parameterSets") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(sets)) => sets.as_slice().to_vec(),
        Some(_) => return Err(ApiError::bad_request("'parameterSets' must be a list.")),
    };
    let statements = sets
        .iter()
        .enumerate()
        .map(|(i, set)| bind(sql, &parse_parameters(set, &format!("parameterSets.{i}"))?))
        .collect::<Result<Vec<_>, _>>()?;
    let transaction_id = optional(request, "transactionId")?;
    let (home, connection) = shared
        .lease(secret_arn, optional(request, "database")?, transaction_id)
        .await?;
    let work = Work::Batch {
        statements,
        own_transaction: transaction_id.is_none(),
    };
    shared.run(home, connection, work, false).await
}

/// How the caller wants results.
#[derive(Debug, Clone, Copy)]
pub(super) struct ResultOptions {
    pub(super) metadata: bool,
    pub(super) json: bool,
    pub(super) decimals_as_numbers: bool,
    pub(super) longs_as_strings: bool,
}

impl ResultOptions {
    fn parse(request: &Request) -> Result<Self, ApiError> {
        let json = match optional(request, "formatRecordsAs")? {
            None | Some("NONE") => false,
            Some("JSON") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "formatRecordsAs {other:?} is not one of NONE, JSON."
                )));
            }
        };
        let (mut decimals_as_numbers, mut longs_as_strings) = (false, false);
        match request.get("resultSetOptions") {
            None | Some(Value::Null) => {}
            Some(Value::Object(options)) => {
                decimals_as_numbers = match optional(options, "decimalReturnType")? {
                    None | Some("STRING") => false,
                    Some("DOUBLE_OR_LONG") => true,
                    Some(other) => {
                        return Err(ApiError::bad_request(format!(
                            "decimalReturnType {other:?} is not one of STRING, DOUBLE_OR_LONG."
                        )));
                    }
                };
                longs_as_strings = match optional(options, "longReturnType")? {
                    None | Some("LONG") => false,
                    Some("STRING") => true,
                    Some(other) => {
                        return Err(ApiError::bad_request(format!(
                            "longReturnType {other:?} is not one of LONG, STRING."
                        )));
                    }
                };
            }
            Some(_) => {
                return Err(ApiError::bad_request(
                    "'resultSetOptions' must be an object.",
                ));
            }
        }
        Ok(Self {
            metadata: flag(request, "includeResultMetadata")?,
            json,
            decimals_as_numbers,
            longs_as_strings,
        })
    }
}

/// What a call does on its connection.
pub(super) enum Work {
    Execute {
        statement: BoundStatement,
        options: ResultOptions,
    },
    Batch {
        statements: Vec<BoundStatement>,
        /// Whether the batch opens and ends a transaction of its own.
        own_transaction: bool,
    },
    /// `BEGIN`, `COMMIT` or `ROLLBACK`.
    Control(&'static str),
}

impl Work {
    /// Does the work; the answer body on success.
    pub(super) async fn perform(self, connection: &Connection) -> Result<Value, ApiError> {
        let failed = |error: tokio_postgres::Error| ApiError::from_postgres(&error, connection.pid);
        match self {
            Work::Control(sql) => {
                connection.client.batch_execute(sql).await.map_err(failed)?;
                Ok(json!({}))
            }
            Work::Execute { statement, options } => {
                let result = run_statement(connection, &statement, &options).await?;
                Ok(result.into_response(&options))
            }
            Work::Batch {
                statements,
                own_transaction,
            } => {
                if own_transaction {
                    connection
                        .client
                        .batch_execute("BEGIN")
                        .await
                        .map_err(failed)?;
                }
                let mut ran = run_batch(connection, &statements).await;
                if own_transaction {
                    let end = if ran.is_ok() { "COMMIT" } else { "ROLLBACK" };
                    let ended = connection.client.batch_execute(end).await.map_err(failed);
                    // The statement's error, if any, is the one to report.
                    ran = ran.and_then(|count| ended.map(|()| count));
                }
                let updates = vec![json!({ "generatedFields": [] }); ran?];
                Ok(json!({ "updateResults": updates }))
            }
        }
    }
}

/// Runs every set of a batch; how many ran.
async fn run_batch(
    connection: &Connection,
    statements: &[BoundStatement],
) -> Result<usize, ApiError> {
    let failed = |error: tokio_postgres::Error| ApiError::from_postgres(&error, connection.pid);
    // Sets with the same parameter types share one prepared statement.
    let mut prepared: HashMap<Vec<u32>, Statement> = HashMap::new();
    for statement in statements {
        let types: Vec<u32> = statement.types.iter().map(Type::oid).collect();
        let ready = match prepared.get(&types) {
            Some(ready) => ready.clone(),
            None => {
                let ready = connection
                    .client
                    .prepare_typed(&statement.sql, &statement.types)
                    .await
                    .map_err(failed)?;
                prepared.insert(types, ready.clone());
                ready
            }
        };
        connection
            .client
            .execute_raw(&ready, statement.values.iter())
            .await
            .map_err(failed)?;
    }
    Ok(statements.len())
}

/// A statement's result, decoded.
pub(super) struct StatementResult {
    /// `None` for statements without a result set.
    pub(super) columns: Option<Vec<ColumnMetadata>>,
    pub(super) rows: Vec<Vec<Cell>>,
    pub(super) updated: u64,
}

async fn run_statement(
    connection: &Connection,
    statement: &BoundStatement,
    options: &ResultOptions,
) -> Result<StatementResult, ApiError> {
    use futures::TryStreamExt as _;

    let client = &connection.client;
    let failed = |error: tokio_postgres::Error| ApiError::from_postgres(&error, connection.pid);
    let prepared = client
        .prepare_typed(&statement.sql, &statement.types)
        .await
        .map_err(failed)?;
    let stream = client
        .query_raw(&prepared, statement.values.iter())
        .await
        .map_err(failed)?;
    let mut stream = std::pin::pin!(stream);
    let mut rows: Vec<Row> = Vec::new();
    let mut size = 0;
    while let Some(row) = stream.try_next().await.map_err(failed)? {
        size += (0..row.len())
            .map(|i| {
                row.try_get::<_, Raw>(i)
                    .map_or(0, |raw| raw.0.map_or(0, <[u8]>::len))
            })
            .sum::<usize>();
        if size > RESPONSE_LIMIT {
            return Err(ApiError::response_too_large());
        }
        rows.push(row);
    }
    let updated = stream.rows_affected().unwrap_or(0);
    if options.json {
        let labels: Vec<&str> = prepared.columns().iter().map(|c| c.name()).collect();
        if let Some(duplicate) = labels
            .iter()
            .enumerate()
            .find_map(|(i, label)| labels[..i].contains(label).then_some(label))
        {
            return Err(ApiError::bad_request(format!(
                "The result set has more than one column labelled {duplicate:?}; \
                 formatRecordsAs JSON needs unique column labels (use aliases)."
            )));
        }
    }
    if prepared.columns().is_empty() {
        return Ok(StatementResult {
            columns: None,
            rows: Vec::new(),
            updated,
        });
    }
    let mut texts = TextForms::default();
    let mut decoded = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut cells = Vec::with_capacity(row.len());
        for (i, column) in prepared.columns().iter().enumerate() {
            let raw = row
                .try_get::<_, Raw>(i)
                .map_err(|e| ApiError::internal(format!("reading a column: {e}")))?;
            let cell = match raw.0 {
                None => Cell::Null,
                Some(raw) => match decode(column.type_(), raw) {
                    Some(cell) => cell,
                    None => Cell::Text(texts.of(client, column.type_(), raw).await?),
                },
            };
            cells.push(cell);
        }
        decoded.push(cells);
    }
    let columns = column_metadata(client, prepared.columns(), options.metadata).await?;
    Ok(StatementResult {
        columns: Some(columns),
        rows: decoded,
        // Like PgJDBC's update count, which a statement with a result set does not have.
        updated: 0,
    })
}
