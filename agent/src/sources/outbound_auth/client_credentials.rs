//! `client_credentials`: the OAuth2 client-credentials grant against the issuer's token URL,
//! with HTTP Basic client authentication (as Cognito's `/oauth2/token` expects). The client
//! secret is read once from Secrets Manager; the secret may hold the plain client secret or a
//! JSON object with a string `client_secret` key. The token's lifetime is the answer's
//! `expires_in` (see [`super::token_cache`]).

use agent_protocol::Secret;
use http::HeaderValue;
use serde::Deserialize;

use super::source_calls::{SourceCalls, sdk_error_detail};
use super::token_cache::{Cache, token_lifetime};
use super::{OutboundAuthError, bearer_value, check_scopes, region};

const TOKEN_ENDPOINT: &str = "the OAuth2 token endpoint";
const SECRETS_MANAGER: &str = "Secrets Manager (GetSecretValue)";

pub(super) struct ClientCredentialsAuth {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret_arn: String,
    scopes: Vec<String>,
    secrets: aws_sdk_secretsmanager::Client,
    client_secret: tokio::sync::OnceCell<Secret>,
    /// The `Authorization` value.
    pub(super) token: Cache<HeaderValue>,
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

impl ClientCredentialsAuth {
    /// Checks the settings; makes no network call. The error is the configuration problem.
    pub(super) fn new(
        token_url: &str,
        client_id: &str,
        client_secret_arn: &str,
        scopes: &[String],
        aws: &aws_config::SdkConfig,
    ) -> Result<Self, String> {
        if !(token_url.starts_with("https://") || token_url.starts_with("http://")) {
            return Err(format!(
                "token_url {token_url:?} must be http:// or https://"
            ));
        }
        if client_id.is_empty() || client_id.contains(':') {
            return Err("client_id must be non-empty and without ':'".to_owned());
        }
        if !client_secret_arn.starts_with("arn:") {
            return Err(format!(
                "client_secret_arn {client_secret_arn:?} is not an ARN"
            ));
        }
        check_scopes(scopes)?;
        region(aws)?;
        // The timeout is applied around the whole call (see `SourceCalls::within_timeout`).
        let http = reqwest::Client::builder()
            // A token endpoint has no reason to redirect; never send the client
            // secret on to another address.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self {
            http,
            token_url: token_url.to_owned(),
            client_id: client_id.to_owned(),
            client_secret_arn: client_secret_arn.to_owned(),
            scopes: scopes.to_vec(),
            secrets: aws_sdk_secretsmanager::Client::new(aws),
            client_secret: tokio::sync::OnceCell::new(),
            token: Cache::new(),
        })
    }

    /// The cached token, or one fetched with the client credentials (the secret read first,
    /// once).
    pub(super) async fn token(
        &self,
        calls: &SourceCalls,
    ) -> Result<HeaderValue, OutboundAuthError> {
        self.token
            .get(|| async {
                let secret = self
                    .client_secret
                    .get_or_try_init(|| self.read_client_secret(calls))
                    .await?;
                let mut form = vec![("grant_type", "client_credentials".to_owned())];
                if !self.scopes.is_empty() {
                    form.push(("scope", self.scopes.join(" ")));
                }
                let call = async {
                    let response = self
                        .http
                        .post(&self.token_url)
                        .basic_auth(&self.client_id, Some(secret.expose()))
                        .header(http::header::ACCEPT, "application/json")
                        .form(&form)
                        .send()
                        .await
                        .map_err(|e| calls.fetch_error(TOKEN_ENDPOINT, request_error_detail(&e)))?;
                    let status = response.status();
                    let body = response
                        .bytes()
                        .await
                        .map_err(|e| calls.fetch_error(TOKEN_ENDPOINT, request_error_detail(&e)))?;
                    Ok((status, body))
                };
                let (status, body) = calls.within_timeout(TOKEN_ENDPOINT, call).await?;
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
                        calls.fetch_error(TOKEN_ENDPOINT, format!("{}: {detail}", self.token_url))
                    );
                }
                let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
                    calls.fetch_error(
                        TOKEN_ENDPOINT,
                        format!("{}: the answer is not a token answer: {e}", self.token_url),
                    )
                })?;
                if let Some(kind) = answer.token_type.as_deref()
                    && !kind.eq_ignore_ascii_case("bearer")
                {
                    return Err(calls.fetch_error(
                        TOKEN_ENDPOINT,
                        format!("{}: token_type {kind:?} is not Bearer", self.token_url),
                    ));
                }
                let lifetime = token_lifetime(answer.expires_in, &answer.access_token);
                let value = bearer_value(&answer.access_token).ok_or_else(|| {
                    calls.fetch_error(
                        TOKEN_ENDPOINT,
                        "the access token is not usable in an HTTP header".to_owned(),
                    )
                })?;
                tracing::info!(
                    source = %calls.source_name,
                    expires_in_s = lifetime.as_secs(),
                    "outbound token fetched with client credentials"
                );
                Ok((value, lifetime))
            })
            .await
    }

    /// Reads the client secret: a secret string that is a JSON object must have a string
    /// `client_secret`; any other string is the client secret itself.
    async fn read_client_secret(&self, calls: &SourceCalls) -> Result<Secret, OutboundAuthError> {
        let arn = &self.client_secret_arn;
        let call = async {
            self.secrets
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| {
                    calls.fetch_error(SECRETS_MANAGER, format!("{arn}: {}", sdk_error_detail(&e)))
                })
        };
        let answer = calls.within_timeout(SECRETS_MANAGER, call).await?;
        let text = answer.secret_string().ok_or_else(|| {
            calls.fetch_error(
                SECRETS_MANAGER,
                format!("{arn} has no string value (binary secrets are not supported)"),
            )
        })?;
        let secret = parse_client_secret(text)
            .map_err(|problem| calls.fetch_error(SECRETS_MANAGER, format!("{arn}: {problem}")))?;
        tracing::info!(source = %calls.source_name, secret = %arn, "client secret read from Secrets Manager");
        Ok(secret)
    }
}

/// The client secret held in a Secrets Manager secret string (see
/// [`ClientCredentialsAuth::read_client_secret`]). The problem never quotes the value.
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
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::super::RequestTokens;
    use super::super::fake_token_services::{
        CLIENT_SECRET, bearer_of, client_credentials_auth, start_fake,
    };
    use super::super::token_cache::lock;
    use super::*;

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
}
