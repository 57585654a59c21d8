//! Outbound authentication for the agent's MCP tool sources: the credentials the agent presents
//! to an AgentCore Gateway or an MCP server in an AgentCore runtime.
//!
//! Each source names one [`AuthConfig`]; [`OutboundAuth`] turns it into the headers of each
//! HTTP request ([`OutboundAuth::headers`]), which `authorized_http` adds to every MCP request.
//! One kind of credentials per `auth` type, each in its own file:
//!
//! - `none`: no header;
//! - `bearer_env`: a static bearer token read once at start from an environment variable;
//! - `agentcore_identity` ([`identity`]): a machine-to-machine token from AgentCore Identity,
//!   paid for with the workload access token (WAT) the runtime passes with each request; how a
//!   WAT is used, and never kept, is that file's "Workload access tokens";
//! - `client_credentials` ([`client_credentials`]): the OAuth2 client-credentials grant, the
//!   client secret read once from Secrets Manager;
//! - `sigv4` ([`sigv4`]): SigV4 with the execution role's credentials;
//! - `caller_token` ([`caller_token`]): the caller's own bearer token, exactly as the agent's
//!   inbound auth took it from the `/invocations` request being served, never kept past its
//!   request (that file's "Caller tokens"). For an AgentCore Gateway whose policies decide per
//!   customer.
//!
//! Tokens are cached until shortly before they expire and concurrent callers share one fetch
//! ([`token_cache`]). A source that answers 401 makes the caller
//! [`invalidate`](OutboundAuth::invalidate) the token, so the next request fetches a new one.
//!
//! Every network call (Identity, Secrets Manager, the token endpoint, the credentials provider)
//! has the source's timeout ([`source_calls`]). Tokens, secrets, workload and caller tokens
//! never appear in errors or logs: fetches are logged at info with the source name and the
//! lifetime only.
//!
//! The AWS clients take their endpoints from the `SdkConfig`, so the standard variables
//! `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE` and `AWS_ENDPOINT_URL_SECRETS_MANAGER` (or
//! `AWS_ENDPOINT_URL`) point them at local stand-ins.

mod caller_token;
mod client_credentials;
#[cfg(test)]
mod fake_token_services;
mod identity;
mod sigv4;
mod source_calls;
mod token_cache;

use std::time::Duration;

use agent_protocol::Secret;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use serde::Deserialize;

use client_credentials::ClientCredentialsAuth;
use identity::IdentityAuth;
use sigv4::Sigv4Auth;
use source_calls::SourceCalls;

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
    /// being served (see [`caller_token`], "Caller tokens").
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

/// The outbound credentials of one source.
pub struct OutboundAuth {
    calls: SourceCalls,
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
            .field("source_name", &self.calls.source_name)
            .field("type", &kind)
            .field("timeout", &self.calls.timeout)
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
    /// Holds nothing: the token comes with each request (see [`caller_token`]).
    CallerToken,
}

impl OutboundAuth {
    /// Builds it; makes no network call (reads `bearer_env`'s variable now; errors name the
    /// variable).
    pub fn new(
        source_name: &str,
        config: &AuthConfig,
        aws: &aws_config::SdkConfig,
        timeout: Duration,
    ) -> Result<Self, OutboundAuthError> {
        let config_error = |detail: String| OutboundAuthError::Config {
            source_name: source_name.to_owned(),
            detail,
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
            } => AuthMethod::Identity(
                IdentityAuth::new(provider_name, scopes, aws).map_err(config_error)?,
            ),
            AuthConfig::ClientCredentials {
                token_url,
                client_id,
                client_secret_arn,
                scopes,
            } => AuthMethod::ClientCredentials(
                ClientCredentialsAuth::new(token_url, client_id, client_secret_arn, scopes, aws)
                    .map_err(config_error)?,
            ),
            AuthConfig::Sigv4 { service } => {
                AuthMethod::Sigv4(Sigv4Auth::new(service, aws).map_err(config_error)?)
            }
            AuthConfig::CallerToken => AuthMethod::CallerToken,
        };
        Ok(Self {
            calls: SourceCalls {
                source_name: source_name.to_owned(),
                timeout,
            },
            method,
        })
    }

    /// The source these credentials are for.
    pub fn source_name(&self) -> &str {
        &self.calls.source_name
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
            AuthMethod::ClientCredentials(auth) => auth.token(&self.calls).await.map(drop),
            AuthMethod::Identity(auth) => {
                let workload_token =
                    tokens
                        .workload
                        .ok_or_else(|| OutboundAuthError::MissingWorkloadToken {
                            source_name: self.calls.source_name.clone(),
                        })?;
                auth.token(&self.calls, workload_token).await.map(drop)
            }
            AuthMethod::CallerToken => {
                caller_token::caller_bearer(&self.calls.source_name, tokens.caller).map(drop)
            }
        }
    }

    /// The headers for one HTTP request with this exact body: `Authorization: Bearer <token>`
    /// (cached; client credentials fetch a missing or stale one, Identity never fetches here
    /// and fails with [`OutboundAuthError::NoTokenAtHand`] instead, see [`identity`];
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
    ) -> Result<HeaderMap, OutboundAuthError> {
        let bearer = |value: HeaderValue| HeaderMap::from_iter([(AUTHORIZATION, value)]);
        match &self.method {
            AuthMethod::None => Ok(HeaderMap::new()),
            AuthMethod::Bearer(value) => Ok(bearer(value.clone())),
            AuthMethod::CallerToken => {
                caller_token::caller_bearer(&self.calls.source_name, caller_token).map(bearer)
            }
            AuthMethod::Identity(auth) => {
                auth.token
                    .usable()
                    .map(bearer)
                    .ok_or_else(|| OutboundAuthError::NoTokenAtHand {
                        source_name: self.calls.source_name.clone(),
                    })
            }
            AuthMethod::ClientCredentials(auth) => auth.token(&self.calls).await.map(bearer),
            AuthMethod::Sigv4(auth) => auth.headers(&self.calls, method, uri, body).await,
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
    pub fn invalidate_refused(&self, sent: &HeaderMap) {
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
}

/// `Bearer <token>` as a sensitive header value, or `None` when the token cannot be one.
fn bearer_value(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Refuses a scope that is empty or has a space (scopes are sent space-separated).
fn check_scopes(scopes: &[String]) -> Result<(), String> {
    match scopes
        .iter()
        .find(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        Some(bad) => Err(format!(
            "scope {bad:?} must be non-empty and without spaces"
        )),
        None => Ok(()),
    }
}

/// The configured AWS region, which every AWS-backed kind needs.
fn region(aws: &aws_config::SdkConfig) -> Result<String, String> {
    aws.region()
        .map(ToString::to_string)
        .ok_or_else(|| "no AWS region is configured (set AWS_REGION)".to_owned())
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
            calls: SourceCalls {
                source_name: source_name.to_owned(),
                timeout: Duration::from_secs(5),
            },
            method: AuthMethod::Bearer(bearer_value(token).expect("a header-safe token")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::Ordering;

    use http::Method;

    use fake_token_services::{
        CLIENT_ID, CLIENT_SECRET, SOURCE, client_credentials_auth, sdk_config, start_fake,
    };

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
}
