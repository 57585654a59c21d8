//! Outbound authentication for the agent's MCP tool sources: the credentials the agent presents
//! to an AgentCore Gateway or an MCP server in an AgentCore runtime.
//!
//! Each source names one [`AuthConfig`]; [`OutboundAuth`] turns it into the headers of each
//! HTTP request ([`OutboundAuth::headers`]), which `authorized_http` adds to every MCP request:
//!
//! - `none`: no header;
//! - `bearer_env`: a static bearer token read once at start from an environment variable;
//! - `agentcore_identity`: a machine-to-machine token from AgentCore Identity
//!   (`GetResourceOauth2Token`, flow `M2M`), paid for with the workload access token (WAT) the
//!   runtime passes with each request. The only way to a Cognito token inside a private VPC.
//! - `client_credentials`: the OAuth2 client-credentials grant against the issuer's token URL,
//!   with HTTP Basic client authentication (as Cognito's `/oauth2/token` expects). The client
//!   secret is read once from Secrets Manager; the secret may hold the plain client secret or a
//!   JSON object with a string `client_secret` key.
//! - `sigv4`: SigV4 with the execution role's credentials (IAM-authorized runtimes and gateways).
//! - `caller_token`: the caller's own bearer token, exactly as the agent's inbound auth took it
//!   from the `/invocations` request being served (see "Caller tokens" below). For an AgentCore
//!   Gateway whose policies decide per customer.
//!
//! Tokens are cached until shortly before they expire (60 s before, or half the lifetime for
//! tokens that live less than two minutes) and concurrent callers share one fetch. A source
//! that answers 401 makes the caller [`invalidate`](OutboundAuth::invalidate) the token, so the
//! next request fetches a new one. Expiry comes from the token endpoint's `expires_in`; Identity
//! gives none, so it is read from the JWT's `exp` (unverified: the token is only forwarded, its
//! audience verifies it), and a token that is no JWT is kept for [`FALLBACK_LIFETIME`].
//!
//! ## Workload access tokens
//!
//! An Identity token is fetched only in [`OutboundAuth::prepare`], with the workload access
//! token of the request being served, which the caller passes in; nothing remembers a WAT
//! after the call that brought it. [`OutboundAuth::headers`] never fetches one: it sends the
//! cached token or fails with [`OutboundAuthError::NoTokenAtHand`], and the request's own code
//! (`mcp`) prepares again with its own WAT and retries once. So a fetch made for request R
//! always carries R's WAT, however many requests run at once, and a WAT is never used after
//! its request (when it may have expired, or belong to a caller who has left).
//!
//! A request without a WAT gets [`OutboundAuthError::MissingWorkloadToken`] from `prepare`
//! even when a token is cached: the runtime passes a WAT only for requests it vouches for (a
//! JWT authorizer, or SigV4 with a runtime user id), and a request it did not vouch for must not
//! ride on a token another request's WAT paid for.
//!
//! Requests that do carry a WAT share the cached token. That is safe because the flow is `M2M`:
//! the token is the workload's own machine token (the credential provider's client
//! credentials), the same whichever request's WAT paid for it, and it carries no user's
//! identity or consent. The WAT only proves to Identity that the caller is this workload,
//! serving a request the runtime vouched for. What each customer may see is decided per call by
//! the tool layer's access rules, never by the token.
//!
//! ## Caller tokens
//!
//! A `caller_token` source gets `Authorization: Bearer <token>` with the token of the request
//! being served, which the request's own code passes in (to [`OutboundAuth::prepare`] and to
//! [`OutboundAuth::headers`]) and which nothing shared ever holds: there is no cache for it, and
//! the HTTP client that carries it (`authorized_http`) is built for that one request and dropped
//! with it (`mcp` opens a connection per request for such a source). So a token is never sent
//! for another caller and never used after its request; the same invariant as for workload
//! access tokens, held more strictly, since this token is the user's own identity. A request
//! without one ([`OutboundAuthError::MissingCallerToken`]) is offered none of the source's
//! tools. A 401 is not retried: only the caller can get a new token, by signing in again, and
//! the model is told to say so.
//!
//! Forwarding it is safe, and is what makes the Gateway's policies judge the real customer:
//!
//! - Only a token the agent's inbound auth accepted reaches here (`AUTH_MODE` `verify` or
//!   `agentcore`; the agent refuses to start with `AUTH_MODE=none` and a `caller_token`
//!   source, since it would have no verified token to forward).
//! - The Gateway's inbound authorizer (CUSTOM_JWT) admits only tokens of its issuer whose `aud`
//!   is in its allowed audience: deployed, the same user app client the runtime's authorizer
//!   allows (<https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/gateway-inbound-auth.html>).
//!   The token is no broader at the Gateway than at the agent, and no other service accepts it.
//! - The principal of every policy decision is the token's `sub`, with its claims as tags
//!   (<https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/use-gateway-with-policy.html>):
//!   the customer's own identity, not the agent's, so a confused or manipulated agent cannot
//!   reach past what that customer may do. `tools/list` is filtered the same way, which is why
//!   such a source is listed per turn with the caller's token and never in the background.
//! - The token expires: Cognito ID tokens live one hour unless the app client sets otherwise
//!   (5 minutes to 1 day; <https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-id-token.html>,
//!   and `IdTokenValidity` in
//!   <https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_CreateUserPoolClient.html>;
//!   the deployed client sets 60 minutes). A turn that outlives it gets a 401 from the Gateway;
//!   that call's result tells the model the customer must sign in again, and the turn goes on.
//!
//! Every network call (Identity, Secrets Manager, the token endpoint, the credentials provider)
//! has the source's timeout. Tokens, secrets, workload and caller tokens never appear in errors or logs:
//! fetches are logged at info with the source name and the lifetime only.
//!
//! The AWS clients take their endpoints from the `SdkConfig`, so the standard variables
//! `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE` and `AWS_ENDPOINT_URL_SECRETS_MANAGER` (or
//! `AWS_ENDPOINT_URL`) point them at local stand-ins.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use agent_protocol::Secret;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_bedrockagentcore::types::Oauth2FlowType;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use base64::Engine;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use serde::Deserialize;

/// How a source authenticates (the `auth` object of a source's configuration).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    None,
    /// A static bearer token read once at start from an environment variable.
    BearerEnv {
        variable: String,
    },
    /// AgentCore Identity M2M: GetResourceOauth2Token with the request's workload access token.
    AgentcoreIdentity {
        provider_name: String,
        #[serde(default)]
        scopes: Vec<String>,
    },
    /// OAuth2 client credentials against a token URL; the client secret read from Secrets
    /// Manager (a secret holding the plain secret, or JSON with a string `client_secret` key).
    ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret_arn: String,
        #[serde(default)]
        scopes: Vec<String>,
    },
    /// SigV4 with the execution role's credentials (IAM-authorized runtimes and gateways).
    Sigv4 {
        #[serde(default = "default_sigv4_service")]
        service: String,
    },
    /// The caller's own bearer token, as the agent's inbound auth accepted it for the request
    /// being served (see the module doc, "Caller tokens").
    CallerToken,
}

/// The tokens one request brings for its outbound calls, from its own headers. Borrowed for
/// the length of a call: nothing keeps them.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestTokens<'a> {
    /// The workload access token AgentCore passed with the request.
    pub workload: Option<&'a Secret>,
    /// The caller's bearer token that inbound auth accepted.
    pub caller: Option<&'a Secret>,
}

fn default_sigv4_service() -> String {
    "bedrock-agentcore".to_owned()
}

/// Why no credentials could be had for a source. Never carries a token or a secret. These
/// messages are for the logs: they name services, ARNs and URLs; the model and the caller get
/// the plain words of `mcp::SourceError::plain`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OutboundAuthError {
    #[error("MCP source {source_name}: invalid auth configuration: {detail}")]
    Config { source_name: String, detail: String },
    #[error(
        "MCP source {source_name}: environment variable {variable} (auth bearer_env) is not set or not valid Unicode"
    )]
    MissingVariable {
        source_name: String,
        variable: String,
    },
    #[error(
        "MCP source {source_name} needs a token from AgentCore Identity, but the request carried no workload access token. \
         The runtime passes one only when inbound auth is a JWT authorizer; SigV4 inbound without \
         X-Amzn-Bedrock-AgentCore-Runtime-User-Id gives none. Use a JWT authorizer on the runtime, \
         or another auth type for this source"
    )]
    MissingWorkloadToken { source_name: String },
    #[error(
        "MCP source {source_name} forwards the caller's token (auth caller_token), but the request carried no bearer token"
    )]
    MissingCallerToken { source_name: String },
    #[error(
        "MCP source {source_name}: no AgentCore Identity token is at hand (it expired or was refused since the request prepared it); \
         only a request's own workload access token fetches a new one"
    )]
    NoTokenAtHand { source_name: String },
    #[error("MCP source {source_name}: {service} did not answer within {timeout_ms} ms")]
    Timeout {
        source_name: String,
        service: &'static str,
        timeout_ms: u64,
    },
    #[error("MCP source {source_name}: {service} failed: {detail}")]
    Fetch {
        source_name: String,
        service: &'static str,
        detail: String,
    },
}

const IDENTITY: &str = "AgentCore Identity (GetResourceOauth2Token)";
const TOKEN_ENDPOINT: &str = "the OAuth2 token endpoint";
const SECRETS_MANAGER: &str = "Secrets Manager (GetSecretValue)";
const CREDENTIALS: &str = "the AWS credentials provider";
const SIGNING: &str = "SigV4 signing";

/// How long a token is kept when its lifetime cannot be known (no `expires_in`, no JWT `exp`).
pub const FALLBACK_LIFETIME: Duration = Duration::from_secs(300);
/// How long credentials without an expiry (static keys) are kept before asking the provider again.
const STATIC_CREDENTIALS_LIFETIME: Duration = Duration::from_secs(3600);
/// How long before expiry a token is replaced (less for short-lived tokens, see [`reuse_for`]).
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// How long after a fetch a value with `lifetime` left is still used: until 60 s before it
/// expires, or until half its lifetime for values that live less than two minutes (so a
/// short-lived token is still reused rather than fetched for every request).
pub fn reuse_for(lifetime: Duration) -> Duration {
    lifetime - REFRESH_MARGIN.min(lifetime / 2)
}

/// The `exp` claim of a JWT, read without verifying the signature. `None` when `token` is no
/// JWT or has no numeric `exp`.
pub fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_f64()?;
    if !exp.is_finite() || exp < 0.0 {
        return None;
    }
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs_f64(exp))
}

/// The remaining lifetime of a token fetched now: from `expires_in` when the issuer gave it,
/// else from the JWT's `exp`, else [`FALLBACK_LIFETIME`].
fn token_lifetime(expires_in: Option<u64>, token: &str) -> Duration {
    if let Some(seconds) = expires_in {
        return Duration::from_secs(seconds);
    }
    match jwt_expiry(token) {
        Some(exp) => exp
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
        None => FALLBACK_LIFETIME,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A value worth reusing until `reuse_until`, with single-flight refresh: callers that find it
/// missing or stale queue on `fetching`, and all but the first find it fresh once they get in.
struct Cache<T> {
    current: Mutex<Option<(T, Instant)>>,
    fetching: tokio::sync::Mutex<()>,
}

impl<T: Clone> Cache<T> {
    fn new() -> Self {
        Self {
            current: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn usable(&self) -> Option<T> {
        lock(&self.current)
            .as_ref()
            .filter(|(_, reuse_until)| Instant::now() < *reuse_until)
            .map(|(value, _)| value.clone())
    }

    /// The cached value, or a fresh one from `fetch` (which returns the value and its lifetime).
    async fn get<E, Fut>(&self, fetch: impl FnOnce() -> Fut) -> Result<T, E>
    where
        Fut: Future<Output = Result<(T, Duration), E>>,
    {
        if let Some(value) = self.usable() {
            return Ok(value);
        }
        let _turn = self.fetching.lock().await;
        if let Some(value) = self.usable() {
            return Ok(value);
        }
        let fetched_at = Instant::now();
        let (value, lifetime) = fetch().await?;
        *lock(&self.current) = Some((value.clone(), fetched_at + reuse_for(lifetime)));
        Ok(value)
    }

    fn clear(&self) {
        lock(&self.current).take();
    }

    /// Clears the value only if `refused` says it is the cached one (a newer value fetched by
    /// a concurrent caller is kept).
    fn clear_if(&self, refused: impl FnOnce(&T) -> bool) {
        let mut current = lock(&self.current);
        if current.as_ref().is_some_and(|(value, _)| refused(value)) {
            current.take();
        }
    }
}

/// The outbound credentials of one source.
pub struct OutboundAuth {
    source_name: String,
    timeout: Duration,
    method: AuthMethod,
}

impl std::fmt::Debug for OutboundAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.method {
            AuthMethod::None => "none",
            AuthMethod::Bearer(_) => "bearer_env",
            AuthMethod::Identity(_) => "agentcore_identity",
            AuthMethod::ClientCredentials(_) => "client_credentials",
            AuthMethod::Sigv4(_) => "sigv4",
            AuthMethod::CallerToken => "caller_token",
        };
        f.debug_struct("OutboundAuth")
            .field("source_name", &self.source_name)
            .field("type", &kind)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

enum AuthMethod {
    None,
    /// The whole `Authorization` value, marked sensitive.
    Bearer(HeaderValue),
    Identity(IdentityAuth),
    ClientCredentials(ClientCredentialsAuth),
    Sigv4(Sigv4Auth),
    /// Holds nothing: the token comes with each request (see the module doc).
    CallerToken,
}

struct IdentityAuth {
    client: aws_sdk_bedrockagentcore::Client,
    provider_name: String,
    scopes: Vec<String>,
    /// The `Authorization` value, shared by every request that brings a workload access token
    /// (see the module doc).
    token: Cache<HeaderValue>,
}

struct ClientCredentialsAuth {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret_arn: String,
    scopes: Vec<String>,
    secrets: aws_sdk_secretsmanager::Client,
    client_secret: tokio::sync::OnceCell<Secret>,
    /// The `Authorization` value.
    token: Cache<HeaderValue>,
}

struct Sigv4Auth {
    service: String,
    region: String,
    provider: SharedCredentialsProvider,
    credentials: Cache<Credentials>,
}

/// The JSON answer of an OAuth2 token endpoint. No `Debug`: it holds the token.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    token_type: Option<String>,
}

/// The JSON error of an OAuth2 token endpoint (RFC 6749 section 5.2).
#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl OutboundAuth {
    /// Builds it; makes no network call (reads `bearer_env`'s variable now; errors name the
    /// variable).
    pub fn new(
        source_name: &str,
        config: &AuthConfig,
        aws: &aws_config::SdkConfig,
        timeout: std::time::Duration,
    ) -> Result<Self, OutboundAuthError> {
        let config_error = |detail: String| OutboundAuthError::Config {
            source_name: source_name.to_owned(),
            detail,
        };
        let region = || {
            aws.region().map(ToString::to_string).ok_or_else(|| {
                config_error("no AWS region is configured (set AWS_REGION)".to_owned())
            })
        };
        let check_scopes = |scopes: &[String]| match scopes
            .iter()
            .find(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            Some(bad) => Err(config_error(format!(
                "scope {bad:?} must be non-empty and without spaces"
            ))),
            None => Ok(()),
        };
        let method = match config {
            AuthConfig::None => AuthMethod::None,
            AuthConfig::BearerEnv { variable } => {
                let token = std::env::var(variable)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| OutboundAuthError::MissingVariable {
                        source_name: source_name.to_owned(),
                        variable: variable.clone(),
                    })?;
                AuthMethod::Bearer(bearer_value(token.trim()).ok_or_else(|| {
                    config_error(format!(
                        "the value of {variable} is not usable in an HTTP header"
                    ))
                })?)
            }
            AuthConfig::AgentcoreIdentity {
                provider_name,
                scopes,
            } => {
                if provider_name.is_empty() {
                    return Err(config_error("provider_name is empty".to_owned()));
                }
                check_scopes(scopes)?;
                region()?;
                AuthMethod::Identity(IdentityAuth {
                    client: aws_sdk_bedrockagentcore::Client::new(aws),
                    provider_name: provider_name.clone(),
                    scopes: scopes.clone(),
                    token: Cache::new(),
                })
            }
            AuthConfig::ClientCredentials {
                token_url,
                client_id,
                client_secret_arn,
                scopes,
            } => {
                if !(token_url.starts_with("https://") || token_url.starts_with("http://")) {
                    return Err(config_error(format!(
                        "token_url {token_url:?} must be http:// or https://"
                    )));
                }
                if client_id.is_empty() || client_id.contains(':') {
                    return Err(config_error(
                        "client_id must be non-empty and without ':'".to_owned(),
                    ));
                }
                if !client_secret_arn.starts_with("arn:") {
                    return Err(config_error(format!(
                        "client_secret_arn {client_secret_arn:?} is not an ARN"
                    )));
                }
                check_scopes(scopes)?;
                region()?;
                // The timeout is applied around the whole call (see `within_timeout`).
                let http = reqwest::Client::builder()
                    // A token endpoint has no reason to redirect; never send the client
                    // secret on to another address.
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| config_error(format!("cannot build an HTTP client: {e}")))?;
                AuthMethod::ClientCredentials(ClientCredentialsAuth {
                    http,
                    token_url: token_url.clone(),
                    client_id: client_id.clone(),
                    client_secret_arn: client_secret_arn.clone(),
                    scopes: scopes.clone(),
                    secrets: aws_sdk_secretsmanager::Client::new(aws),
                    client_secret: tokio::sync::OnceCell::new(),
                    token: Cache::new(),
                })
            }
            AuthConfig::Sigv4 { service } => {
                if service.is_empty() {
                    return Err(config_error("the SigV4 service name is empty".to_owned()));
                }
                let provider = aws.credentials_provider().ok_or_else(|| {
                    config_error("no AWS credentials provider is configured".to_owned())
                })?;
                AuthMethod::Sigv4(Sigv4Auth {
                    service: service.clone(),
                    region: region()?,
                    provider,
                    credentials: Cache::new(),
                })
            }
            AuthConfig::CallerToken => AuthMethod::CallerToken,
        };
        Ok(Self {
            source_name: source_name.to_owned(),
            timeout,
            method,
        })
    }

    /// The source these credentials are for.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// Whether tokens can only be had with a request's workload access token (Identity).
    pub fn needs_workload_token(&self) -> bool {
        matches!(self.method, AuthMethod::Identity(_))
    }

    /// Whether every request needs the caller's own token (`caller_token`).
    pub fn needs_caller_token(&self) -> bool {
        matches!(self.method, AuthMethod::CallerToken)
    }

    /// Before a call made for a request with `tokens`: makes sure a usable token is at hand.
    /// Client credentials fetch one when needed; none/bearer_env/sigv4 have nothing to prepare.
    ///
    /// Identity needs the request's workload access token: without one it fails with
    /// [`OutboundAuthError::MissingWorkloadToken`] even when a token is cached (a token another
    /// request's WAT paid for is not used for a request that brought none); with one, a missing
    /// or stale token is fetched with exactly that WAT. `caller_token` needs the caller's token
    /// ([`OutboundAuthError::MissingCallerToken`] without one) and keeps nothing.
    pub async fn prepare(&self, tokens: RequestTokens<'_>) -> Result<(), OutboundAuthError> {
        match &self.method {
            AuthMethod::None | AuthMethod::Bearer(_) | AuthMethod::Sigv4(_) => Ok(()),
            AuthMethod::ClientCredentials(auth) => {
                self.client_credentials_token(auth).await.map(drop)
            }
            AuthMethod::Identity(auth) => {
                let workload_token = tokens
                    .workload
                    .ok_or_else(|| self.missing_workload_token())?;
                self.identity_token(auth, workload_token).await.map(drop)
            }
            AuthMethod::CallerToken => self.caller_bearer(tokens.caller).map(drop),
        }
    }

    /// The headers for one HTTP request with this exact body: `Authorization: Bearer <token>`
    /// (cached; client credentials fetch a missing or stale one, Identity never fetches here
    /// and fails with [`OutboundAuthError::NoTokenAtHand`] instead, see the module doc;
    /// `caller_token` sends `caller_token`, the token of the request this HTTP request serves),
    /// or the SigV4 headers (`authorization`, `x-amz-date`, `x-amz-security-token` with
    /// temporary credentials) signed over the method, the full URI (with its query) and the
    /// body.
    pub async fn headers(
        &self,
        method: &http::Method,
        uri: &str,
        body: &[u8],
        caller_token: Option<&Secret>,
    ) -> Result<http::HeaderMap, OutboundAuthError> {
        let bearer = |value: HeaderValue| HeaderMap::from_iter([(AUTHORIZATION, value)]);
        match &self.method {
            AuthMethod::None => Ok(HeaderMap::new()),
            AuthMethod::Bearer(value) => Ok(bearer(value.clone())),
            AuthMethod::CallerToken => self.caller_bearer(caller_token).map(bearer),
            AuthMethod::Identity(auth) => {
                auth.token
                    .usable()
                    .map(bearer)
                    .ok_or_else(|| OutboundAuthError::NoTokenAtHand {
                        source_name: self.source_name.clone(),
                    })
            }
            AuthMethod::ClientCredentials(auth) => {
                self.client_credentials_token(auth).await.map(bearer)
            }
            AuthMethod::Sigv4(auth) => {
                let credentials = self.aws_credentials(auth).await?;
                // Sign the URI exactly as the HTTP client will send it (the URL parser
                // normalises what it sends, e.g. the host's case and default ports).
                let url = reqwest::Url::parse(uri)
                    .map_err(|e| self.fetch_error(SIGNING, format!("URI {uri:?}: {e}")))?;
                service_runtime::sigv4::sign(
                    &credentials,
                    &auth.region,
                    &auth.service,
                    SystemTime::now(),
                    method,
                    url.as_str(),
                    body,
                )
                .map_err(|error| self.fetch_error(SIGNING, error.to_string()))
            }
        }
    }

    /// Forgets the cached token (after a 401) so the next [`headers`](Self::headers) fetches
    /// a new one. For SigV4, forgets the cached credentials.
    pub fn invalidate(&self) {
        match &self.method {
            AuthMethod::None | AuthMethod::Bearer(_) | AuthMethod::CallerToken => {}
            AuthMethod::Identity(auth) => auth.token.clear(),
            AuthMethod::ClientCredentials(auth) => auth.token.clear(),
            AuthMethod::Sigv4(auth) => auth.credentials.clear(),
        }
    }

    /// Like [`invalidate`](Self::invalidate), but only if the cached token is the one `sent`
    /// (the headers of a refused request) carried: when several requests are refused at once,
    /// the first refetches and the others keep its new token instead of discarding it.
    pub fn invalidate_refused(&self, sent: &http::HeaderMap) {
        let Some(refused) = sent.get(AUTHORIZATION) else {
            return;
        };
        match &self.method {
            AuthMethod::Identity(IdentityAuth { token, .. })
            | AuthMethod::ClientCredentials(ClientCredentialsAuth { token, .. }) => {
                token.clear_if(|cached| cached == refused);
            }
            AuthMethod::None
            | AuthMethod::Bearer(_)
            | AuthMethod::Sigv4(_)
            | AuthMethod::CallerToken => self.invalidate(),
        }
    }

    fn missing_workload_token(&self) -> OutboundAuthError {
        OutboundAuthError::MissingWorkloadToken {
            source_name: self.source_name.clone(),
        }
    }

    /// `Bearer <caller_token>` as a sensitive header value. A token inbound auth accepted is
    /// always header-safe (it came in a header); anything else counts as no token.
    fn caller_bearer(
        &self,
        caller_token: Option<&Secret>,
    ) -> Result<HeaderValue, OutboundAuthError> {
        caller_token
            .and_then(|token| bearer_value(token.expose()))
            .ok_or_else(|| OutboundAuthError::MissingCallerToken {
                source_name: self.source_name.clone(),
            })
    }

    fn fetch_error(&self, service: &'static str, detail: String) -> OutboundAuthError {
        OutboundAuthError::Fetch {
            source_name: self.source_name.clone(),
            service,
            detail,
        }
    }

    /// Runs one network call with the source's timeout.
    async fn within_timeout<T>(
        &self,
        service: &'static str,
        call: impl Future<Output = Result<T, OutboundAuthError>>,
    ) -> Result<T, OutboundAuthError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(OutboundAuthError::Timeout {
                    source_name: self.source_name.clone(),
                    service,
                    timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                })
            })
    }

    /// The cached Identity token, or one fetched with `workload_token`: the WAT of the request
    /// this runs for. Callers that queue behind a concurrent fetch take its token; if that
    /// fetch fails, the next in line fetches with its own WAT.
    async fn identity_token(
        &self,
        auth: &IdentityAuth,
        workload_token: &Secret,
    ) -> Result<HeaderValue, OutboundAuthError> {
        auth.token
            .get(|| async {
                let call = async {
                    auth.client
                        .get_resource_oauth2_token()
                        .workload_identity_token(workload_token.expose())
                        .resource_credential_provider_name(&auth.provider_name)
                        .set_scopes(Some(auth.scopes.clone()))
                        .oauth2_flow(Oauth2FlowType::M2M)
                        .send()
                        .await
                        .map_err(|e| {
                            self.fetch_error(
                                IDENTITY,
                                format!("provider {}: {}", auth.provider_name, sdk_error_detail(&e)),
                            )
                        })
                };
                let answer = self.within_timeout(IDENTITY, call).await?;
                let token = answer.access_token().filter(|t| !t.is_empty()).ok_or_else(|| {
                    self.fetch_error(
                        IDENTITY,
                        format!(
                            "provider {}: the answer carried no access token (is the provider set up for M2M?)",
                            auth.provider_name
                        ),
                    )
                })?;
                let lifetime = token_lifetime(None, token);
                let value = bearer_value(token).ok_or_else(|| {
                    self.fetch_error(IDENTITY, "the access token is not usable in an HTTP header".to_owned())
                })?;
                tracing::info!(
                    source = %self.source_name,
                    provider = %auth.provider_name,
                    expires_in_s = lifetime.as_secs(),
                    "outbound token fetched from AgentCore Identity"
                );
                Ok((value, lifetime))
            })
            .await
    }

    async fn client_credentials_token(
        &self,
        auth: &ClientCredentialsAuth,
    ) -> Result<HeaderValue, OutboundAuthError> {
        auth.token
            .get(|| async {
                let secret = auth
                    .client_secret
                    .get_or_try_init(|| self.read_client_secret(auth))
                    .await?;
                let mut form = vec![("grant_type", "client_credentials".to_owned())];
                if !auth.scopes.is_empty() {
                    form.push(("scope", auth.scopes.join(" ")));
                }
                let call = async {
                    let response = auth
                        .http
                        .post(&auth.token_url)
                        .basic_auth(&auth.client_id, Some(secret.expose()))
                        .header(http::header::ACCEPT, "application/json")
                        .form(&form)
                        .send()
                        .await
                        .map_err(|e| self.fetch_error(TOKEN_ENDPOINT, request_error_detail(&e)))?;
                    let status = response.status();
                    let body = response
                        .bytes()
                        .await
                        .map_err(|e| self.fetch_error(TOKEN_ENDPOINT, request_error_detail(&e)))?;
                    Ok((status, body))
                };
                let (status, body) = self.within_timeout(TOKEN_ENDPOINT, call).await?;
                if !status.is_success() {
                    // Only the standard error fields are repeated: a body could echo anything.
                    let detail = match serde_json::from_slice::<TokenError>(&body) {
                        Ok(TokenError {
                            error,
                            error_description: Some(description),
                        }) => format!("HTTP {status}: {error} ({description})"),
                        Ok(TokenError { error, .. }) => format!("HTTP {status}: {error}"),
                        Err(_) => format!("HTTP {status}"),
                    };
                    return Err(
                        self.fetch_error(TOKEN_ENDPOINT, format!("{}: {detail}", auth.token_url))
                    );
                }
                let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
                    self.fetch_error(
                        TOKEN_ENDPOINT,
                        format!("{}: the answer is not a token answer: {e}", auth.token_url),
                    )
                })?;
                if let Some(kind) = answer.token_type.as_deref()
                    && !kind.eq_ignore_ascii_case("bearer")
                {
                    return Err(self.fetch_error(
                        TOKEN_ENDPOINT,
                        format!("{}: token_type {kind:?} is not Bearer", auth.token_url),
                    ));
                }
                let lifetime = token_lifetime(answer.expires_in, &answer.access_token);
                let value = bearer_value(&answer.access_token).ok_or_else(|| {
                    self.fetch_error(
                        TOKEN_ENDPOINT,
                        "the access token is not usable in an HTTP header".to_owned(),
                    )
                })?;
                tracing::info!(
                    source = %self.source_name,
                    expires_in_s = lifetime.as_secs(),
                    "outbound token fetched with client credentials"
                );
                Ok((value, lifetime))
            })
            .await
    }

    /// Reads the client secret: a secret string that is a JSON object must have a string
    /// `client_secret`; any other string is the client secret itself.
    async fn read_client_secret(
        &self,
        auth: &ClientCredentialsAuth,
    ) -> Result<Secret, OutboundAuthError> {
        let arn = &auth.client_secret_arn;
        let call = async {
            auth.secrets
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| {
                    self.fetch_error(SECRETS_MANAGER, format!("{arn}: {}", sdk_error_detail(&e)))
                })
        };
        let answer = self.within_timeout(SECRETS_MANAGER, call).await?;
        let text = answer.secret_string().ok_or_else(|| {
            self.fetch_error(
                SECRETS_MANAGER,
                format!("{arn} has no string value (binary secrets are not supported)"),
            )
        })?;
        let secret = parse_client_secret(text)
            .map_err(|problem| self.fetch_error(SECRETS_MANAGER, format!("{arn}: {problem}")))?;
        tracing::info!(source = %self.source_name, secret = %arn, "client secret read from Secrets Manager");
        Ok(secret)
    }

    async fn aws_credentials(&self, auth: &Sigv4Auth) -> Result<Credentials, OutboundAuthError> {
        auth.credentials
            .get(|| async {
                let call = async {
                    auth.provider.provide_credentials().await.map_err(|e| {
                        self.fetch_error(CREDENTIALS, DisplayErrorContext(&e).to_string())
                    })
                };
                let credentials = self.within_timeout(CREDENTIALS, call).await?;
                let lifetime = match credentials.expiry() {
                    Some(expiry) => expiry
                        .duration_since(SystemTime::now())
                        .unwrap_or(Duration::ZERO),
                    None => STATIC_CREDENTIALS_LIFETIME,
                };
                Ok((credentials, lifetime))
            })
            .await
    }
}

/// `Bearer <token>` as a sensitive header value, or `None` when the token cannot be one.
fn bearer_value(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The client secret held in a Secrets Manager secret string (see
/// [`OutboundAuth::read_client_secret`]). The problem never quotes the value.
fn parse_client_secret(text: &str) -> Result<Secret, &'static str> {
    let text = text.trim();
    let secret = if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|_| "the secret looks like JSON but does not parse")?;
        value
            .get("client_secret")
            .and_then(serde_json::Value::as_str)
            .ok_or("the secret is a JSON object without a string client_secret key")?
            .to_owned()
    } else {
        text.to_owned()
    };
    if secret.is_empty() {
        return Err("the client secret is empty");
    }
    Ok(Secret::new(secret))
}

/// What went wrong with an AWS SDK call: the service's error code and message, or the
/// dispatch failure. Neither carries the request's token.
fn sdk_error_detail<E, R>(error: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error.code() {
        Some(code) => format!("{code}: {}", error.message().unwrap_or("no message")),
        None => DisplayErrorContext(error).to_string(),
    }
}

/// A reqwest failure without its URL's query or anything the request carried.
fn request_error_detail(error: &reqwest::Error) -> String {
    let kind = if error.is_connect() {
        "cannot connect"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_redirect() {
        "redirected"
    } else {
        "request failed"
    };
    match std::error::Error::source(error) {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_owned(),
    }
}

#[cfg(test)]
impl<'a> RequestTokens<'a> {
    /// Only a workload access token (or none).
    fn workload(workload: Option<&'a Secret>) -> Self {
        Self {
            workload,
            caller: None,
        }
    }
}

#[cfg(test)]
impl OutboundAuth {
    /// A source with a fixed bearer token, for tests that need no environment variable.
    pub(crate) fn fixed_bearer(source_name: &str, token: &str) -> Self {
        Self {
            source_name: source_name.to_owned(),
            timeout: Duration::from_secs(5),
            method: AuthMethod::Bearer(bearer_value(token).expect("a header-safe token")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use http::Method;

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use serde_json::{Value, json};

    const SOURCE: &str = "gateway";
    const WAT: &str = "wat-secret-0001";
    /// Another request's workload access token, also valid.
    const OTHER_WAT: &str = "wat-secret-0002";
    const CLIENT_ID: &str = "client-1";
    const CLIENT_SECRET: &str = "s3cr3t-value-never-printed";
    const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gw-AbCdEf";

    // -----------------------------------------------------------------------------------------
    // Pure parts

    #[test]
    fn tokens_are_reused_until_a_minute_before_expiry_or_half_their_life() {
        assert_eq!(
            reuse_for(Duration::from_secs(3600)),
            Duration::from_secs(3540)
        );
        assert_eq!(reuse_for(Duration::from_secs(120)), Duration::from_secs(60));
        assert_eq!(reuse_for(Duration::from_secs(100)), Duration::from_secs(50));
        assert_eq!(
            reuse_for(Duration::from_secs(1)),
            Duration::from_millis(500)
        );
        assert_eq!(reuse_for(Duration::ZERO), Duration::ZERO);
    }

    fn jwt_with(payload: &Value) -> String {
        let encode = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        format!(
            "{}.{}.c2lnbmF0dXJl",
            encode(&json!({"alg": "RS256"})),
            encode(payload)
        )
    }

    #[test]
    fn the_jwt_exp_is_read_without_verifying() {
        let token = jwt_with(&json!({"exp": 2_000_000_000u64, "sub": "x"}));
        assert_eq!(
            jwt_expiry(&token),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000))
        );
        for not_usable in [
            "opaque-token".to_owned(),
            "a.b".to_owned(),
            "a.!!!.c".to_owned(),
            jwt_with(&json!({"sub": "no exp"})),
            jwt_with(&json!({"exp": "tomorrow"})),
            jwt_with(&json!({"exp": -5})),
        ] {
            assert_eq!(jwt_expiry(&not_usable), None, "{not_usable}");
        }
    }

    #[test]
    fn the_lifetime_comes_from_expires_in_then_exp_then_the_fallback() {
        let in_ten_minutes = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
            + 600;
        let jwt = jwt_with(&json!({"exp": in_ten_minutes}));
        assert_eq!(token_lifetime(Some(42), &jwt), Duration::from_secs(42));
        let from_exp = token_lifetime(None, &jwt);
        assert!(
            (Duration::from_secs(595)..=Duration::from_secs(600)).contains(&from_exp),
            "{from_exp:?}"
        );
        assert_eq!(token_lifetime(None, "opaque"), FALLBACK_LIFETIME);
        let expired = jwt_with(&json!({"exp": 1_000}));
        assert_eq!(token_lifetime(None, &expired), Duration::ZERO);
    }

    #[test]
    fn the_config_has_one_json_form_per_type() {
        let parse = |text: &str| serde_json::from_str::<AuthConfig>(text);
        assert_eq!(parse(r#"{"type":"none"}"#).expect("none"), AuthConfig::None);
        assert_eq!(
            parse(r#"{"type":"bearer_env","variable":"GW_TOKEN"}"#).expect("bearer"),
            AuthConfig::BearerEnv {
                variable: "GW_TOKEN".to_owned()
            }
        );
        assert_eq!(
            parse(r#"{"type":"agentcore_identity","provider_name":"gw-provider"}"#)
                .expect("identity"),
            AuthConfig::AgentcoreIdentity {
                provider_name: "gw-provider".to_owned(),
                scopes: vec![]
            }
        );
        assert_eq!(
            parse(
                r#"{"type":"client_credentials","token_url":"https://x/oauth2/token","client_id":"c",
                    "client_secret_arn":"arn:aws:secretsmanager:r:1:secret:s","scopes":["a/b"]}"#
            )
            .expect("client credentials"),
            AuthConfig::ClientCredentials {
                token_url: "https://x/oauth2/token".to_owned(),
                client_id: "c".to_owned(),
                client_secret_arn: "arn:aws:secretsmanager:r:1:secret:s".to_owned(),
                scopes: vec!["a/b".to_owned()],
            }
        );
        assert_eq!(
            parse(r#"{"type":"sigv4"}"#).expect("sigv4"),
            AuthConfig::Sigv4 {
                service: "bedrock-agentcore".to_owned()
            }
        );
        assert_eq!(
            parse(r#"{"type":"sigv4","service":"execute-api"}"#).expect("sigv4"),
            AuthConfig::Sigv4 {
                service: "execute-api".to_owned()
            }
        );
        assert_eq!(
            parse(r#"{"type":"caller_token"}"#).expect("caller token"),
            AuthConfig::CallerToken
        );
    }

    #[tokio::test]
    async fn a_caller_token_source_sends_exactly_the_requests_token_and_keeps_none() {
        let auth = OutboundAuth::new(
            SOURCE,
            &AuthConfig::CallerToken,
            &sdk_config("http://127.0.0.1:9"),
            Duration::from_secs(1),
        )
        .expect("valid");
        assert!(auth.needs_caller_token());
        assert!(!auth.needs_workload_token());
        let first = Secret::new("caller.token.one".to_owned());
        let second = Secret::new("caller.token.two".to_owned());
        let sent = |token: Option<&Secret>| {
            let auth = &auth;
            let token = token.cloned();
            async move {
                auth.headers(&Method::POST, "http://x/mcp", b"{}", token.as_ref())
                    .await
                    .map(|headers| headers[AUTHORIZATION].to_str().expect("ASCII").to_owned())
            }
        };
        auth.prepare(RequestTokens {
            workload: None,
            caller: Some(&first),
        })
        .await
        .expect("a caller token is all it needs");
        assert_eq!(
            sent(Some(&first)).await.expect("first"),
            "Bearer caller.token.one"
        );
        assert_eq!(
            sent(Some(&second)).await.expect("second"),
            "Bearer caller.token.two"
        );
        // Nothing was kept: a request without a token gets none of the others'.
        let error = sent(None).await.expect_err("no token at hand");
        assert!(matches!(
            error,
            OutboundAuthError::MissingCallerToken { .. }
        ));
        let error = auth
            .prepare(RequestTokens::workload(Some(&Secret::new(WAT.to_owned()))))
            .await
            .expect_err("a workload token is no caller token");
        assert_eq!(
            error.to_string(),
            "MCP source gateway forwards the caller's token (auth caller_token), but the request carried no bearer token"
        );
        assert!(!format!("{auth:?}").contains("caller.token"), "{auth:?}");
    }

    #[test]
    fn config_mistakes_are_refused_with_the_reason() {
        let error = |text: &str| {
            serde_json::from_str::<AuthConfig>(text)
                .expect_err(text)
                .to_string()
        };
        assert!(error(r#"{"type":"oauth"}"#).contains("unknown variant `oauth`"));
        assert!(error(r#"{"variable":"X"}"#).contains("missing field `type`"));
        assert!(error(r#"{"type":"bearer_env"}"#).contains("missing field `variable`"));
        assert!(
            error(r#"{"type":"bearer_env","variable":"X","scopes":[]}"#)
                .contains("unknown field `scopes`")
        );
        assert!(error(r#"{"type":"agentcore_identity","provider":"p"}"#).contains("unknown field"));
        assert!(error(r#"{"type":"sigv4","region":"us-east-1"}"#).contains("unknown field"));
    }

    fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "test",
            )))
            .build()
    }

    #[test]
    fn building_checks_the_settings_without_calling_anything() {
        let aws = sdk_config("http://127.0.0.1:9");
        let timeout = Duration::from_secs(1);
        let missing = OutboundAuth::new(
            SOURCE,
            &AuthConfig::BearerEnv {
                variable: "OUTBOUND_AUTH_TEST_SURELY_UNSET_VARIABLE".to_owned(),
            },
            &aws,
            timeout,
        )
        .expect_err("unset variable");
        assert_eq!(
            missing.to_string(),
            "MCP source gateway: environment variable OUTBOUND_AUTH_TEST_SURELY_UNSET_VARIABLE (auth bearer_env) is not set or not valid Unicode"
        );
        let no_region = aws_config::SdkConfig::builder().build();
        let error = OutboundAuth::new(
            SOURCE,
            &AuthConfig::Sigv4 {
                service: "bedrock-agentcore".to_owned(),
            },
            &no_region,
            timeout,
        )
        .expect_err("no credentials provider");
        assert!(
            error.to_string().contains("no AWS credentials provider"),
            "{error}"
        );
        let bad_arn = OutboundAuth::new(
            SOURCE,
            &AuthConfig::ClientCredentials {
                token_url: "https://issuer/oauth2/token".to_owned(),
                client_id: CLIENT_ID.to_owned(),
                client_secret_arn: "my-secret".to_owned(),
                scopes: vec![],
            },
            &aws,
            timeout,
        )
        .expect_err("not an ARN");
        assert!(bad_arn.to_string().contains("is not an ARN"), "{bad_arn}");
        let identity = OutboundAuth::new(
            SOURCE,
            &AuthConfig::AgentcoreIdentity {
                provider_name: "p".to_owned(),
                scopes: vec!["two words".to_owned()],
            },
            &aws,
            timeout,
        )
        .expect_err("bad scope");
        assert!(
            identity.to_string().contains("without spaces"),
            "{identity}"
        );
        let fine = OutboundAuth::new(
            SOURCE,
            &AuthConfig::AgentcoreIdentity {
                provider_name: "p".to_owned(),
                scopes: vec![],
            },
            &aws,
            timeout,
        )
        .expect("valid");
        assert!(fine.needs_workload_token());
    }

    #[test]
    fn client_secrets_are_plain_or_json() {
        assert_eq!(parse_client_secret("abc\n").expect("plain").expose(), "abc");
        assert_eq!(
            parse_client_secret(r#"{"client_secret":"xyz","client_id":"c"}"#)
                .expect("json")
                .expose(),
            "xyz"
        );
        assert!(parse_client_secret(r#"{"secret":"xyz"}"#).is_err());
        assert!(parse_client_secret("{not json").is_err());
        assert!(parse_client_secret("  ").is_err());
    }

    // -----------------------------------------------------------------------------------------
    // Against a local fake of Identity, Secrets Manager and a token endpoint

    /// What the fake answers, and what it saw.
    struct Fake {
        identity_calls: AtomicUsize,
        token_calls: AtomicUsize,
        secret_calls: AtomicUsize,
        /// The lifetime of the tokens it issues, in seconds.
        lifetime: u64,
        /// How long each token answer takes.
        delay: Duration,
        /// The secret string Secrets Manager holds.
        secret_string: String,
        /// Bodies of the token requests, and their Authorization headers.
        token_requests: Mutex<Vec<(String, String)>>,
        /// The workload access token of each Identity call, in arrival order.
        workload_tokens: Mutex<Vec<String>>,
    }

    fn now_secs() -> u64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
    }

    async fn identity(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
        let n = fake.identity_calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(fake.delay).await;
        let request: Value = serde_json::from_slice(&body).expect("JSON");
        let wat = request["workloadIdentityToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        lock(&fake.workload_tokens).push(wat.clone());
        if wat != WAT && wat != OTHER_WAT {
            return (
                axum::http::StatusCode::FORBIDDEN,
                [("x-amzn-errortype", "AccessDeniedException")],
                json!({"message": "invalid workload access token"}).to_string(),
            )
                .into_response();
        }
        assert_eq!(request["oauth2Flow"], "M2M");
        let token = jwt_with(&json!({"exp": now_secs() + fake.lifetime, "n": n}));
        axum::Json(json!({"accessToken": token})).into_response()
    }

    async fn secrets(State(fake): State<Arc<Fake>>, headers: axum::http::HeaderMap) -> Response {
        fake.secret_calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            headers["x-amz-target"], "secretsmanager.GetSecretValue",
            "only GetSecretValue is expected"
        );
        axum::Json(json!({
            "ARN": SECRET_ARN,
            "Name": "gw",
            "SecretString": fake.secret_string,
            "VersionId": "v1",
        }))
        .into_response()
    }

    async fn token(
        State(fake): State<Arc<Fake>>,
        headers: axum::http::HeaderMap,
        body: String,
    ) -> Response {
        let n = fake.token_calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(fake.delay).await;
        let authorization = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        lock(&fake.token_requests).push((body, authorization.clone()));
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
        );
        if authorization != expected {
            return (
                axum::http::StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "invalid_client", "error_description": "bad client"})),
            )
                .into_response();
        }
        axum::Json(json!({
            "access_token": format!("opaque-token-{n}"),
            "expires_in": fake.lifetime,
            "token_type": "Bearer",
        }))
        .into_response()
    }

    struct Running {
        url: String,
        fake: Arc<Fake>,
        server: tokio::task::JoinHandle<()>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.server.abort();
        }
    }

    async fn start_fake(lifetime: u64, delay: Duration, secret_string: &str) -> Running {
        let fake = Arc::new(Fake {
            identity_calls: AtomicUsize::new(0),
            token_calls: AtomicUsize::new(0),
            secret_calls: AtomicUsize::new(0),
            lifetime,
            delay,
            secret_string: secret_string.to_owned(),
            token_requests: Mutex::new(Vec::new()),
            workload_tokens: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/identities/oauth2/token", post(identity))
            .route("/", post(secrets))
            .route("/oauth2/token", post(token))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Running { url, fake, server }
    }

    fn identity_auth(fake: &Running, timeout: Duration) -> OutboundAuth {
        OutboundAuth::new(
            SOURCE,
            &AuthConfig::AgentcoreIdentity {
                provider_name: "gw-provider".to_owned(),
                scopes: vec!["gateway/invoke".to_owned()],
            },
            &sdk_config(&fake.url),
            timeout,
        )
        .expect("valid")
    }

    fn client_credentials_auth(fake: &Running, timeout: Duration) -> OutboundAuth {
        OutboundAuth::new(
            SOURCE,
            &AuthConfig::ClientCredentials {
                token_url: format!("{}/oauth2/token", fake.url),
                client_id: CLIENT_ID.to_owned(),
                client_secret_arn: SECRET_ARN.to_owned(),
                scopes: vec!["gateway/read".to_owned(), "gateway/write".to_owned()],
            },
            &sdk_config(&fake.url),
            timeout,
        )
        .expect("valid")
    }

    async fn bearer_of(auth: &OutboundAuth) -> Result<String, OutboundAuthError> {
        let headers = auth
            .headers(&Method::POST, "http://127.0.0.1:1/mcp", b"{}", None)
            .await?;
        Ok(headers[AUTHORIZATION].to_str().expect("ASCII").to_owned())
    }

    #[tokio::test]
    async fn identity_without_a_workload_token_says_why() {
        let fake = start_fake(3600, Duration::ZERO, CLIENT_SECRET).await;
        let auth = identity_auth(&fake, Duration::from_secs(5));
        let error = auth
            .prepare(RequestTokens::default())
            .await
            .expect_err("no WAT");
        assert!(matches!(
            error,
            OutboundAuthError::MissingWorkloadToken { .. }
        ));
        let message = error.to_string();
        assert!(
            message.contains("carried no workload access token"),
            "{message}"
        );
        assert!(message.contains("JWT authorizer"), "{message}");
        let headers_error = bearer_of(&auth).await.expect_err("nothing cached");
        assert!(matches!(
            headers_error,
            OutboundAuthError::NoTokenAtHand { .. }
        ));
        assert_eq!(fake.fake.identity_calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_request_without_a_workload_token_never_uses_the_cached_token() {
        let fake = start_fake(3600, Duration::ZERO, CLIENT_SECRET).await;
        let auth = identity_auth(&fake, Duration::from_secs(5));
        auth.prepare(RequestTokens::workload(Some(&Secret::new(WAT.to_owned()))))
            .await
            .expect("token fetched");
        assert_eq!(fake.fake.identity_calls.load(Ordering::SeqCst), 1);
        let error = auth
            .prepare(RequestTokens::default())
            .await
            .expect_err("a cached token is not enough without a WAT");
        assert!(matches!(
            error,
            OutboundAuthError::MissingWorkloadToken { .. }
        ));
        assert_eq!(
            fake.fake.identity_calls.load(Ordering::SeqCst),
            1,
            "no fetch either"
        );
        // A request that does bring one shares the machine token.
        auth.prepare(RequestTokens::workload(Some(&Secret::new(
            OTHER_WAT.to_owned(),
        ))))
        .await
        .expect("cached token shared");
        assert_eq!(fake.fake.identity_calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn only_the_requests_own_workload_token_fetches_after_an_invalidate() {
        let fake = start_fake(3600, Duration::from_millis(200), CLIENT_SECRET).await;
        let auth = Arc::new(identity_auth(&fake, Duration::from_secs(5)));
        auth.prepare(RequestTokens::workload(Some(&Secret::new(WAT.to_owned()))))
            .await
            .expect("token fetched");
        let first = bearer_of(&auth).await.expect("cached");
        assert!(first.starts_with("Bearer "), "{first}");

        // After a 401 the HTTP layer cannot fetch: it has no request's WAT.
        auth.invalidate();
        assert!(matches!(
            bearer_of(&auth).await,
            Err(OutboundAuthError::NoTokenAtHand { .. })
        ));
        assert_eq!(fake.fake.identity_calls.load(Ordering::SeqCst), 1);

        // Ten concurrent requests of another caller share one fetch, made with their WAT and
        // not with the first request's.
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let auth = auth.clone();
                tokio::spawn(async move {
                    auth.prepare(RequestTokens::workload(Some(&Secret::new(
                        OTHER_WAT.to_owned(),
                    ))))
                    .await?;
                    bearer_of(&auth).await
                })
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        for task in tasks {
            seen.insert(task.await.expect("joins").expect("token"));
        }
        assert_eq!(seen.len(), 1, "everyone got the same new token");
        assert!(!seen.contains(&first));
        assert_eq!(
            *lock(&fake.fake.workload_tokens),
            vec![WAT.to_owned(), OTHER_WAT.to_owned()]
        );
    }

    #[tokio::test]
    async fn a_fetch_refused_for_one_request_is_not_repeated_with_another_requests_token() {
        let fake = start_fake(3600, Duration::ZERO, CLIENT_SECRET).await;
        let auth = identity_auth(&fake, Duration::from_secs(5));
        auth.prepare(RequestTokens::workload(Some(&Secret::new(
            "expired-wat".to_owned(),
        ))))
        .await
        .expect_err("refused");
        auth.prepare(RequestTokens::workload(Some(&Secret::new(WAT.to_owned()))))
            .await
            .expect("the next request fetches with its own");
        assert_eq!(
            *lock(&fake.fake.workload_tokens),
            vec!["expired-wat".to_owned(), WAT.to_owned()]
        );
    }

    #[tokio::test]
    async fn a_refused_token_is_forgotten_only_while_it_is_the_cached_one() {
        let fake = start_fake(3600, Duration::ZERO, CLIENT_SECRET).await;
        let auth = client_credentials_auth(&fake, Duration::from_secs(5));
        let first = auth
            .headers(&Method::POST, "http://x/mcp", b"", None)
            .await
            .expect("token");
        auth.invalidate_refused(&first);
        let second = auth
            .headers(&Method::POST, "http://x/mcp", b"", None)
            .await
            .expect("token");
        assert_ne!(first[AUTHORIZATION], second[AUTHORIZATION]);
        // A late refusal of the first token keeps the second.
        auth.invalidate_refused(&first);
        let third = auth
            .headers(&Method::POST, "http://x/mcp", b"", None)
            .await
            .expect("token");
        assert_eq!(second[AUTHORIZATION], third[AUTHORIZATION]);
        assert_eq!(fake.fake.token_calls.load(Ordering::SeqCst), 2);
        assert_eq!(
            fake.fake.secret_calls.load(Ordering::SeqCst),
            1,
            "secret read once"
        );
    }

    #[tokio::test]
    async fn short_lived_tokens_are_refetched_after_half_their_life() {
        let fake = start_fake(2, Duration::ZERO, CLIENT_SECRET).await;
        let auth = client_credentials_auth(&fake, Duration::from_secs(5));
        let first = bearer_of(&auth).await.expect("token");
        assert_eq!(first, "Bearer opaque-token-1");
        assert_eq!(bearer_of(&auth).await.expect("cached"), first);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            bearer_of(&auth).await.expect("new"),
            "Bearer opaque-token-2"
        );
        let requests = lock(&fake.fake.token_requests).clone();
        assert_eq!(
            requests[0].0,
            "grant_type=client_credentials&scope=gateway%2Fread+gateway%2Fwrite"
        );
    }

    #[tokio::test]
    async fn the_secret_may_be_json_and_a_refusal_never_quotes_it() {
        let json_secret = json!({"client_secret": CLIENT_SECRET}).to_string();
        let fake = start_fake(3600, Duration::ZERO, &json_secret).await;
        let auth = client_credentials_auth(&fake, Duration::from_secs(5));
        auth.prepare(RequestTokens::default())
            .await
            .expect("JSON secret works");

        let wrong = start_fake(3600, Duration::ZERO, "wrong-secret-value").await;
        let auth = client_credentials_auth(&wrong, Duration::from_secs(5));
        let error = auth
            .prepare(RequestTokens::default())
            .await
            .expect_err("refused")
            .to_string();
        assert!(error.contains("HTTP 401"), "{error}");
        assert!(error.contains("invalid_client (bad client)"), "{error}");
        assert!(error.contains("MCP source gateway"), "{error}");
        assert!(!error.contains("wrong-secret-value"), "{error}");
    }

    #[tokio::test]
    async fn every_fetch_has_the_timeout() {
        let fake = start_fake(3600, Duration::from_secs(3), CLIENT_SECRET).await;
        let auth = identity_auth(&fake, Duration::from_millis(300));
        let started = Instant::now();
        let error = auth
            .prepare(RequestTokens::workload(Some(&Secret::new(WAT.to_owned()))))
            .await
            .expect_err("too slow");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            error.to_string(),
            "MCP source gateway: AgentCore Identity (GetResourceOauth2Token) did not answer within 300 ms"
        );
        let auth = client_credentials_auth(&fake, Duration::from_millis(300));
        let error = auth
            .prepare(RequestTokens::default())
            .await
            .expect_err("too slow")
            .to_string();
        assert!(
            error.contains("the OAuth2 token endpoint did not answer within 300 ms"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn identity_refusals_name_the_code_but_not_the_token() {
        let fake = start_fake(3600, Duration::ZERO, CLIENT_SECRET).await;
        let auth = identity_auth(&fake, Duration::from_secs(5));
        let error = auth
            .prepare(RequestTokens::workload(Some(&Secret::new(
                "some-other-wat".to_owned(),
            ))))
            .await
            .expect_err("refused")
            .to_string();
        assert!(error.contains("AccessDeniedException"), "{error}");
        assert!(error.contains("provider gw-provider"), "{error}");
        assert!(!error.contains("some-other-wat"), "{error}");
    }

    #[tokio::test]
    async fn sigv4_signs_each_request_with_the_configured_service() {
        let auth = OutboundAuth::new(
            SOURCE,
            &AuthConfig::Sigv4 {
                service: "bedrock-agentcore".to_owned(),
            },
            &sdk_config("http://127.0.0.1:9"),
            Duration::from_secs(1),
        )
        .expect("valid");
        auth.prepare(RequestTokens::default()).await.expect("no-op");
        let headers = auth
            .headers(
                &Method::POST,
                "https://Example.com:443/mcp?x=1",
                b"{}",
                None,
            )
            .await
            .expect("signed");
        let authorization = headers[AUTHORIZATION].to_str().expect("ASCII");
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=testing/"),
            "{authorization}"
        );
        assert!(authorization.contains("/us-east-1/bedrock-agentcore/aws4_request"));
        assert!(headers.contains_key("x-amz-date"));
        assert!(!headers.contains_key("x-amz-security-token"));
    }
}
