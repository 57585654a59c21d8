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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{self, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta};
use serde_json::{Map, Value, json};
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, Row, Statement};

use crate::moto::{Moto, REGION};
use crate::serving::Serving;

/// A cluster ARN of the shape the service accepts, for tests to send as `resourceArn`.
pub const CLUSTER_ARN: &str = "arn:aws:rds:us-east-1:123456789012:cluster:standin";

/// The service's limit on the result data of one call.
pub const RESPONSE_LIMIT: usize = 1024 * 1024;

/// The service's limit on a request, headers and JSON included (the body alone here).
const REQUEST_LIMIT: usize = 4 * 1024 * 1024;

/// The model's limit on `sql`.
const SQL_LIMIT: usize = 65_536;

/// How long reading a secret from Secrets Manager may take.
const SECRET_TIMEOUT: Duration = Duration::from_secs(10);

/// How long opening a PostgreSQL connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long sending a cancel request, or a transaction's `COMMIT`/`ROLLBACK`, may take.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// How many idle connections are kept per (user, database).
const MAX_IDLE: usize = 4;

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

/// A Secrets Manager client for `endpoint` (moto) with dummy credentials, for the stand-in and
/// for tests that store database secrets.
pub async fn secrets_manager_client(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(SECRET_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&config)
}

/// Stores a database secret as RDS writes them (`{"username", "password", "engine",
/// "dbname"?}`) under `name`; returns its ARN, the `secretArn` to send.
pub async fn create_db_secret(
    secrets: &aws_sdk_secretsmanager::Client,
    name: &str,
    username: &str,
    password: &str,
    dbname: Option<&str>,
) -> anyhow::Result<String> {
    let mut secret = json!({ "username": username, "password": password, "engine": "postgres" });
    if let Some(dbname) = dbname {
        secret["dbname"] = json!(dbname);
    }
    let created = secrets
        .create_secret()
        .name(name)
        .secret_string(secret.to_string())
        .send()
        .await
        .with_context(|| format!("creating secret {name}"))?;
    created
        .arn()
        .map(str::to_owned)
        .context("the new secret has an ARN")
}

// ---------------------------------------------------------------------------------------------
// Server state

struct Shared {
    secrets: aws_sdk_secretsmanager::Client,
    options: Options,
    requests: Mutex<Vec<RecordedRequest>>,
    pool: Mutex<HashMap<PoolKey, Vec<Connection>>>,
    transactions: Mutex<HashMap<String, Transaction>>,
}

/// Connections are shared by calls with the same user and database.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    user: String,
    database: String,
}

/// One PostgreSQL session.
struct Connection {
    client: Client,
    /// The backend process id, reported as `dbConnectionId`.
    pid: i32,
}

/// An open transaction; `connection` is `None` while a call runs in it.
struct Transaction {
    key: PoolKey,
    connection: Option<Connection>,
}

/// Where a connection goes back to after a call.
#[derive(Clone)]
enum Home {
    Pool(PoolKey),
    Transaction(String),
}

/// Locks a mutex; a panic while holding one leaves data that is still worth reading.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// An idle pooled connection for `key`, or a new one.
    async fn connection(&self, key: &PoolKey, password: &str) -> Result<Connection, ApiError> {
        let idle = {
            let mut pool = lock(&self.pool);
            let connections = pool.entry(key.clone()).or_default();
            connections.retain(|c| !c.client.is_closed());
            connections.pop()
        };
        if let Some(connection) = idle {
            return Ok(connection);
        }
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.options.postgres_host)
            .port(self.options.postgres_port)
            .user(&key.user)
            .password(password)
            .dbname(&key.database)
            .application_name("rds-data-standin")
            .connect_timeout(CONNECT_TIMEOUT);
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls))
            .await
            .map_err(|_| {
                ApiError::database_unavailable(format!(
                    "Connecting to PostgreSQL at {}:{} timed out.",
                    self.options.postgres_host, self.options.postgres_port
                ))
            })?;
        let (client, connection) = connected.map_err(|error| match error.as_db_error() {
            Some(db) => ApiError::database(db),
            None => ApiError::database_unavailable(format!(
                "Cannot connect to PostgreSQL at {}:{}: {error}",
                self.options.postgres_host, self.options.postgres_port
            )),
        })?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the server closes the session.
            let _ = connection.await;
        });
        let pid = tokio::time::timeout(
            CONTROL_TIMEOUT,
            client.query_one("SELECT pg_backend_pid()", &[]),
        )
        .await
        .map_err(|_| ApiError::database_unavailable("PostgreSQL did not answer in time.".into()))?
        .map_err(|error| ApiError::from_postgres(&error, 0))?
        .try_get::<_, i32>(0)
        .map_err(|error| ApiError::internal(format!("reading the backend pid: {error}")))?;
        Ok(Connection { client, pid })
    }

    /// Gives a connection back after a call that `succeeded`: to the pool, or to its
    /// transaction. After a failed call the connection is closed, since its session state is
    /// unknown (a batch's `ROLLBACK` may have failed too); for a transaction that ends it, and
    /// PostgreSQL rolls it back.
    fn release(&self, home: Home, connection: Connection, succeeded: bool) {
        let usable = succeeded && !connection.client.is_closed();
        match home {
            Home::Pool(key) if usable => {
                let mut pool = lock(&self.pool);
                let idle = pool.entry(key).or_default();
                if idle.len() < MAX_IDLE {
                    idle.push(connection);
                }
            }
            Home::Pool(_) => {}
            Home::Transaction(id) => {
                let mut transactions = lock(&self.transactions);
                match transactions.get_mut(&id) {
                    Some(transaction) if usable => transaction.connection = Some(connection),
                    _ => {
                        transactions.remove(&id);
                    }
                }
            }
        }
    }

    /// Takes the connection of transaction `id` for one call.
    fn transaction_connection(&self, id: &str) -> Result<(PoolKey, Connection), ApiError> {
        let mut transactions = lock(&self.transactions);
        let transaction = transactions
            .get_mut(id)
            .ok_or_else(|| ApiError::transaction_not_found(id))?;
        let connection = transaction
            .connection
            .take()
            .ok_or_else(ApiError::transaction_busy)?;
        Ok((transaction.key.clone(), connection))
    }

    /// The connection a call runs on: its transaction's, or a pooled one ([`Self::pooled`]).
    async fn lease(
        &self,
        secret_arn: &str,
        database: Option<&str>,
        transaction_id: Option<&str>,
    ) -> Result<(Home, Connection), ApiError> {
        if let Some(id) = transaction_id {
            let (_, connection) = self.transaction_connection(id)?;
            return Ok((Home::Transaction(id.to_owned()), connection));
        }
        let (key, connection) = self.pooled(secret_arn, database).await?;
        Ok((Home::Pool(key), connection))
    }

    /// Reads the secret and takes a connection for its user and the requested database (else
    /// the secret's `dbname`, else the user's name, PostgreSQL's default).
    async fn pooled(
        &self,
        secret_arn: &str,
        database: Option<&str>,
    ) -> Result<(PoolKey, Connection), ApiError> {
        let credentials = self.credentials(secret_arn).await?;
        let key = PoolKey {
            database: database
                .filter(|d| !d.is_empty())
                .or(credentials.dbname.as_deref())
                .unwrap_or(&credentials.username)
                .to_owned(),
            user: credentials.username,
        };
        let connection = self.connection(&key, &credentials.password).await?;
        Ok((key, connection))
    }

    /// The database credentials in secret `arn`.
    async fn credentials(&self, arn: &str) -> Result<Credentials, ApiError> {
        let read = tokio::time::timeout(
            SECRET_TIMEOUT,
            self.secrets.get_secret_value().secret_id(arn).send(),
        )
        .await
        .map_err(|_| {
            ApiError::secrets(format!(
                "Timed out retrieving secret {arn} from Secrets Manager."
            ))
        })?;
        let secret = read.map_err(|error| {
            let message = match &error {
                SdkError::ServiceError(service) => {
                    let inner = service.err();
                    if inner.is_resource_not_found_exception() {
                        "Secrets Manager can't find the specified secret.".to_owned()
                    } else {
                        inner.message().unwrap_or("unknown error").to_owned()
                    }
                }
                other => DisplayErrorContext(other).to_string(),
            };
            ApiError::secrets(format!("Error fetching secret {arn}: {message}"))
        })?;
        let invalid = |what: &str| {
            ApiError::invalid_secret(format!(
                "The secret {arn} is not a valid database secret: {what}"
            ))
        };
        let text = secret
            .secret_string()
            .ok_or_else(|| invalid("it has no secret string"))?;
        let value: Value =
            serde_json::from_str(text).map_err(|_| invalid("its secret string is not JSON"))?;
        let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        Ok(Credentials {
            username: field("username").ok_or_else(|| invalid("it has no string `username`"))?,
            password: field("password").ok_or_else(|| invalid("it has no string `password`"))?,
            dbname: field("dbname"),
        })
    }

    /// Runs `work` on `connection` as a task of its own, so that a call which outlives the call
    /// timeout can be cancelled (or, with `continueAfterTimeout`, left running) while the
    /// caller is answered. The connection goes back home when the work ends.
    async fn run(
        self: &Arc<Self>,
        home: Home,
        connection: Connection,
        work: Work,
        continue_after_timeout: bool,
    ) -> Result<Value, ApiError> {
        let cancel = connection.client.cancel_token();
        let pid = connection.pid;
        let shared = Arc::clone(self);
        let mut task = tokio::spawn(async move {
            let result = work.perform(&connection).await;
            shared.release(home, connection, result.is_ok());
            result
        });
        match tokio::time::timeout(self.options.call_timeout, &mut task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => Err(ApiError::internal(format!(
                "the statement task failed: {join_error}"
            ))),
            Err(_) => {
                if !continue_after_timeout
                    && let Err(error) =
                        tokio::time::timeout(CONTROL_TIMEOUT, cancel.cancel_query(NoTls))
                            .await
                            .map_err(|e| e.to_string())
                            .and_then(|sent| sent.map_err(|e| e.to_string()))
                {
                    tracing::warn!(%error, pid, "cannot cancel a timed-out statement");
                }
                Err(ApiError::statement_timeout(
                    format!(
                        "The statement did not finish within the call timeout of {} ms.",
                        self.options.call_timeout.as_millis()
                    ),
                    pid,
                ))
            }
        }
    }
}

/// What a database secret holds.
struct Credentials {
    username: String,
    password: String,
    dbname: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An error answer: the service's error type, HTTP status and message.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
    /// `dbConnectionId`, for `StatementTimeoutException`.
    db_connection_id: Option<i32>,
}

impl ApiError {
    fn new(status: StatusCode, error_type: &'static str, message: String) -> Self {
        Self {
            status,
            error_type,
            message,
            db_connection_id: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            message.into(),
        )
    }

    fn secrets(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "SecretsErrorException", message)
    }

    fn invalid_secret(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidSecretException", message)
    }

    fn transaction_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "TransactionNotFoundException",
            format!(
                "Transaction {id} is not found: it may have expired, been committed or rolled \
                 back, or been aborted by an error in a previous call."
            ),
        )
    }

    fn transaction_busy() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "DatabaseErrorException",
            "Transaction is still running a query".to_owned(),
        )
    }

    fn statement_timeout(message: String, pid: i32) -> Self {
        Self {
            db_connection_id: Some(pid),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "StatementTimeoutException",
                message,
            )
        }
    }

    fn unsupported_result(message: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedResultException",
            message,
        )
    }

    fn response_too_large() -> Self {
        Self::bad_request("Database returned more than the allowed response size limit")
    }

    fn database_unavailable(message: String) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "DatabaseUnavailableException",
            message,
        )
    }

    fn internal(message: String) -> Self {
        tracing::error!(%message, "rds data stand-in internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerErrorException",
            message,
        )
    }

    /// A server error as the service reports it: PgJDBC's text of it plus the SQL state.
    fn database(db: &tokio_postgres::error::DbError) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "DatabaseErrorException",
            database_message(db),
        )
    }

    /// A failed statement on the connection with backend `pid`.
    fn from_postgres(error: &tokio_postgres::Error, pid: i32) -> Self {
        match error.as_db_error() {
            Some(db)
                if *db.code() == tokio_postgres::error::SqlState::QUERY_CANCELED
                    && db.message().contains("statement timeout") =>
            {
                Self::statement_timeout(database_message(db), pid)
            }
            Some(db) => Self::database(db),
            None if error.is_closed() => Self::database_unavailable(format!(
                "The database connection closed during the call: {error}"
            )),
            None => Self::internal(format!("PostgreSQL client error: {error}")),
        }
    }
}

/// `SEVERITY: message[\n  Hint: ...][\n  Position: n]; SQLState: XXXXX`, PgJDBC's rendering of
/// a server error (without the detail fields) with the state the service appends.
fn database_message(db: &tokio_postgres::error::DbError) -> String {
    let mut message = format!("{}: {}", db.severity(), db.message());
    if let Some(hint) = db.hint() {
        let _ = write!(message, "\n  Hint: {hint}");
    }
    if let Some(tokio_postgres::error::ErrorPosition::Original(position)) = db.position() {
        let _ = write!(message, "\n  Position: {position}");
    }
    let _ = write!(message, "; SQLState: {}", db.code().code());
    message
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "message": self.message });
        if let Some(pid) = self.db_connection_id {
            body["dbConnectionId"] = json!(pid);
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let error_type = format!(
            "{}:http://internal.amazon.com/coral/com.amazon.rdsdataservice/",
            self.error_type
        );
        if let Ok(value) = http::HeaderValue::from_str(&error_type) {
            headers.insert("x-amzn-errortype", value);
        }
        if let Ok(value) = http::HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            headers.insert("x-amzn-requestid", value);
        }
        response
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

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

type Request = Map<String, Value>;

/// A required string member.
fn required<'a>(request: &'a Request, member: &str) -> Result<&'a str, ApiError> {
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
fn optional<'a>(request: &'a Request, member: &str) -> Result<Option<&'a str>, ApiError> {
    match request.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(ApiError::bad_request(format!(
            "'{member}' must be a string."
        ))),
    }
}

/// An optional boolean member, false when absent.
fn flag(request: &Request, member: &str) -> Result<bool, ApiError> {
    match request.get(member) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(ApiError::bad_request(format!(
            "'{member}' must be a boolean."
        ))),
    }
}

/// Checks `resourceArn` and `secretArn` and refuses `schema`, as every operation does.
fn check_target(request: &Request) -> Result<&str, ApiError> {
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

async fn execute_statement(shared: &Arc<Shared>, request: &Request) -> Result<Value, ApiError> {
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

async fn batch_execute_statement(
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

async fn begin(shared: &Arc<Shared>, request: &Request) -> Result<Value, ApiError> {
    let secret_arn = check_target(request)?;
    let (key, connection) = shared
        .pooled(secret_arn, optional(request, "database")?)
        .await?;
    // Registered busy, so that `BEGIN` hands the connection to the transaction when it
    // succeeds (and ends the transaction when it fails).
    let id = transaction_id();
    lock(&shared.transactions).insert(
        id.clone(),
        Transaction {
            key,
            connection: None,
        },
    );
    shared
        .run(
            Home::Transaction(id.clone()),
            connection,
            Work::Control("BEGIN"),
            false,
        )
        .await?;
    Ok(json!({ "transactionId": id }))
}

/// Commits (`commit`) or rolls back a transaction.
async fn end(shared: &Arc<Shared>, request: &Request, commit: bool) -> Result<Value, ApiError> {
    check_target(request)?;
    let id = required(request, "transactionId")?;
    let (key, connection) = shared.transaction_connection(id)?;
    lock(&shared.transactions).remove(id);
    let sql = if commit { "COMMIT" } else { "ROLLBACK" };
    shared
        .run(Home::Pool(key), connection, Work::Control(sql), false)
        .await?;
    let status = if commit {
        "Transaction Committed"
    } else {
        "Rollback Complete"
    };
    Ok(json!({ "transactionStatus": status }))
}

/// A fresh transaction id: random, base64, like the service's.
fn transaction_id() -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    BASE64.encode(bytes)
}

fn checked_sql(request: &Request) -> Result<&str, ApiError> {
    let sql = required(request, "sql")?;
    if sql.len() > SQL_LIMIT {
        return Err(ApiError::bad_request(format!(
            "'sql' is {} characters long; the limit is {SQL_LIMIT}.",
            sql.len()
        )));
    }
    Ok(sql)
}

// ---------------------------------------------------------------------------------------------
// Parameters

/// A request parameter's value, as it will be bound.
#[derive(Debug, Clone)]
enum Bound {
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
struct Parameter {
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

fn parse_parameters(list: &Value, at: &str) -> Result<Vec<Parameter>, ApiError> {
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
struct BoundStatement {
    sql: String,
    values: Vec<Bound>,
    types: Vec<Type>,
}

/// Replaces the placeholders of the given parameters by `$n` (numbered in order of first
/// appearance); parameters the SQL does not use are not bound.
fn bind(sql: &str, parameters: &[Parameter]) -> Result<BoundStatement, ApiError> {
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

// ---------------------------------------------------------------------------------------------
// Running statements

/// How the caller wants results.
#[derive(Debug, Clone, Copy)]
struct ResultOptions {
    metadata: bool,
    json: bool,
    decimals_as_numbers: bool,
    longs_as_strings: bool,
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
enum Work {
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
    async fn perform(self, connection: &Connection) -> Result<Value, ApiError> {
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
struct StatementResult {
    /// `None` for statements without a result set.
    columns: Option<Vec<ColumnMetadata>>,
    rows: Vec<Vec<Cell>>,
    updated: u64,
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

/// A column value as PostgreSQL sent it (binary format), of any type.
struct Raw<'a>(Option<&'a [u8]>);

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
struct TextForms {
    statements: HashMap<u32, Statement>,
}

impl TextForms {
    async fn of(&mut self, client: &Client, ty: &Type, raw: &[u8]) -> Result<String, ApiError> {
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

// ---------------------------------------------------------------------------------------------
// Decoding values

/// A decoded value, before it becomes a `Field` or a JSON value.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
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
enum ElementKind {
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
fn decode(ty: &Type, raw: &[u8]) -> Option<Cell> {
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
    let weight = i32::from(word(1)? as i16);
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

// ---------------------------------------------------------------------------------------------
// Answers

impl StatementResult {
    fn into_response(self, options: &ResultOptions) -> Value {
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
fn field(cell: Cell, options: &ResultOptions) -> Value {
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

// ---------------------------------------------------------------------------------------------
// Column metadata

/// One column's `ColumnMetadata`, as PgJDBC's `ResultSetMetaData` describes it.
#[derive(Debug, Clone)]
struct ColumnMetadata {
    label: String,
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
    fn json(&self) -> Value {
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
async fn column_metadata(
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

    fn numeric(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut raw = Vec::new();
        for word in [ndigits, weight as u16, sign, dscale]
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
