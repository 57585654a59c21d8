//! The stand-in's shared state and its PostgreSQL sessions: connections pooled per (user,
//! database), leased to one call at a time, and each call run as a task of its own so that the
//! call timeout can cancel its statement.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio_postgres::{Client, NoTls};

use super::errors::ApiError;
use super::statements::Work;
use super::transactions::Transaction;
use super::{Options, RecordedRequest};

/// How long opening a PostgreSQL connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long sending a cancel request, or a transaction's `COMMIT`/`ROLLBACK`, may take.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// How many idle connections are kept per (user, database).
const MAX_IDLE: usize = 4;

pub(super) struct Shared {
    pub(super) secrets: aws_sdk_secretsmanager::Client,
    pub(super) options: Options,
    pub(super) requests: Mutex<Vec<RecordedRequest>>,
    pub(super) pool: Mutex<HashMap<PoolKey, Vec<Connection>>>,
    pub(super) transactions: Mutex<HashMap<String, Transaction>>,
}

/// Connections are shared by calls with the same user and database.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct PoolKey {
    user: String,
    database: String,
}

/// One PostgreSQL session.
pub(super) struct Connection {
    pub(super) client: Client,
    /// The backend process id, reported as `dbConnectionId`.
    pub(super) pid: i32,
}

/// Where a connection goes back to after a call.
#[derive(Clone)]
pub(super) enum Home {
    Pool(PoolKey),
    Transaction(String),
}

/// Locks a mutex; a panic while holding one leaves data that is still worth reading.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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

    /// The connection a call runs on: its transaction's, or a pooled one ([`Self::pooled`]).
    pub(super) async fn lease(
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
    pub(super) async fn pooled(
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

    /// Runs `work` on `connection` as a task of its own, so that a call which outlives the call
    /// timeout can be cancelled (or, with `continueAfterTimeout`, left running) while the
    /// caller is answered. The connection goes back home when the work ends.
    pub(super) async fn run(
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
