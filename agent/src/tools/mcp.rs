//! One MCP tool source: a server reached over streamable HTTP with the rmcp client.
//!
//! The connection is opened on first use and kept; a call that fails at the transport level
//! drops it so the next call reconnects. Every call has a timeout. The bearer token, when
//! configured, is read once at start from the environment variable the source names.

use std::sync::Arc;
use std::time::Duration;

use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject, Tool};
use rmcp::service::{RunningService, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::contract::context::Secret;

/// How a source is configured (one element of `MCP_SOURCES`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Short name, shown in events and logs.
    pub name: String,
    /// The MCP endpoint, e.g. `http://127.0.0.1:8000/mcp`.
    pub url: String,
    /// Environment variable holding a static bearer token for this source.
    #[serde(default)]
    pub bearer_token_env: Option<String>,
    /// Longest a call may take, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl SourceConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "source name {:?} must be letters, digits, '-' or '_'",
                self.name
            ));
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(format!(
                "source {}: url {:?} must be http:// or https://",
                self.name, self.url
            ));
        }
        Ok(())
    }
}

/// Why a source could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("MCP source {source_name} is unreachable: {detail}")]
    Unreachable { source_name: String, detail: String },
    #[error("MCP source {source_name} did not answer within {timeout_ms} ms")]
    Timeout {
        source_name: String,
        timeout_ms: u64,
    },
    #[error("MCP source {source_name} refused the call: {detail}")]
    Protocol { source_name: String, detail: String },
    #[error("environment variable {0} (bearer_token_env of an MCP source) is not set")]
    MissingToken(String),
}

type Client = RunningService<RoleClient, ()>;

/// A configured source and its open connection, if any.
pub struct McpSource {
    pub name: String,
    url: String,
    bearer: Option<Secret>,
    timeout: Duration,
    client: Mutex<Option<Arc<Client>>>,
}

impl std::fmt::Debug for McpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpSource")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl McpSource {
    /// Builds the source, reading its token variable now. Makes no network call.
    pub fn new(config: &SourceConfig, default_timeout: Duration) -> Result<Self, SourceError> {
        let bearer = match &config.bearer_token_env {
            Some(variable) => Some(Secret::new(
                std::env::var(variable).map_err(|_| SourceError::MissingToken(variable.clone()))?,
            )),
            None => None,
        };
        Ok(Self {
            name: config.name.clone(),
            url: config.url.clone(),
            bearer,
            timeout: config
                .timeout_ms
                .map_or(default_timeout, Duration::from_millis),
            client: Mutex::new(None),
        })
    }

    async fn client(&self) -> Result<Arc<Client>, SourceError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let mut transport = StreamableHttpClientTransportConfig::with_uri(self.url.clone());
        if let Some(token) = &self.bearer {
            transport = transport.auth_header(token.expose().to_owned());
        }
        let connect = ().serve(StreamableHttpClientTransport::from_config(transport));
        let client = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| self.timeout_error())?
            .map_err(|e| SourceError::Unreachable {
                source_name: self.name.clone(),
                detail: e.to_string(),
            })?;
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
    }

    async fn forget_client(&self) {
        self.client.lock().await.take();
    }

    fn timeout_error(&self) -> SourceError {
        SourceError::Timeout {
            source_name: self.name.clone(),
            timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Every tool the source offers.
    pub async fn list_tools(&self) -> Result<Vec<Tool>, SourceError> {
        let client = self.client().await?;
        self.within_timeout(client.list_all_tools()).await
    }

    /// Calls `tool` (its name at this source) with `arguments`.
    pub async fn call(
        &self,
        tool: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, SourceError> {
        let client = self.client().await?;
        let request = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        self.within_timeout(client.call_tool(request)).await
    }

    /// Runs one request with the source's timeout. A protocol error (the server answered
    /// with a JSON-RPC error) keeps the connection; a transport failure or a timeout drops it
    /// so the next request reconnects.
    async fn within_timeout<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, rmcp::ServiceError>>,
    ) -> Result<T, SourceError> {
        let failure = match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(rmcp::ServiceError::McpError(error))) => {
                return Err(SourceError::Protocol {
                    source_name: self.name.clone(),
                    detail: error.message.to_string(),
                });
            }
            Ok(Err(e)) => SourceError::Unreachable {
                source_name: self.name.clone(),
                detail: e.to_string(),
            },
            Err(_) => self.timeout_error(),
        };
        self.forget_client().await;
        Err(failure)
    }
}
