//! `agent migrate`: brings the Aurora schema up to date and sets up the agent's read-only
//! database user, through the same Data API the agent uses, so it works against AWS and the
//! local stand-in alike. Safe to run any number of times.
//!
//! - Each file under `agent/migrations/` is applied once, in a transaction, and recorded in
//!   `schema_migrations`.
//! - The read-only user is the one named in the agent's own secret (`AURORA_SECRET_ARN`): it is
//!   created or given that secret's password, may read the support tables and nothing else,
//!   cannot write even by mistake (`default_transaction_read_only`), and has a statement
//!   timeout, because the Data API's own limit is 45 seconds.

use std::time::Duration;

use agent_protocol::Secret;
use serde::Deserialize;

use super::data_api::{self as db, DataApi, DbError};

/// One schema change.
#[derive(Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "catalogue_and_orders",
    sql: include_str!("../../migrations/0001_catalogue_and_orders.sql"),
}];

/// The tables the read-only user may read.
const READABLE_TABLES: &str = "customers, products, orders, order_lines";

/// Why the migration could not finish.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        source: DbError,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot read the agent's database secret {secret_arn}: {detail}")]
    Secret { secret_arn: String, detail: String },
    #[error(
        "the database user name {0:?} must be 1 to 63 lower-case letters, digits or '_', starting with a letter or '_'"
    )]
    BadUserName(String),
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    pub applied: Vec<i64>,
    pub reader: Option<String>,
}

/// The database user and password in a Secrets Manager secret (the RDS secret format).
#[derive(Deserialize)]
struct DatabaseSecret {
    username: String,
    password: String,
}

/// Reads the agent's database user from its secret, with a timeout.
pub async fn reader_credentials(
    sdk: &aws_config::SdkConfig,
    secret_arn: &str,
    timeout: Duration,
) -> Result<(String, Secret), MigrateError> {
    let failed = |detail: String| MigrateError::Secret {
        secret_arn: secret_arn.to_owned(),
        detail,
    };
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let answer = tokio::time::timeout(
        timeout,
        client.get_secret_value().secret_id(secret_arn).send(),
    )
    .await
    .map_err(|_| failed(format!("no answer within {} ms", timeout.as_millis())))?
    .map_err(|e| failed(aws_smithy_types::error::display::DisplayErrorContext(&e).to_string()))?;
    let text = answer
        .secret_string()
        .ok_or_else(|| failed("the secret has no string value".to_owned()))?;
    let secret: DatabaseSecret = serde_json::from_str(text).map_err(|_| {
        failed("the secret is not JSON with \"username\" and \"password\"".to_owned())
    })?;
    Ok((secret.username, Secret::new(secret.password)))
}

/// Applies the pending migrations with `admin`, then, when given, sets up the read-only user.
pub async fn migrate(
    admin: &DataApi,
    reader: Option<(String, Secret)>,
    statement_timeout: Duration,
) -> Result<MigrateReport, MigrateError> {
    admin
        .execute(
            "create schema_migrations",
            "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
            vec![],
            None,
        )
        .await?;
    #[derive(Deserialize)]
    struct Applied {
        version: i64,
    }
    let applied: Vec<Applied> = admin
        .query(
            "read schema_migrations",
            "SELECT version FROM schema_migrations",
            vec![],
        )
        .await?;
    let mut report = MigrateReport {
        applied: Vec::new(),
        reader: None,
    };
    for migration in MIGRATIONS {
        if applied.iter().any(|a| a.version == migration.version) {
            continue;
        }
        apply(admin, migration)
            .await
            .map_err(|source| MigrateError::Migration {
                version: migration.version,
                name: migration.name,
                source,
            })?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "migration applied"
        );
        report.applied.push(migration.version);
    }
    if let Some((username, password)) = reader {
        set_up_reader(admin, &username, &password, statement_timeout).await?;
        report.reader = Some(username);
    }
    Ok(report)
}

/// The statements of a migration file: each ends with `;` at the end of a line.
fn statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let code = line.trim();
        if code.is_empty() || code.starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if code.ends_with(';') {
            statements.push(current.trim().trim_end_matches(';').to_owned());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        statements.push(current.trim().to_owned());
    }
    statements
}

async fn apply(admin: &DataApi, migration: &Migration) -> Result<(), DbError> {
    let transaction = admin.begin().await?;
    let applied = async {
        let tx = Some(transaction.as_str());
        for statement in statements(migration.sql) {
            admin
                .execute("migration statement", &statement, vec![], tx)
                .await?;
        }
        admin
            .execute(
                "record migration",
                "INSERT INTO schema_migrations (version, name) VALUES (:version, :name)",
                vec![
                    db::long("version", migration.version),
                    db::text("name", migration.name),
                ],
                tx,
            )
            .await
    }
    .await;
    match applied {
        Ok(_) => admin.commit(&transaction).await,
        Err(error) => {
            if let Err(rollback) = admin.rollback(&transaction).await {
                tracing::warn!(error = %rollback, "rolling back the migration failed");
            }
            Err(error)
        }
    }
}

/// Creates the read-only user, or resets its password and rights. Role names and passwords
/// cannot be bound as parameters in these statements, so the name is checked strictly and the
/// password quoted as a literal; neither statement is ever logged.
async fn set_up_reader(
    admin: &DataApi,
    username: &str,
    password: &Secret,
    statement_timeout: Duration,
) -> Result<(), MigrateError> {
    if !is_plain_identifier(username) {
        return Err(MigrateError::BadUserName(username.to_owned()));
    }
    let existing: Vec<serde_json::Value> = admin
        .query(
            "look up the reader role",
            "SELECT 1 AS found FROM pg_roles WHERE rolname = :name",
            vec![db::text("name", username)],
        )
        .await?;
    let literal = quote_literal(password.expose());
    let verb = if existing.is_empty() {
        "CREATE"
    } else {
        "ALTER"
    };
    admin
        .execute(
            "create or alter the reader role",
            &format!("{verb} ROLE \"{username}\" WITH LOGIN PASSWORD {literal}"),
            vec![],
            None,
        )
        .await?;
    let database = &admin.target().database;
    let timeout_ms = statement_timeout.as_millis();
    for (step, sql) in [
        (
            "grant connect",
            format!("GRANT CONNECT ON DATABASE \"{database}\" TO \"{username}\""),
        ),
        (
            "grant schema usage",
            format!("GRANT USAGE ON SCHEMA public TO \"{username}\""),
        ),
        (
            "grant select",
            format!("GRANT SELECT ON {READABLE_TABLES} TO \"{username}\""),
        ),
        (
            "make the reader read-only",
            format!("ALTER ROLE \"{username}\" SET default_transaction_read_only = on"),
        ),
        (
            "set the reader's statement timeout",
            format!("ALTER ROLE \"{username}\" SET statement_timeout = {timeout_ms}"),
        ),
    ] {
        admin.execute(step, &sql, vec![], None).await?;
    }
    tracing::info!(username, "read-only database user ready");
    Ok(())
}

fn is_plain_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && name.len() <= 63
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// A PostgreSQL string literal (`standard_conforming_strings` is on by default).
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_files_split_into_statements_without_comments() {
        let split = statements(MIGRATIONS[0].sql);
        assert!(split.len() >= 5, "{split:?}");
        assert!(split[0].starts_with("CREATE TABLE customers"));
        assert!(split.iter().all(|s| !s.ends_with(';') && !s.contains("--")));
    }

    #[test]
    fn only_plain_role_names_are_accepted_and_passwords_are_quoted() {
        assert!(is_plain_identifier("support_agent_reader"));
        for bad in ["", "Reader", "1reader", "reader\"; DROP", &"a".repeat(64)] {
            assert!(!is_plain_identifier(bad), "{bad:?}");
        }
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
