//! `BeginTransaction`, `CommitTransaction` and `RollbackTransaction`: a transaction pins a
//! connection under a fresh `transactionId` until it is committed, rolled back, or fails.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::connections::{Connection, Home, PoolKey, Shared, lock};
use super::errors::ApiError;
use super::request::{Request, check_target, optional, required};
use super::statements::Work;

/// An open transaction; `connection` is `None` while a call runs in it.
pub(super) struct Transaction {
    key: PoolKey,
    pub(super) connection: Option<Connection>,
}

impl Shared {
    /// Takes the connection of transaction `id` for one call.
    pub(super) fn transaction_connection(
        &self,
        id: &str,
    ) -> Result<(PoolKey, Connection), ApiError> {
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
}

pub(super) async fn begin(shared: &Arc<Shared>, request: &Request) -> Result<Value, ApiError> {
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
pub(super) async fn end(
    shared: &Arc<Shared>,
    request: &Request,
    commit: bool,
) -> Result<Value, ApiError> {
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
pub(super) fn transaction_id() -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    BASE64.encode(bytes)
}
