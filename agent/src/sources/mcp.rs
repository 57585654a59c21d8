//! One MCP tool source: a server reached over streamable HTTP with the rmcp client.
//!
//! A source has an endpoint (a direct URL, an AgentCore runtime given by its ARN, or an
//! AgentCore Gateway) and an outbound auth method ([`OutboundAuth`]), applied to every HTTP
//! request by [`AuthorizedClient`]. The connection is opened on first use and kept, so the
//! `Mcp-Session-Id` the server (or the runtime) hands out is echoed on later requests; a call
//! that fails at the transport level drops it so the next call reconnects. Every request has a
//! timeout.
//!
//! Every list and call is made for a request and carries that request's tokens
//! ([`RequestTokens`]: its workload access token and its caller's token, or none): credentials
//! are prepared with them before the request, and when an AgentCore Identity token turns out to
//! be gone (expired, or refused with a 401) the request prepares again with its own workload
//! token and retries once (see `outbound_auth`). A `caller_token` source keeps no connection:
//! each list or call opens one whose HTTP client carries that request's caller token, and drops
//! it when done, so the token never outlives its request nor serves another (the price is an
//! MCP `initialize` per request). A 401 there is final: the caller must sign in again.
//!
//! An AgentCore Gateway with policies refuses a call its policies deny; the model is told it
//! was a policy denial, not to retry, and the turn goes on ([`SourceError::plain`]).
//!
//! [`SourceError`]'s `Display` is for the logs (it names URLs, ARNs and causes);
//! [`SourceError::plain`] is the short sentence the model and the caller get.

use std::sync::Arc;
use std::time::Duration;

use agent_protocol::runtime_url::{DEFAULT_QUALIFIER, runtime_invocation_url};
use rmcp::RoleClient;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, JsonObject, MetaObject, RequestMetaObject, Tool,
};
use rmcp::service::{ClientInitializeError, RunningService, ServiceExt};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::transport::{DynamicTransportError, StreamableHttpClientTransport};
use serde::Deserialize;
use tokio::sync::Mutex;
use tracing::Instrument;

use super::authorized_http::{AuthorizedClient, AuthorizedHttpError};
use super::outbound_auth::{AuthConfig, OutboundAuth, OutboundAuthError, RequestTokens};

/// The tool a gateway with semantic search adds.
pub const GATEWAY_SEARCH_TOOL: &str = "x_amz_bedrock_agentcore_search";
/// Most tools of one gateway offered to the model when `max_tools` is not set.
pub const DEFAULT_GATEWAY_MAX_TOOLS: usize = 40;

/// How a source is configured (one element of `MCP_SOURCES`): a name, exactly one of `url`,
/// `runtime_arn` or `gateway_url`, and optionally `auth` and `timeout_ms`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Short name, shown in events and logs.
    pub name: String,
    /// A plain MCP endpoint, e.g. `http://127.0.0.1:8000/mcp`.
    #[serde(default)]
    pub url: Option<String>,
    /// An MCP server in an AgentCore runtime:
    /// `arn:aws:bedrock-agentcore:<region>:<account>:runtime/<id>`.
    #[serde(default)]
    pub runtime_arn: Option<String>,
    /// The runtime endpoint to call (default `DEFAULT`).
    #[serde(default)]
    pub qualifier: Option<String>,
    /// An AgentCore Gateway's MCP endpoint,
    /// `https://<id>.gateway.bedrock-agentcore.<region>.amazonaws.com/mcp`.
    #[serde(default)]
    pub gateway_url: Option<String>,
    /// For a gateway with semantic search: most of its tools offered to the model in one turn,
    /// picked by searching with the caller's prompt (default 40).
    #[serde(default)]
    pub max_tools: Option<usize>,
    /// How requests are authorized (default none).
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Longest a request may take, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Where a source is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Direct { url: String },
    Runtime { url: String },
    Gateway { url: String, max_tools: usize },
}

impl Endpoint {
    pub fn url(&self) -> &str {
        match self {
            Endpoint::Direct { url }
            | Endpoint::Runtime { url }
            | Endpoint::Gateway { url, .. } => url,
        }
    }
}

impl SourceConfig {
    /// Checks the source and resolves its endpoint. A runtime's invocation URL is built on
    /// `agentcore_base` (the data-plane endpoint, e.g. `https://bedrock-agentcore.us-east-1.amazonaws.com`).
    pub fn endpoint(&self, agentcore_base: &str) -> Result<Endpoint, String> {
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
        let name = &self.name;
        let http_url = |field: &str, url: &str| {
            if url.starts_with("http://") || url.starts_with("https://") {
                Ok(url.to_owned())
            } else {
                Err(format!(
                    "source {name}: {field} {url:?} must be http:// or https://"
                ))
            }
        };
        if self.max_tools.is_some() && self.gateway_url.is_none() {
            return Err(format!(
                "source {name}: max_tools applies to gateway_url only"
            ));
        }
        if self.qualifier.is_some() && self.runtime_arn.is_none() {
            return Err(format!(
                "source {name}: qualifier applies to runtime_arn only"
            ));
        }
        match (&self.url, &self.runtime_arn, &self.gateway_url) {
            (Some(url), None, None) => Ok(Endpoint::Direct {
                url: http_url("url", url)?,
            }),
            (None, Some(arn), None) => {
                if !is_runtime_arn(arn) {
                    return Err(format!(
                        "source {name}: runtime_arn {arn:?} must look like arn:aws:bedrock-agentcore:<region>:<account>:runtime/<id>"
                    ));
                }
                let qualifier = self.qualifier.as_deref().unwrap_or(DEFAULT_QUALIFIER);
                Ok(Endpoint::Runtime {
                    url: runtime_invocation_url(agentcore_base, arn, qualifier),
                })
            }
            (None, None, Some(url)) => Ok(Endpoint::Gateway {
                url: http_url("gateway_url", url)?,
                max_tools: match self.max_tools {
                    Some(0) => {
                        return Err(format!("source {name}: max_tools must be at least 1"));
                    }
                    Some(max) => max,
                    None => DEFAULT_GATEWAY_MAX_TOOLS,
                },
            }),
            _ => Err(format!(
                "source {name}: give exactly one of url, runtime_arn or gateway_url"
            )),
        }
    }
}

fn is_runtime_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "bedrock-agentcore", region, account, resource]
        if !partition.is_empty() && !region.is_empty() && !account.is_empty()
            && resource.strip_prefix("runtime/").is_some_and(|id| !id.is_empty() && !id.contains('/')))
}

/// Why a source could not be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    #[error("MCP source {source_name} is unreachable: {detail}")]
    Unreachable { source_name: String, detail: String },
    #[error("MCP source {source_name} did not answer within {timeout_ms} ms")]
    Timeout {
        source_name: String,
        timeout_ms: u64,
    },
    #[error("MCP source {source_name} refused the call: JSON-RPC error {code}: {detail}")]
    Protocol {
        source_name: String,
        code: i32,
        detail: String,
    },
    #[error("MCP source {source_name} refused the credentials (HTTP 401)")]
    Refused { source_name: String },
    #[error(
        "MCP source {source_name} refused the caller's token (HTTP 401): it expired during the turn or is not accepted there"
    )]
    CallerTokenRefused { source_name: String },
    #[error(transparent)]
    Auth(#[from] OutboundAuthError),
}

impl SourceError {
    /// What the model (and the caller, who sees tool results) is told: one stable sentence per
    /// failure class, naming the source by its configured name and saying what to do. The
    /// cause stays in the `Display`, for the logs.
    pub fn plain(&self, source_name: &str) -> String {
        match self {
            SourceError::Timeout { .. } => {
                format!("the {source_name} tools did not answer in time; try again in a moment")
            }
            SourceError::Unreachable { .. } => {
                format!("the {source_name} tools are unavailable right now; try again in a moment")
            }
            SourceError::Protocol { detail, .. } if is_policy_denial(detail) => {
                policy_denial(source_name)
            }
            // Invalid parameters are the caller's to fix, in the source's own words, like an
            // `isError` result.
            SourceError::Protocol { code, detail, .. }
                if *code == rmcp::model::ErrorCode::INVALID_PARAMS.0 =>
            {
                format!("the {source_name} tools refused the arguments: {detail}")
            }
            SourceError::Protocol { .. } => {
                format!("the {source_name} tools could not run this call; answer without them")
            }
            SourceError::Refused { .. }
            | SourceError::Auth(
                OutboundAuthError::NoTokenAtHand { .. }
                | OutboundAuthError::Timeout { .. }
                | OutboundAuthError::Fetch { .. }
                | OutboundAuthError::Config { .. }
                | OutboundAuthError::MissingVariable { .. },
            ) => format!(
                "the {source_name} tools are unavailable right now because the agent could not sign in to them; try again later"
            ),
            SourceError::Auth(OutboundAuthError::MissingWorkloadToken { .. }) => format!(
                "the {source_name} tools are not available in this conversation because the request was not signed by the runtime; tell the customer you cannot look that up now"
            ),
            SourceError::Auth(OutboundAuthError::MissingCallerToken { .. }) => format!(
                "the {source_name} tools are not available in this conversation because the request carried no sign-in to pass on to them; tell the customer to sign in to use them"
            ),
            SourceError::CallerTokenRefused { .. } => format!(
                "the {source_name} tools did not accept the customer's sign-in, which has probably expired; tell the customer to sign in again and then ask again"
            ),
        }
    }

    /// Whether a request holding a workload access token should prepare again and retry: its
    /// Identity token was gone or refused.
    fn wants_a_new_token(&self) -> bool {
        matches!(
            self,
            SourceError::Refused { .. }
                | SourceError::Auth(OutboundAuthError::NoTokenAtHand { .. })
        )
    }
}

/// Whether an error message (of a JSON-RPC error, or the text of an `isError` result) is an
/// AgentCore Gateway policy denial. A denied call is refused with the policy engine's
/// `AuthorizationError` ("The policy engine denied the request",
/// <https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/policy-use-errors.html>); the
/// gateway's text reads "AuthorizeActionException - Tool Execution Denied: Tool call not allowed
/// due to policy enforcement", the reason in brackets (section "Policy responses" of
/// <https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/use-gateway-with-policy.html>).
/// Matched on the words, case-insensitively, so either shape and a reworded message count.
pub fn is_policy_denial(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("authorizationerror")
        || message.contains("authorizeactionexception")
        || (message.contains("policy")
            && (message.contains("denied") || message.contains("not allowed")))
}

/// What the model is told when `source_name`'s policies deny a call: that it was a policy
/// decision about this customer, not a fault, so it must not retry.
pub fn policy_denial(source_name: &str) -> String {
    format!(
        "the {source_name} tools refused this call: their access policy does not allow it for this customer; do not try it again, and tell the customer it is not something you can do for them"
    )
}

type Client = RunningService<RoleClient, ()>;

/// A configured source and its open connection, if any.
pub struct McpSource {
    pub name: String,
    pub endpoint: Endpoint,
    auth: Arc<OutboundAuth>,
    http: reqwest::Client,
    timeout: Duration,
    client: Mutex<Option<Arc<Client>>>,
    /// Why the latest listing failed; `None` once one succeeds.
    listing_failure: std::sync::Mutex<Option<SourceError>>,
}

impl std::fmt::Debug for McpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpSource")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl McpSource {
    /// Builds the source. Makes no network call.
    pub fn new(
        config: &SourceConfig,
        endpoint: Endpoint,
        sdk: &aws_config::SdkConfig,
        default_timeout: Duration,
    ) -> Result<Self, SourceError> {
        let timeout = config
            .timeout_ms
            .map_or(default_timeout, Duration::from_millis);
        let auth = OutboundAuth::new(
            &config.name,
            config.auth.as_ref().unwrap_or(&AuthConfig::None),
            sdk,
            timeout,
        )?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| SourceError::Unreachable {
                source_name: config.name.clone(),
                detail: e.to_string(),
            })?;
        Ok(Self {
            name: config.name.clone(),
            endpoint,
            auth: Arc::new(auth),
            http,
            timeout,
            client: Mutex::new(None),
            listing_failure: std::sync::Mutex::new(None),
        })
    }

    /// Whether this source's tokens can only be had with a request's workload access token.
    pub fn needs_workload_token(&self) -> bool {
        self.auth.needs_workload_token()
    }

    /// Whether every request to this source carries the caller's own token.
    pub fn needs_caller_token(&self) -> bool {
        self.auth.needs_caller_token()
    }

    /// Makes sure a token is at hand for a request carrying `tokens`.
    pub async fn prepare(&self, tokens: RequestTokens<'_>) -> Result<(), SourceError> {
        Ok(self.auth.prepare(tokens).await?)
    }

    /// The shared connection, opened on first use.
    async fn client(&self) -> Result<Arc<Client>, SourceError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = Arc::new(
            self.connect(AuthorizedClient::new(self.http.clone(), self.auth.clone()))
                .await?,
        );
        *slot = Some(client.clone());
        Ok(client)
    }

    /// A new connection whose every HTTP request goes through `http`.
    async fn connect(&self, http: AuthorizedClient) -> Result<Client, SourceError> {
        let transport = StreamableHttpClientTransport::with_client(
            http,
            StreamableHttpClientTransportConfig::with_uri(self.endpoint.url().to_owned()),
        );
        tokio::time::timeout(self.timeout, ().serve(transport))
            .await
            .map_err(|_| self.timeout_error())?
            .map_err(|e| match &e {
                ClientInitializeError::TransportError { error, .. } => self
                    .credentials_failure(error)
                    .unwrap_or_else(|| self.unreachable(&e)),
                _ => self.unreachable(&e),
            })
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

    fn unreachable(&self, error: &dyn std::error::Error) -> SourceError {
        SourceError::Unreachable {
            source_name: self.name.clone(),
            detail: error.to_string(),
        }
    }

    fn protocol(&self, error: &rmcp::model::ErrorData) -> SourceError {
        SourceError::Protocol {
            source_name: self.name.clone(),
            code: error.code.0,
            detail: error.message.to_string(),
        }
    }

    /// The credentials failure inside a transport error, if that is what it is: the auth layer
    /// could not produce credentials, or the source refused them.
    fn credentials_failure(&self, error: &DynamicTransportError) -> Option<SourceError> {
        match error
            .error
            .downcast_ref::<StreamableHttpError<AuthorizedHttpError>>()?
        {
            StreamableHttpError::Client(AuthorizedHttpError::Auth(auth)) => {
                Some(SourceError::Auth(auth.clone()))
            }
            StreamableHttpError::Client(AuthorizedHttpError::Refused { .. }) => {
                let source_name = self.name.clone();
                Some(if self.needs_caller_token() {
                    SourceError::CallerTokenRefused { source_name }
                } else {
                    SourceError::Refused { source_name }
                })
            }
            _ => None,
        }
    }

    /// Prepares credentials for a request carrying `tokens` and runs `request` on a
    /// connection: the shared one, or for a `caller_token` source one opened for this request
    /// alone with its caller token, dropped at the end. When an Identity token was gone or
    /// refused, prepares again with the same workload token (so a new token is fetched with this
    /// request's own) and runs it once more. A refused request was not processed, so repeating
    /// it is safe.
    async fn for_request<T, Fut>(
        &self,
        tokens: RequestTokens<'_>,
        request: impl Fn(Arc<Client>) -> Fut,
    ) -> Result<T, SourceError>
    where
        Fut: std::future::Future<Output = Result<T, SourceError>>,
    {
        self.prepare(tokens).await?;
        if self.needs_caller_token() {
            let caller_token = tokens.caller.cloned().ok_or_else(|| {
                SourceError::Auth(OutboundAuthError::MissingCallerToken {
                    source_name: self.name.clone(),
                })
            })?;
            let http =
                AuthorizedClient::for_caller(self.http.clone(), self.auth.clone(), caller_token);
            let client = Arc::new(self.connect(http).await?);
            return request(client).await;
        }
        match request(self.client().await?).await {
            Err(error)
                if error.wants_a_new_token()
                    && self.needs_workload_token()
                    && tokens.workload.is_some() =>
            {
                tracing::info!(source = %self.name, %error, "fetching a new token with this request's workload access token and retrying once");
                self.prepare(tokens).await?;
                request(self.client().await?).await
            }
            other => other,
        }
    }

    /// Every tool the source offers, listed for a request carrying `tokens` (none for the
    /// background listing). The outcome is remembered for [`Self::listing_failure`], except
    /// for a `caller_token` source, whose listing is the caller's own.
    pub async fn list_tools(&self, tokens: RequestTokens<'_>) -> Result<Vec<Tool>, SourceError> {
        let listed = self
            .for_request(tokens, |client| async move {
                self.within_timeout(client.list_all_tools()).await
            })
            .await;
        if !self.needs_caller_token() {
            *self
                .listing_failure
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                listed.as_ref().err().cloned();
        }
        listed
    }

    /// Why the latest listing failed, if it did.
    pub fn listing_failure(&self) -> Option<SourceError> {
        self.listing_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Calls `tool` (its name at this source) with `arguments` for a request carrying
    /// `tokens`, in a client span whose trace context travels in the request's `_meta` (and so
    /// in its HTTP headers).
    pub async fn call(
        &self,
        tool: &str,
        arguments: JsonObject,
        tokens: RequestTokens<'_>,
    ) -> Result<CallToolResult, SourceError> {
        let span = tracing::info_span!(
            "mcp_call",
            otel.name = format!("tools/call {tool}"),
            otel.kind = "client",
            "mcp.method.name" = "tools/call",
            "gen_ai.tool.name" = tool,
            "server.address" = %self.name,
        );
        let meta = MetaObject(service_runtime::trace_meta::inject(&span));
        let mut request = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        request.meta = Some(RequestMetaObject(meta));
        self.for_request(tokens, |client| {
            let request = request.clone();
            async move { self.within_timeout(client.call_tool(request)).await }
        })
        .instrument(span)
        .await
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
            Ok(Err(rmcp::ServiceError::McpError(error))) => return Err(self.protocol(&error)),
            Ok(Err(rmcp::ServiceError::TransportSend(error))) => self
                .credentials_failure(&error)
                .unwrap_or_else(|| self.unreachable(&error)),
            Ok(Err(e)) => self.unreachable(&e),
            Err(_) => self.timeout_error(),
        };
        self.forget_client().await;
        Err(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> SourceConfig {
        serde_json::from_value(json).expect("valid config")
    }

    #[test]
    fn a_policy_denial_reads_as_one_and_other_protocol_errors_do_not() {
        let protocol = |code: i32, detail: &str| SourceError::Protocol {
            source_name: "support".to_owned(),
            code,
            detail: detail.to_owned(),
        };
        let denial = protocol(
            -32002,
            "AuthorizeActionException - Tool Execution Denied: Tool call not allowed due to policy enforcement [Policy evaluation denied due to no determining policies]",
        )
        .plain("support");
        assert!(
            denial.contains("access policy does not allow it"),
            "{denial}"
        );
        assert!(denial.contains("do not try it again"), "{denial}");
        for denied in [
            "AuthorizationError: The policy engine denied the request",
            "Tool call not allowed due to policy enforcement",
        ] {
            assert!(is_policy_denial(denied), "{denied}");
        }
        for other in [
            "Unknown tool: support___nope",
            "the policy number is invalid",
            "denied: disk full",
        ] {
            assert!(!is_policy_denial(other), "{other}");
        }
        assert_eq!(
            protocol(
                rmcp::model::ErrorCode::INVALID_PARAMS.0,
                "customer_id is required"
            )
            .plain("support"),
            "the support tools refused the arguments: customer_id is required"
        );
    }

    #[test]
    fn caller_token_failures_say_what_the_customer_must_do_without_the_token() {
        let refused = SourceError::CallerTokenRefused {
            source_name: "support".to_owned(),
        };
        assert!(refused.plain("support").contains("sign in again"));
        assert!(refused.to_string().contains("HTTP 401"));
        let missing = SourceError::Auth(OutboundAuthError::MissingCallerToken {
            source_name: "support".to_owned(),
        });
        assert!(missing.plain("support").contains("no sign-in"));
    }

    #[test]
    fn a_runtime_arn_becomes_a_fully_encoded_invocation_url() {
        let source = config(serde_json::json!({
            "name": "support",
            "runtime_arn": "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/support_mcp-AbC123",
        }));
        let endpoint = source
            .endpoint("https://bedrock-agentcore.us-east-1.amazonaws.com/")
            .expect("valid");
        assert_eq!(
            endpoint.url(),
            "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fsupport_mcp-AbC123/invocations?qualifier=DEFAULT"
        );
    }

    #[test]
    fn a_source_needs_exactly_one_valid_endpoint() {
        let base = "https://bedrock-agentcore.us-east-1.amazonaws.com";
        for bad in [
            serde_json::json!({"name": "s"}),
            serde_json::json!({"name": "s", "url": "http://a/mcp", "gateway_url": "http://b/mcp"}),
            serde_json::json!({"name": "s", "url": "ftp://a/mcp"}),
            serde_json::json!({"name": "s", "runtime_arn": "arn:aws:lambda:us-east-1:1:function/x"}),
            serde_json::json!({"name": "s", "url": "http://a/mcp", "max_tools": 3}),
            serde_json::json!({"name": "s", "gateway_url": "http://a/mcp", "max_tools": 0}),
            serde_json::json!({"name": "bad name", "url": "http://a/mcp"}),
        ] {
            assert!(config(bad.clone()).endpoint(base).is_err(), "{bad}");
        }
        let gateway = config(serde_json::json!({"name": "g", "gateway_url": "https://g/mcp"}));
        assert_eq!(
            gateway.endpoint(base),
            Ok(Endpoint::Gateway {
                url: "https://g/mcp".to_owned(),
                max_tools: DEFAULT_GATEWAY_MAX_TOOLS
            })
        );
    }
}
