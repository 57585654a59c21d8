//! Database credentials from Secrets Manager, as the service reads them for each call's
//! `secretArn`, and the helpers tests use to store such secrets in moto.

use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;
use serde_json::{Value, json};

use crate::moto::REGION;

use super::connections::Shared;
use super::errors::ApiError;

/// How long reading a secret from Secrets Manager may take.
const SECRET_TIMEOUT: Duration = Duration::from_secs(10);

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

/// What a database secret holds.
pub(super) struct Credentials {
    pub(super) username: String,
    pub(super) password: String,
    pub(super) dbname: Option<String>,
}

impl Shared {
    /// The database credentials in secret `arn`.
    pub(super) async fn credentials(&self, arn: &str) -> Result<Credentials, ApiError> {
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
}
