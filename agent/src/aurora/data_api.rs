//! The adapter to Aurora PostgreSQL through the RDS Data API (`ExecuteStatement`,
//! `BatchExecuteStatement` and transactions), the only way the agent reaches the database: no
//! driver, no connection pool, no network path to the cluster, just HTTPS to the `rds-data`
//! endpoint with the execution role's credentials and a Secrets Manager secret.
//!
//! Rows come back as JSON (`formatRecordsAs: JSON`) and are decoded straight into typed structs;
//! a `numeric` column comes as its exact text (the default `decimalReturnType`, STRING), which
//! [`Money`] reads without a float in between.
//! Every call has a timeout; errors say which statement failed and why, never with its
//! parameters (they may hold customer data).

use std::time::Duration;

use aws_sdk_rdsdata::Client;
use aws_sdk_rdsdata::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rdsdata::types::{Field, RecordsFormatType, SqlParameter, TypeHint};
use serde::de::DeserializeOwned;

use super::money::Money;

/// Where the database is and who the agent is to it.
#[derive(Debug, Clone)]
pub struct DataApiTarget {
    /// `arn:aws:rds:<region>:<account>:cluster:<name>`.
    pub cluster_arn: String,
    /// The Secrets Manager secret holding the database user's name and password.
    pub secret_arn: String,
    pub database: String,
}

/// A Data API client for one cluster, database and secret.
#[derive(Debug, Clone)]
pub struct DataApi {
    client: Client,
    target: DataApiTarget,
    timeout: Duration,
}

/// Why a statement failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the database did not answer within {timeout_ms} ms ({statement})")]
    Timeout {
        statement: &'static str,
        timeout_ms: u64,
    },
    #[error("the database is starting or unavailable ({statement}: {code}); try again shortly")]
    Unavailable {
        statement: &'static str,
        code: String,
    },
    #[error("the statement ran too long and was cancelled ({statement})")]
    StatementTimeout { statement: &'static str },
    #[error("the Data API refused {statement}: {code}: {message}")]
    Refused {
        statement: &'static str,
        code: String,
        message: String,
    },
    #[error("the Data API could not be reached for {statement}: {detail}")]
    Unreachable {
        statement: &'static str,
        detail: String,
    },
    #[error("the rows of {statement} did not have the expected shape: {detail}")]
    Decode {
        statement: &'static str,
        detail: String,
    },
}

impl DbError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DbError::Timeout { .. } | DbError::Unavailable { .. } | DbError::Unreachable { .. }
        )
    }
}

/// One named parameter (`:name` in the SQL).
pub fn text(name: &str, value: impl Into<String>) -> SqlParameter {
    parameter(name, Field::StringValue(value.into()), None)
}

/// An optional text parameter: SQL NULL when absent.
pub fn optional_text(name: &str, value: Option<&str>) -> SqlParameter {
    match value {
        Some(value) => text(name, value),
        None => parameter(name, Field::IsNull(true), None),
    }
}

pub fn long(name: &str, value: i64) -> SqlParameter {
    parameter(name, Field::LongValue(value), None)
}

pub fn boolean(name: &str, value: bool) -> SqlParameter {
    parameter(name, Field::BooleanValue(value), None)
}

/// An amount, sent as its exact text with the `DECIMAL` hint ("The corresponding String
/// parameter value is sent as an object of DECIMAL type to the database":
/// <https://docs.aws.amazon.com/rdsdataservice/latest/APIReference/API_SqlParameter.html>).
pub fn decimal(name: &str, value: Money) -> SqlParameter {
    parameter(
        name,
        Field::StringValue(value.to_string()),
        Some(TypeHint::Decimal),
    )
}

/// A timestamp in the Data API's `YYYY-MM-DD HH:MM:SS` form (UTC).
pub fn timestamp(name: &str, value: chrono::DateTime<chrono::Utc>) -> SqlParameter {
    parameter(
        name,
        Field::StringValue(value.format("%Y-%m-%d %H:%M:%S").to_string()),
        Some(TypeHint::Timestamp),
    )
}

fn parameter(name: &str, value: Field, hint: Option<TypeHint>) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(value)
        .set_type_hint(hint)
        .build()
}

impl DataApi {
    /// A client for `target`; every call is bounded by `timeout`. Makes no network call.
    pub fn new(sdk: &aws_config::SdkConfig, target: DataApiTarget, timeout: Duration) -> Self {
        let config = aws_sdk_rdsdata::config::Builder::from(sdk)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(timeout)
                    .build(),
            )
            .build();
        Self {
            client: Client::from_conf(config),
            target,
            timeout,
        }
    }

    /// The same database reached with another secret (the migrations' administrator).
    pub fn with_secret(&self, secret_arn: &str) -> Self {
        let mut other = self.clone();
        other.target.secret_arn = secret_arn.to_owned();
        other
    }

    pub fn target(&self) -> &DataApiTarget {
        &self.target
    }

    /// Runs a query and decodes each row (an object keyed by column label) into `T`.
    pub async fn query<T: DeserializeOwned>(
        &self,
        statement: &'static str,
        sql: &str,
        parameters: Vec<SqlParameter>,
    ) -> Result<Vec<T>, DbError> {
        let request = self
            .client
            .execute_statement()
            .resource_arn(&self.target.cluster_arn)
            .secret_arn(&self.target.secret_arn)
            .database(&self.target.database)
            .sql(sql)
            .set_parameters(Some(parameters))
            .format_records_as(RecordsFormatType::Json)
            .send();
        let output = self.bounded(statement, request).await?;
        let rows = output.formatted_records().unwrap_or("[]");
        serde_json::from_str(rows).map_err(|e| DbError::Decode {
            statement,
            detail: e.to_string(),
        })
    }

    /// Runs a statement that returns no rows; gives the number of rows it changed.
    pub async fn execute(
        &self,
        statement: &'static str,
        sql: &str,
        parameters: Vec<SqlParameter>,
        transaction: Option<&str>,
    ) -> Result<i64, DbError> {
        let request = self
            .client
            .execute_statement()
            .resource_arn(&self.target.cluster_arn)
            .secret_arn(&self.target.secret_arn)
            .database(&self.target.database)
            .sql(sql)
            .set_parameters(Some(parameters))
            .set_transaction_id(transaction.map(str::to_owned))
            .send();
        let output = self.bounded(statement, request).await?;
        Ok(output.number_of_records_updated())
    }

    /// Runs one statement once per parameter set.
    pub async fn execute_batch(
        &self,
        statement: &'static str,
        sql: &str,
        parameter_sets: Vec<Vec<SqlParameter>>,
        transaction: Option<&str>,
    ) -> Result<(), DbError> {
        let request = self
            .client
            .batch_execute_statement()
            .resource_arn(&self.target.cluster_arn)
            .secret_arn(&self.target.secret_arn)
            .database(&self.target.database)
            .sql(sql)
            .set_parameter_sets(Some(parameter_sets))
            .set_transaction_id(transaction.map(str::to_owned))
            .send();
        self.bounded(statement, request).await.map(|_| ())
    }

    /// Starts a transaction and gives its id.
    pub async fn begin(&self) -> Result<String, DbError> {
        let request = self
            .client
            .begin_transaction()
            .resource_arn(&self.target.cluster_arn)
            .secret_arn(&self.target.secret_arn)
            .database(&self.target.database)
            .send();
        let output = self.bounded("BeginTransaction", request).await?;
        output
            .transaction_id()
            .map(str::to_owned)
            .ok_or_else(|| DbError::Decode {
                statement: "BeginTransaction",
                detail: "no transactionId in the answer".to_owned(),
            })
    }

    pub async fn commit(&self, transaction: &str) -> Result<(), DbError> {
        let request = self
            .client
            .commit_transaction()
            .resource_arn(&self.target.cluster_arn)
            .secret_arn(&self.target.secret_arn)
            .transaction_id(transaction)
            .send();
        self.bounded("CommitTransaction", request).await.map(|_| ())
    }

    pub async fn rollback(&self, transaction: &str) -> Result<(), DbError> {
        let request = self
            .client
            .rollback_transaction()
            .resource_arn(&self.target.cluster_arn)
            .secret_arn(&self.target.secret_arn)
            .transaction_id(transaction)
            .send();
        self.bounded("RollbackTransaction", request)
            .await
            .map(|_| ())
    }

    async fn bounded<T, E>(
        &self,
        statement: &'static str,
        request: impl Future<Output = Result<T, SdkError<E>>>,
    ) -> Result<T, DbError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        match tokio::time::timeout(self.timeout, request).await {
            Err(_) => Err(DbError::Timeout {
                statement,
                timeout_ms,
            }),
            Ok(Ok(output)) => Ok(output),
            Ok(Err(SdkError::TimeoutError(_))) => Err(DbError::Timeout {
                statement,
                timeout_ms,
            }),
            Ok(Err(SdkError::ServiceError(error))) => {
                let error = error.into_err();
                let code = error.code().unwrap_or("UnknownError").to_owned();
                let message = error.message().unwrap_or("").to_owned();
                Err(match code.as_str() {
                    "StatementTimeoutException" => DbError::StatementTimeout { statement },
                    "DatabaseResumingException"
                    | "DatabaseUnavailableException"
                    | "ServiceUnavailableError"
                    | "InternalServerErrorException" => DbError::Unavailable { statement, code },
                    _ => DbError::Refused {
                        statement,
                        code,
                        message,
                    },
                })
            }
            Ok(Err(other)) => Err(DbError::Unreachable {
                statement,
                detail: aws_smithy_types::error::display::DisplayErrorContext(&other).to_string(),
            }),
        }
    }
}
