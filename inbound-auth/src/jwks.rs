//! The issuer's signing keys for `verify` mode: fetched from the JWKS URL on first use (never
//! at start-up), cached by key id, and fetched again when a token names a key id the cache
//! does not hold — at most once per refresh interval, so that tokens with made-up key ids
//! cannot make the service hammer the JWKS endpoint.
//!
//! Only RSA signing keys usable with RS256 are kept; anything else in the set is skipped.
//! A failed fetch is logged as an error (with the URL and the cause) and leaves the cached
//! keys in place.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::ConfigError;
use crate::error::Rejection;

/// Largest JWKS document accepted. Cognito's is about 1 KB.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Where the signing keys are and how often they may be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksConfig {
    /// The JWKS URL (`AUTH_JWKS_URL`).
    pub url: String,
    /// Least time between two fetches (`AUTH_JWKS_REFRESH_SECONDS`).
    pub refresh_interval: Duration,
    /// Time budget of one fetch (`AUTH_JWKS_TIMEOUT_MS`).
    pub timeout: Duration,
}

/// The rate limit on fetches: a fetch may start only when none started within the interval.
/// The first fetch is always allowed.
#[derive(Debug)]
pub(crate) struct RefreshGate {
    min_interval: Duration,
    last_start: Option<Instant>,
}

impl RefreshGate {
    pub(crate) fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            last_start: None,
        }
    }

    /// Whether a fetch may start at `now`; if so, it counts as started.
    pub(crate) fn try_start(&mut self, now: Instant) -> bool {
        match self.last_start {
            Some(last) if now.saturating_duration_since(last) < self.min_interval => false,
            _ => {
                self.last_start = Some(now);
                true
            }
        }
    }
}

/// Why a JWKS fetch failed (logged, never sent to callers).
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    #[error("request failed: {0}")]
    Request(#[source] reqwest::Error),
    #[error("answered HTTP {0}")]
    Status(StatusCode),
    #[error("document larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("not a JWKS document: {0}")]
    Parse(#[source] serde_json::Error),
    #[error("no RSA signing key usable with RS256 in the set")]
    NoUsableKeys,
}

/// The cached keys and the means to refresh them.
pub(crate) struct KeyStore {
    url: Url,
    timeout: Duration,
    client: reqwest::Client,
    keys: RwLock<HashMap<String, Arc<DecodingKey>>>,
    /// Held while deciding on and running a fetch, so concurrent requests for an unknown key
    /// wait for one fetch instead of starting their own.
    gate: Mutex<RefreshGate>,
}

impl KeyStore {
    /// Prepares the store; makes no network call.
    pub(crate) fn new(config: &JwksConfig) -> Result<Self, ConfigError> {
        let url = crate::config::http_url("AUTH_JWKS_URL", &config.url)?;
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|error| ConfigError::HttpClient(error.to_string()))?;
        Ok(Self {
            url,
            timeout: config.timeout,
            client,
            keys: RwLock::new(HashMap::new()),
            gate: Mutex::new(RefreshGate::new(config.refresh_interval)),
        })
    }

    /// The JWKS URL, for logs.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// The key with this id, fetching the set when it is not cached and the rate limit
    /// allows.
    pub(crate) async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, Rejection> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let mut gate = self.gate.lock().await;
        // Another request may have fetched the set while this one waited.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        if !gate.try_start(Instant::now()) {
            tracing::debug!(
                jwks_url = %self.url,
                "token names an unknown key id; JWKS refresh skipped (rate limit)"
            );
            return Err(Rejection::UnknownKeyId);
        }
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(jwks_url = %self.url, keys = keys.len(), "JWKS loaded");
                *self
                    .keys
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = keys;
            }
            Err(error) => {
                tracing::error!(
                    jwks_url = %self.url,
                    error = %error,
                    "cannot fetch the issuer's JWKS: bearer tokens cannot be verified until it loads"
                );
                return Err(Rejection::KeysUnavailable);
            }
        }
        drop(gate);
        self.cached(kid).ok_or(Rejection::UnknownKeyId)
    }

    fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(kid)
            .cloned()
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, FetchError> {
        let request_error = |error: reqwest::Error| {
            if error.is_timeout() {
                FetchError::Timeout(self.timeout)
            } else {
                FetchError::Request(error)
            }
        };
        let mut response = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(request_error)?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_error)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body)
    }
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<Value>,
}

/// The RS256 verification keys of a JWKS document, by key id.
fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<DecodingKey>>, FetchError> {
    let document: JwksDocument = serde_json::from_slice(body).map_err(FetchError::Parse)?;
    let mut keys = HashMap::new();
    for key in &document.keys {
        match rs256_key(key) {
            Some((kid, key)) => {
                keys.insert(kid, Arc::new(key));
            }
            None => tracing::debug!("JWKS entry skipped: not an RSA signing key for RS256"),
        }
    }
    if keys.is_empty() {
        return Err(FetchError::NoUsableKeys);
    }
    Ok(keys)
}

/// One JWKS entry as a key, if it is an RSA key with an id, meant for signatures, for RS256.
fn rs256_key(entry: &Value) -> Option<(String, DecodingKey)> {
    let field = |name: &str| entry.get(name).and_then(Value::as_str);
    if field("kty") != Some("RSA") {
        return None;
    }
    if entry.get("use").is_some() && field("use") != Some("sig") {
        return None;
    }
    if entry.get("alg").is_some() && field("alg") != Some("RS256") {
        return None;
    }
    let kid = field("kid")?.to_owned();
    let key = DecodingKey::from_rsa_components(field("n")?, field("e")?).ok()?;
    Some((kid, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_refresh_is_always_allowed() {
        let mut gate = RefreshGate::new(Duration::from_secs(30));
        assert!(gate.try_start(Instant::now()));
    }

    #[test]
    fn at_most_one_refresh_per_interval() {
        let start = Instant::now();
        let mut gate = RefreshGate::new(Duration::from_secs(30));
        assert!(gate.try_start(start));
        assert!(!gate.try_start(start));
        assert!(!gate.try_start(start + Duration::from_secs(1)));
        assert!(!gate.try_start(start + Duration::from_millis(29_999)));
        assert!(gate.try_start(start + Duration::from_secs(30)));
        // The window restarts at the refresh that was allowed.
        assert!(!gate.try_start(start + Duration::from_secs(59)));
        assert!(gate.try_start(start + Duration::from_secs(60)));
    }

    #[test]
    fn refused_attempts_do_not_extend_the_window() {
        let start = Instant::now();
        let mut gate = RefreshGate::new(Duration::from_secs(10));
        assert!(gate.try_start(start));
        for second in 1..10 {
            assert!(!gate.try_start(start + Duration::from_secs(second)));
        }
        assert!(gate.try_start(start + Duration::from_secs(10)));
    }

    const N: &str = "j1pT3xKbswmMySvCefmiD3mfDaRFpZ9Y3Jl4fF0hMaCRVAt_e0yR7BeueDfqmj_NhVSO0WB5ao5e8V-9RFQOtK8SrqKl3i01-CyWYPICwybaGKhbJJR0S_6cZ8n5kscF1MjpIlsJcCzm-yKgTc3Mxk6KtrLoNgRvMwGLeHUXPkhS9YHfDKRe864iMFOK4df69brIYEICG2VLduh0hXYa0i-J3drwm7vxNdX7pVpCDu34qJtYoWq6CXt3Tzfi3YfWp8cFjGNbaDa3WnCd2IXpp0TFsFS-cEsw5rJjSl5OllJGeZKBtLeyVTy9PYwnk7MW43WQ";

    #[test]
    fn only_rsa_signing_keys_for_rs256_are_kept() {
        let body = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "good", "alg": "RS256", "use": "sig", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "bare", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": N, "e": "AQAB"},
            {"kty": "RSA", "n": N, "e": "AQAB"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
        ]});
        let keys = parse_jwks(body.to_string().as_bytes()).unwrap();
        let mut kids: Vec<_> = keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        assert_eq!(kids, ["bare", "good"]);
    }

    #[test]
    fn a_set_without_usable_keys_is_an_error() {
        let body = br#"{"keys":[{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}]}"#;
        assert!(matches!(parse_jwks(body), Err(FetchError::NoUsableKeys)));
        assert!(matches!(parse_jwks(b"<html>"), Err(FetchError::Parse(_))));
    }
}
