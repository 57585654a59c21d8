//! The service's error answers: restJson1 errors with the AWS error type in `x-amzn-ErrorType`,
//! a request id, and `{"message"}` worded as the service words them (PgJDBC's text of a server
//! error plus its SQL state).

use std::fmt::Write as _;

use axum::http::{self, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer: the service's error type, HTTP status and message.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
    /// `dbConnectionId`, for `StatementTimeoutException`.
    db_connection_id: Option<i32>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, error_type: &'static str, message: String) -> Self {
        Self {
            status,
            error_type,
            message,
            db_connection_id: None,
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            message.into(),
        )
    }

    pub(super) fn secrets(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "SecretsErrorException", message)
    }

    pub(super) fn invalid_secret(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidSecretException", message)
    }

    pub(super) fn transaction_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "TransactionNotFoundException",
            format!(
                "Transaction {id} is not found: it may have expired, been committed or rolled \
                 back, or been aborted by an error in a previous call."
            ),
        )
    }

    pub(super) fn transaction_busy() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "DatabaseErrorException",
            "Transaction is still running a query".to_owned(),
        )
    }

    pub(super) fn statement_timeout(message: String, pid: i32) -> Self {
        Self {
            db_connection_id: Some(pid),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "StatementTimeoutException",
                message,
            )
        }
    }

    pub(super) fn unsupported_result(message: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedResultException",
            message,
        )
    }

    pub(super) fn response_too_large() -> Self {
        Self::bad_request("Database returned more than the allowed response size limit")
    }

    pub(super) fn database_unavailable(message: String) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "DatabaseUnavailableException",
            message,
        )
    }

    pub(super) fn internal(message: String) -> Self {
        tracing::error!(%message, "rds data stand-in internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerErrorException",
            message,
        )
    }

    /// A server error as the service reports it: PgJDBC's text of it plus the SQL state.
    pub(super) fn database(db: &tokio_postgres::error::DbError) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "DatabaseErrorException",
            database_message(db),
        )
    }

    /// A failed statement on the connection with backend `pid`.
    pub(super) fn from_postgres(error: &tokio_postgres::Error, pid: i32) -> Self {
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
