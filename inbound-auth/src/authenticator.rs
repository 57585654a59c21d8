//! The authenticator: from a request's headers to a [`Caller`] or an [`AuthError`], in the
//! configured mode. [`crate::AuthLayer`] calls it for every request; a service can also call
//! [`Authenticator::authenticate`] directly.
//!
//! Building one makes no network call; in `verify` mode the signing keys are fetched on the
//! first token that needs them. Refusal reasons are logged here, once, without the
//! token.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use crate::caller::Caller;
use crate::claims::ClaimRules;
use crate::config::{AuthArgs, AuthConfig, AuthMode, ConfigError};
use crate::error::{AuthError, Rejection};
use crate::jwks::KeyStore;

/// Longest bearer token accepted. Cognito tokens are 1 to 4 KB.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The warning a service logs at start when `AUTH_MODE=none`.
pub const NONE_MODE_WARNING: &str = "AUTHENTICATION IS DISABLED (AUTH_MODE=none): every request is served as an anonymous caller without any token check. This is for local development only; never run it where anyone else can reach the service. Set AUTH_MODE=verify (or agentcore behind an AgentCore JWT authorizer).";

/// Authenticates requests in the configured mode. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

enum Inner {
    Verify(Box<Verifier>),
    AgentCore { rules: ClaimRules },
    None,
}

/// The state of `verify` mode.
struct Verifier {
    rules: ClaimRules,
    keys: KeyStore,
    validation: Validation,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Builds the authenticator. Makes no network call.
    pub fn new(config: AuthConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let inner = match config {
            AuthConfig::Verify { rules, jwks } => {
                let keys = KeyStore::new(&jwks)?;
                // Only the signature and the algorithm are left to jsonwebtoken; the claims
                // are checked by `ClaimRules`, the same way in both modes.
                let mut validation = Validation::new(Algorithm::RS256);
                validation.required_spec_claims.clear();
                validation.validate_exp = false;
                validation.validate_nbf = false;
                validation.validate_aud = false;
                Inner::Verify(Box::new(Verifier {
                    rules,
                    keys,
                    validation,
                }))
            }
            AuthConfig::AgentCore { rules } => Inner::AgentCore { rules },
            AuthConfig::None => Inner::None,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Validates the settings read at start and builds the authenticator.
    pub fn from_args(args: AuthArgs) -> Result<Self, ConfigError> {
        Self::new(args.into_config()?)
    }

    /// The configured mode.
    pub fn mode(&self) -> AuthMode {
        match *self.inner {
            Inner::Verify(_) => AuthMode::Verify,
            Inner::AgentCore { .. } => AuthMode::AgentCore,
            Inner::None => AuthMode::None,
        }
    }

    /// The warning to log at start, in `none` mode only.
    pub fn startup_warning(&self) -> Option<&'static str> {
        (self.mode() == AuthMode::None).then_some(NONE_MODE_WARNING)
    }

    /// Logs the mode at start: an info line for `verify` and `agentcore`, and in `none` mode
    /// [`NONE_MODE_WARNING`] as a warning. Call it once the logger is up.
    pub fn log_startup(&self) {
        match &*self.inner {
            Inner::Verify(verifier) => tracing::info!(
                auth_mode = "verify",
                issuer = %verifier.rules.issuer,
                jwks_url = %verifier.keys.url(),
                token_use = %verifier.rules.token_use,
                max_token_lifetime_seconds = verifier.rules.max_lifetime.as_secs(),
                allowed_clients = verifier.rules.allowed_client_ids.len(),
                "inbound authentication: JWT signatures verified against the issuer's JWKS (fetched on first use)"
            ),
            Inner::AgentCore { rules } => tracing::info!(
                auth_mode = "agentcore",
                issuer = %rules.issuer,
                token_use = %rules.token_use,
                max_token_lifetime_seconds = rules.max_lifetime.as_secs(),
                allowed_clients = rules.allowed_client_ids.len(),
                "inbound authentication: signatures trusted to the AgentCore JWT authorizer; claims checked here"
            ),
            Inner::None => tracing::warn!(auth_mode = "none", "{NONE_MODE_WARNING}"),
        }
    }

    /// Authenticates one request from its headers. Logs the reason of a refusal (debug for a
    /// missing token, info otherwise), never the token.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        let result = self.authenticate_inner(headers).await;
        match &result {
            Ok(_) => {}
            Err(error @ (AuthError::MissingToken | AuthError::UnsupportedScheme)) => {
                tracing::debug!(reason = %error, "request refused: no bearer token");
            }
            Err(error @ AuthError::InvalidToken(_)) => {
                tracing::info!(reason = %error, "request refused: bearer token not accepted");
            }
        }
        result
    }

    async fn authenticate_inner(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        match &*self.inner {
            Inner::None => Ok(Caller::Anonymous),
            Inner::AgentCore { rules } => {
                let token = bearer_token(headers)?;
                let claims = read_claims(token).map_err(AuthError::InvalidToken)?;
                check(rules, claims)
            }
            Inner::Verify(verifier) => {
                let token = bearer_token(headers)?;
                let claims = verify(token, &verifier.keys, &verifier.validation)
                    .await
                    .map_err(AuthError::InvalidToken)?;
                check(&verifier.rules, claims)
            }
        }
    }
}

fn check(rules: &ClaimRules, claims: Map<String, Value>) -> Result<Caller, AuthError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| AuthError::InvalidToken(Rejection::Clock))?
        .as_secs();
    rules
        .check(claims, now)
        .map(Caller::Authenticated)
        .map_err(AuthError::InvalidToken)
}

/// The token of an `Authorization: Bearer <token>` header, shaped like a compact JWS.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::MissingToken)?;
    let malformed = AuthError::InvalidToken(Rejection::Malformed);
    if values.next().is_some() {
        return Err(malformed);
    }
    let value = value.to_str().map_err(|_| malformed.clone())?.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::UnsupportedScheme);
    }
    let token = token.trim_start_matches(' ');
    let jws_shaped = !token.is_empty()
        && token.len() <= MAX_TOKEN_BYTES
        && token.bytes().filter(|b| *b == b'.').count() == 2
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !jws_shaped {
        return Err(malformed);
    }
    Ok(token)
}

/// The header of a token, which must name RS256 and no critical extension. Both modes read
/// it, so `agentcore` mode refuses what `verify` mode refuses before any key is looked up.
fn rs256_header(token: &str) -> Result<jsonwebtoken::Header, Rejection> {
    // An unknown algorithm (`none`, ...) fails to parse: refused as malformed.
    let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Malformed)?;
    if header.alg != Algorithm::RS256 {
        return Err(Rejection::UnsupportedAlgorithm);
    }
    // RFC 7515 §4.1.11: a recipient must reject a JWS whose `crit` lists an extension it does
    // not understand. No extension is understood here, so any list is refused (a `crit` that
    // is not a list of strings already failed to parse above).
    if header.crit.is_some() {
        return Err(Rejection::CriticalHeader);
    }
    Ok(header)
}

/// `verify` mode: the signature under the issuer's key named by `kid`, then the claims.
async fn verify(
    token: &str,
    keys: &KeyStore,
    validation: &Validation,
) -> Result<Map<String, Value>, Rejection> {
    // The algorithm is checked before any key lookup, so that tokens of another algorithm
    // never trigger a JWKS refresh.
    let header = rs256_header(token)?;
    let kid = header.kid.ok_or(Rejection::MissingKeyId)?;
    let key = keys.key(&kid).await?;
    jsonwebtoken::decode::<Map<String, Value>>(token, &key, validation)
        .map(|data| data.claims)
        .map_err(|error| match error.kind() {
            ErrorKind::InvalidSignature => Rejection::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                Rejection::UnsupportedAlgorithm
            }
            _ => Rejection::Malformed,
        })
}

/// `agentcore` mode: the claims, without the signature (the authorizer checked it).
fn read_claims(token: &str) -> Result<Map<String, Value>, Rejection> {
    rs256_header(token)?;
    jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(token)
        .map(|data| data.claims)
        .map_err(|_| Rejection::Malformed)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn bearer_token_is_taken_from_the_header() {
        for value in [
            format!("Bearer {TOKEN}"),
            format!("bearer {TOKEN}"),
            format!("BEARER  {TOKEN} "),
        ] {
            assert_eq!(bearer_token(&headers(&[&value])), Ok(TOKEN), "{value}");
        }
    }

    #[test]
    fn no_header_or_another_scheme_is_no_bearer_token() {
        assert_eq!(bearer_token(&headers(&[])), Err(AuthError::MissingToken));
        assert_eq!(
            bearer_token(&headers(&["Basic dXNlcjpwYXNz"])),
            Err(AuthError::UnsupportedScheme)
        );
        assert_eq!(
            bearer_token(&headers(&[TOKEN])),
            Err(AuthError::UnsupportedScheme)
        );
    }

    #[test]
    fn malformed_bearer_values_are_invalid_tokens() {
        let malformed = Err(AuthError::InvalidToken(Rejection::Malformed));
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer abc",
            "Bearer a.b",
            "Bearer a.b.c.d",
            "Bearer a.b.c d",
            "Bearer a.b+/.c",
            "Bearer a.\"b\".c",
        ] {
            assert_eq!(bearer_token(&headers(&[value])), malformed, "{value}");
        }
        let long = format!("Bearer a.{}.c", "b".repeat(MAX_TOKEN_BYTES));
        assert_eq!(bearer_token(&headers(&[&long])), malformed);
        let two = format!("Bearer {TOKEN}");
        assert_eq!(bearer_token(&headers(&[&two, &two])), malformed);
    }

    #[test]
    fn refusals_challenge_with_bearer_and_flag_bad_tokens() {
        assert_eq!(AuthError::MissingToken.www_authenticate(), "Bearer");
        assert_eq!(AuthError::UnsupportedScheme.www_authenticate(), "Bearer");
        assert_eq!(
            AuthError::InvalidToken(Rejection::Expired).www_authenticate(),
            r#"Bearer error="invalid_token""#
        );
    }

    #[test]
    fn only_rs256_headers_are_read() {
        // {"alg":"none"} and {"alg":"HS256","kid":"k"}
        assert_eq!(
            read_claims("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").unwrap_err(),
            Rejection::Malformed
        );
        assert_eq!(
            read_claims("eyJhbGciOiJIUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJ4In0.c2ln").unwrap_err(),
            Rejection::UnsupportedAlgorithm
        );
        assert_eq!(
            read_claims(TOKEN).unwrap().get("sub"),
            Some(&Value::from("x"))
        );
    }

    #[test]
    fn a_header_with_critical_extensions_is_refused() {
        // {"alg":"RS256","crit":["exp"],"exp":1} and {"alg":"RS256","crit":[]}
        for token in [
            "eyJhbGciOiJSUzI1NiIsImNyaXQiOlsiZXhwIl0sImV4cCI6MX0.eyJzdWIiOiJ4In0.c2ln",
            "eyJhbGciOiJSUzI1NiIsImNyaXQiOltdfQ.eyJzdWIiOiJ4In0.c2ln",
        ] {
            assert_eq!(read_claims(token).unwrap_err(), Rejection::CriticalHeader);
        }
        // {"alg":"RS256","crit":"exp"}: not the list RFC 7515 requires.
        assert_eq!(
            read_claims("eyJhbGciOiJSUzI1NiIsImNyaXQiOiJleHAifQ.eyJzdWIiOiJ4In0.c2ln").unwrap_err(),
            Rejection::Malformed
        );
    }

    #[tokio::test]
    async fn none_mode_needs_no_token_and_warns() {
        let authenticator = Authenticator::new(AuthConfig::None).unwrap();
        assert_eq!(
            authenticator.authenticate(&HeaderMap::new()).await,
            Ok(Caller::Anonymous)
        );
        assert_eq!(authenticator.startup_warning(), Some(NONE_MODE_WARNING));
        assert!(NONE_MODE_WARNING.contains("AUTH_MODE=none"));
    }
}
