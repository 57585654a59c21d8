//! A wire-faithful RDS Data API stand-in that runs every statement on a real PostgreSQL.
//!
//! moto's RDS Data API runs no SQL, so tests point the real `aws-sdk-rdsdata` client (with
//! `endpoint_url`), or a binary (with [`RdsDataStandIn::sdk_env`], i.e.
//! `AWS_ENDPOINT_URL_RDS_DATA`), at this server. It speaks the service's restJson1 protocol:
//! `POST /Execute`, `/BatchExecute`, `/BeginTransaction`, `/CommitTransaction` and
//! `/RollbackTransaction`, JSON bodies in, JSON bodies out. The standalone binary
//! `rds-data-standin` serves the same thing for running the local stack without Docker.
//!
//! Credentials work as on the real service: each call's `secretArn` is read from Secrets
//! Manager (moto, through the AWS SDK; a JSON secret string with `username`, `password` and
//! optionally `dbname`), and the statement runs on PostgreSQL *as that user*, in the request's
//! `database` (else the secret's `dbname`, else PostgreSQL's default, the user's name), so roles
//! and grants are enforced by the database itself. Connections are pooled per (user, database).
//! The secret's `host` and `port` are ignored: the cluster is the one PostgreSQL the stand-in
//! was given ([`Options`]); `resourceArn` only has to look like
//! `arn:aws:rds:<region>:<account>:cluster:<name>`.
//!
//! What the Aurora PostgreSQL Data API (Serverless v2 and provisioned, which runs statements
//! through PgJDBC) does, and so does this stand-in:
//!
//! - Named parameters: `:name` placeholders become `$n`; those inside string literals (also
//!   `E'...'` and dollar-quoted), quoted identifiers and comments, and the `::` of casts, are left
//!   alone, and so is a `:name` no parameter is given for. A parameter is bound like PgJDBC's
//!   setters bind it: `stringValue` as `varchar`, `longValue` as `int8`, `doubleValue` as
//!   `float8`, `booleanValue` as `bool`, `blobValue` as `bytea`, `isNull` as an untyped NULL. So
//!   a string compared with an integer column fails (`operator does not exist: integer =
//!   character varying`) unless the SQL casts it, as on the real service. A `typeHint` (`DATE`,
//!   `TIME`, `TIMESTAMP`, `DECIMAL`, `UUID`, `JSON`) on a `stringValue` or `isNull` casts the
//!   placeholder to that type (`($1::date)`). `arrayValue` parameters are refused, as documented.
//! - Results: `int2`/`int4`/`int8`/`oid` → `longValue`; `float4`/`float8` → `doubleValue`;
//!   `numeric` → `stringValue` (`DOUBLE_OR_LONG`: `longValue` when it has no fraction digits,
//!   else `doubleValue`); `bool` → `booleanValue`; `text`/`varchar`/`bpchar`/`name`/`"char"`,
//!   enums, `xml`, `json`, `jsonb`, `uuid` → `stringValue`; `date` → `YYYY-MM-DD`; `time` →
//!   `HH:MM:SS[.ffffff]`; `timestamp` and `timestamptz` (in UTC) → `YYYY-MM-DD HH:MM:SS[.ffffff]`,
//!   fraction digits without trailing zeros as PostgreSQL prints them; `bytea` → `blobValue`;
//!   NULL → `isNull`. Arrays of those element types → `arrayValue` (`longValues`,
//!   `doubleValues`, `booleanValues`, `stringValues`, or nested `arrayValues` for several
//!   dimensions; NULL elements as `null`). `longReturnType: STRING` turns the longs of integer
//!   columns (not decimals made longs) into strings.
//!   Every other type (`interval`, `timetz`, `money`, `inet`, ranges, composites, arrays of
//!   those, ...) → `stringValue` holding PostgreSQL's text form, obtained by sending the value
//!   back to the server (`SELECT $1::text`). Only values PostgreSQL cannot take back as a
//!   parameter, i.e. anonymous records (`SELECT ROW(1, 2)`), are refused with
//!   `UnsupportedResultException`.
//! - `formatRecordsAs: JSON`: no `records` and no `columnMetadata`; `formattedRecords` is a JSON
//!   array of objects keyed by column label, with numbers, strings, booleans, `null`, arrays and
//!   base64 strings for `bytea`. Duplicate labels are refused.
//! - `includeResultMetadata`: `columnMetadata` as PgJDBC's `ResultSetMetaData` reports it: `name`
//!   and `label` the column label, `typeName` the PostgreSQL type name (`serial`/`bigserial`/
//!   `smallserial` for auto-increment integer columns), `type` the `java.sql.Types` code,
//!   `nullable` 0 for `NOT NULL` table columns else 1, `precision`/`scale` from the type modifier,
//!   `schemaName` empty (PgJDBC never fills it), `tableName` the base table or empty, and
//!   `arrayBaseColumnType` the element's `java.sql.Types` code for arrays, else 0.
//! - `numberOfRecordsUpdated` is the row count of statements without a result set and 0 for
//!   statements with one (`SELECT`, `... RETURNING`); those without one answer
//!   `generatedFields: []` (the service returns no generated fields for PostgreSQL).
//! - Transactions: `BeginTransaction` pins a connection to a new `transactionId`; calls with it
//!   run there until `CommitTransaction` (`"Transaction Committed"`) or `RollbackTransaction`
//!   (`"Rollback Complete"`). A statement error inside a transaction ends it (rolled back) and
//!   later calls with its id get `TransactionNotFoundException`; a second call while one runs
//!   gets `DatabaseErrorException: Transaction is still running a query`.
//!   `BatchExecute` runs all parameter sets in one transaction (its own, or the given one).
//!
//! Errors are restJson1 errors as AWS sends them: the status, `x-amzn-ErrorType:
//! <Type>:http://internal.amazon.com/coral/com.amazon.rdsdataservice/` (the SDK takes the code
//! from that header, cut at the `:`), `x-amzn-RequestId`, and `{"message": ...}`:
//!
//! - SQL errors: `400 DatabaseErrorException` (the model's shape for them; `BadRequestException`
//!   is documented as appearing only with Aurora Serverless v1), with the message as the service
//!   words it, PgJDBC's server error text plus the SQL state, e.g. `ERROR: permission denied for
//!   table orders; SQLState: 42501` or `ERROR: syntax error at or near "SELEC"\n  Position: 1;
//!   SQLState: 42601` (the `Detail` and `Where` fields are not shown, as the service hides them).
//! - A statement PostgreSQL cancels for `statement_timeout`, or one still running after the call
//!   timeout ([`Options::call_timeout`], 45 s as on the service; then it is cancelled unless
//!   `continueAfterTimeout`): `400 StatementTimeoutException` with `dbConnectionId`, the backend
//!   process id.
//! - A secret that cannot be read (unknown, or Secrets Manager fails or times out):
//!   `400 SecretsErrorException`; a secret without a JSON `username` and `password`:
//!   `400 InvalidSecretException`.
//! - An unknown or ended `transactionId`: `404 TransactionNotFoundException`.
//! - More than 1 MiB of result data from the database: `400 BadRequestException` "Database
//!   returned more than the allowed response size limit".
//! - Malformed requests (not JSON, a missing member, a bad `resourceArn`, an unknown enum value,
//!   a request over 4 MiB, a `schema`, which the service does not support): `400
//!   BadRequestException` naming what is wrong.
//! - PostgreSQL unreachable: `504 DatabaseUnavailableException`.
//!
//! Not emulated: transaction expiry after 3 minutes idle (a transaction lives until it is
//! committed, rolled back, fails, or the stand-in stops), secrets rotating under a running
//! transaction (a transaction keeps its connection and user), the 64 KB per-row limit, and
//! password checks where PostgreSQL's own `pg_hba.conf` trusts local connections. Session state
//! a statement sets (`SET ...`) stays on its pooled connection, as it can on the service.
//!
//! Every request is recorded ([`RdsDataStandIn::requests`]). The server stops when the
//! [`RdsDataStandIn`] is dropped or [`shut down`](RdsDataStandIn::shutdown); its pooled
//! connections close with it.

mod connections;
mod errors;
mod metadata;
mod params;
mod records;
mod request;
mod secrets;
mod statements;
mod transactions;
mod values;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{self, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

use crate::moto::{Moto, REGION};
use crate::serving::Serving;

use connections::{Shared, lock};
use errors::ApiError;
use statements::{batch_execute_statement, execute_statement};
use transactions::{begin, end};

pub use secrets::{create_db_secret, secrets_manager_client};

/// A cluster ARN of the shape the service accepts, for tests to send as `resourceArn`.
pub const CLUSTER_ARN: &str = "arn:aws:rds:us-east-1:123456789012:cluster:standin";

/// The service's limit on the result data of one call.
pub const RESPONSE_LIMIT: usize = 1024 * 1024;

/// The service's limit on a request, headers and JSON included (the body alone here).
const REQUEST_LIMIT: usize = 4 * 1024 * 1024;

/// Where the stand-in finds PostgreSQL, and its call timeout.
#[derive(Debug, Clone)]
pub struct Options {
    pub postgres_host: String,
    pub postgres_port: u16,
    /// How long a call may run before the stand-in cancels its statement (unless the request
    /// says `continueAfterTimeout`) and answers `StatementTimeoutException`.
    pub call_timeout: Duration,
}

impl Default for Options {
    /// PostgreSQL on `127.0.0.1:5432` and the service's 45 s call timeout.
    fn default() -> Self {
        Self {
            postgres_host: "127.0.0.1".to_owned(),
            postgres_port: 5432,
            call_timeout: Duration::from_secs(45),
        }
    }
}

/// The RDS Data operation a request called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ExecuteStatement,
    BatchExecuteStatement,
    BeginTransaction,
    CommitTransaction,
    RollbackTransaction,
}

/// One request as the stand-in received it (what could be read of it, for malformed ones).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub operation: Operation,
    pub sql: Option<String>,
    /// The `name` of each parameter, in request order; for `BatchExecute` the names of every
    /// set, each once, in order of first appearance.
    pub parameter_names: Vec<String>,
    pub transaction_id: Option<String>,
    pub secret_arn: Option<String>,
    pub database: Option<String>,
    /// The JSON body as sent; a body that is not JSON is kept as a JSON string of its text.
    pub body: Value,
}

/// A running stand-in; stops when dropped.
pub struct RdsDataStandIn {
    /// `http://<address>`.
    pub endpoint: String,
    pub address: SocketAddr,
    shared: Arc<Shared>,
    /// Dropping it tells the server to stop.
    serving: Serving,
}

impl RdsDataStandIn {
    /// Starts the stand-in on a free loopback port, reading secrets from `moto` and running
    /// statements on PostgreSQL at `127.0.0.1:5432`.
    pub async fn start(moto: &Moto) -> anyhow::Result<Self> {
        let secrets = secrets_manager_client(&moto.endpoint).await;
        Self::bind(([127, 0, 0, 1], 0).into(), secrets, Options::default()).await
    }

    /// Starts the stand-in on `address` (port 0 for a free one).
    pub async fn bind(
        address: SocketAddr,
        secrets: aws_sdk_secretsmanager::Client,
        options: Options,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("binding {address}"))?;
        let address = listener.local_addr().context("reading the bound address")?;
        let shared = Arc::new(Shared {
            secrets,
            options,
            requests: Mutex::new(Vec::new()),
            pool: Mutex::new(HashMap::new()),
            transactions: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/Execute", post(execute))
            .route("/BatchExecute", post(batch_execute))
            .route("/BeginTransaction", post(begin_transaction))
            .route("/CommitTransaction", post(commit_transaction))
            .route("/RollbackTransaction", post(rollback_transaction))
            .fallback(unknown_operation)
            .with_state(Arc::clone(&shared));
        Ok(Self {
            endpoint: format!("http://{address}"),
            address,
            shared,
            serving: Serving::start("RDS Data stand-in", listener, app),
        })
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many transactions are open (begun and not yet committed, rolled back or failed).
    pub fn open_transactions(&self) -> usize {
        lock(&self.shared.transactions).len()
    }

    /// Environment for a process's AWS SDK to use this stand-in for RDS Data only, with dummy
    /// credentials.
    pub fn sdk_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL_RDS_DATA", self.endpoint.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Stops accepting, lets running calls finish (for at most `grace`), then returns.
    pub async fn shutdown(self, grace: Duration) {
        if !self.serving.stop(grace).await {
            tracing::warn!(
                ?grace,
                "calls still running after the shutdown grace period"
            );
        }
    }
}

async fn execute(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    handle(shared, Operation::ExecuteStatement, body).await
}

async fn batch_execute(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    handle(shared, Operation::BatchExecuteStatement, body).await
}

async fn begin_transaction(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    handle(shared, Operation::BeginTransaction, body).await
}

async fn commit_transaction(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    handle(shared, Operation::CommitTransaction, body).await
}

async fn rollback_transaction(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    handle(shared, Operation::RollbackTransaction, body).await
}

/// What AWS answers to a path it has no operation for.
async fn unknown_operation(uri: Uri) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!(
            "RDS Data stand-in: no operation at {uri} (it serves POST /Execute, /BatchExecute, \
             /BeginTransaction, /CommitTransaction and /RollbackTransaction)"
        ),
    )
    .into_response()
}

/// Reads and records the request, then answers it.
async fn handle(shared: Arc<Shared>, operation: Operation, body: Body) -> Response {
    let bytes = match axum::body::to_bytes(body, REQUEST_LIMIT).await {
        Ok(bytes) => bytes,
        Err(error) => {
            return ApiError::bad_request(format!(
                "The request could not be read or is larger than the 4 MiB limit: {error}"
            ))
            .into_response();
        }
    };
    let parsed: Result<Value, _> = serde_json::from_slice(&bytes);
    let body = match &parsed {
        Ok(value) => value.clone(),
        Err(_) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
    };
    lock(&shared.requests).push(record(operation, body));
    let request = match parsed {
        Ok(Value::Object(request)) => request,
        Ok(_) => {
            return ApiError::bad_request("The request body must be a JSON object.")
                .into_response();
        }
        Err(error) => {
            return ApiError::bad_request(format!("The request body is not valid JSON: {error}"))
                .into_response();
        }
    };
    let answered = match operation {
        Operation::ExecuteStatement => execute_statement(&shared, &request).await,
        Operation::BatchExecuteStatement => batch_execute_statement(&shared, &request).await,
        Operation::BeginTransaction => begin(&shared, &request).await,
        Operation::CommitTransaction => end(&shared, &request, true).await,
        Operation::RollbackTransaction => end(&shared, &request, false).await,
    };
    match answered {
        Ok(body) => (
            [(http::header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

fn record(operation: Operation, body: Value) -> RecordedRequest {
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    let mut parameter_names: Vec<String> = body.get("parameters").map(names).unwrap_or_default();
    for set in body
        .get("parameterSets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for name in names(set) {
            if !parameter_names.contains(&name) {
                parameter_names.push(name);
            }
        }
    }
    RecordedRequest {
        operation,
        sql: text("sql"),
        parameter_names,
        transaction_id: text("transactionId"),
        secret_arn: text("secretArn"),
        database: text("database"),
        body,
    }
}
