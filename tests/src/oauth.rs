//! An OAuth2 authorization server stand-in for machine-to-machine tokens, shaped like a Cognito
//! user pool's token endpoint, on a free loopback port.
//!
//! Tests use it where the agent needs outbound tokens: the agent's `client_credentials` auth
//! fetches from [`OAuthStandIn::token_url`], the AgentCore Identity stand-in
//! ([`crate::identity`]) mints its tokens here, and gateway or runtime stand-ins authorize
//! requests with [`OAuthStandIn::validate`]. It serves:
//!
//! - `POST /oauth2/token`: the client-credentials grant (RFC 6749 section 4.4). The body must be
//!   `application/x-www-form-urlencoded` with `grant_type=client_credentials` and an optional
//!   space-separated `scope`; the client authenticates with HTTP Basic (`client_id:secret`,
//!   as Cognito expects) or with `client_id` and `client_secret` form fields, not both. Without
//!   `scope` the token carries every scope the client may have, as Cognito does. The answer is
//!   `{"access_token", "expires_in", "token_type": "Bearer"}` with `Cache-Control: no-store`.
//!   Errors are RFC 6749 section 5.2 JSON (`{"error", "error_description"}`): `invalid_client`
//!   (401, with `WWW-Authenticate: Basic` when Basic was used) for an unknown client, a wrong
//!   secret or no client authentication; `invalid_request` (400) for a body that is not a form,
//!   a repeated parameter, or two client authentications; `unsupported_grant_type` (400);
//!   `invalid_scope` (400) for a scope the client may not have.
//! - `GET /.well-known/jwks.json`: the public signing key (RS256, a fresh 2048-bit key per
//!   stand-in).
//!
//! Tokens are RS256 JWTs with Cognito's access-token claims: `iss` ([`OAuthStandIn::issuer`],
//! the base URL), `sub` and `client_id` (the client), `scope`, `token_use: access`, `iat`, `exp`
//! ([`OAuthStandIn::set_token_lifetime`], default one hour) and a unique `jti`.
//! [`OAuthStandIn::revoke_all`] makes every token issued so far invalid for
//! [`OAuthStandIn::validate`] (a signature check alone, as with the JWKS, still passes).
//!
//! The server stops when the stand-in is dropped.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::serving::{Serving, bind_loopback};

/// The claims of the stand-in's access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    pub token_use: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
}

/// A token as the token endpoint answers it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
}

/// Why a grant was refused, as an RFC 6749 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// `invalid_client`, `invalid_scope`, ...
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }

    fn status(&self) -> StatusCode {
        if self.error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        }
    }
}

struct RegisteredClient {
    secret: String,
    scopes: Vec<String>,
}

/// The state the token endpoint and the Identity stand-in share.
pub(crate) struct Shared {
    issuer: String,
    kid: String,
    key: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
    clients: Mutex<HashMap<String, RegisteredClient>>,
    lifetime: Mutex<Duration>,
    token_requests: AtomicUsize,
    issued_count: AtomicU64,
    issued: Mutex<Vec<String>>,
    revoked: Mutex<HashSet<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

impl Shared {
    /// A token for `client_id` (already authenticated) with the `requested` scopes, or all the
    /// client's scopes when none are requested.
    pub(crate) fn issue(
        &self,
        client_id: &str,
        requested: &[String],
    ) -> Result<IssuedToken, OAuthError> {
        let scopes = {
            let clients = lock(&self.clients);
            let client = clients
                .get(client_id)
                .ok_or_else(|| OAuthError::new("invalid_client", "Client does not exist."))?;
            if let Some(bad) = requested.iter().find(|s| !client.scopes.contains(s)) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!("Scope {bad} is not allowed for this client."),
                ));
            }
            if requested.is_empty() {
                client.scopes.clone()
            } else {
                requested.to_vec()
            }
        };
        let n = self.issued_count.fetch_add(1, Ordering::SeqCst) + 1;
        let lifetime = lock(&self.lifetime).as_secs();
        let iat = now();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: client_id.to_owned(),
            client_id: client_id.to_owned(),
            scope: scopes.join(" "),
            token_use: "access".to_owned(),
            exp: iat + lifetime,
            iat,
            jti: format!("{}-{n}", self.kid),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        let access_token =
            jsonwebtoken::encode(&header, &claims, &self.key).expect("the stand-in's key signs");
        lock(&self.issued).push(claims.jti);
        Ok(IssuedToken {
            access_token,
            expires_in: lifetime,
        })
    }

    fn authenticate(&self, client_id: &str, secret: &str) -> Result<(), OAuthError> {
        match lock(&self.clients).get(client_id) {
            Some(client) if client.secret == secret => Ok(()),
            _ => Err(OAuthError::new(
                "invalid_client",
                "Client authentication failed.",
            )),
        }
    }
}

/// A running OAuth2 stand-in; stops when dropped.
pub struct OAuthStandIn {
    base_url: String,
    shared: Arc<Shared>,
    /// Dropping it stops the server.
    _serving: Serving,
}

impl OAuthStandIn {
    /// Starts the stand-in on a free loopback port with a fresh signing key and no clients.
    pub async fn start() -> Self {
        let (listener, base_url) = bind_loopback().await;
        let (key, jwk, kid) = signing_key();
        let decoding = DecodingKey::from_jwk(
            &serde_json::from_value::<Jwk>(jwk.clone()).expect("the JWK reads back"),
        )
        .expect("the public key loads");
        let shared = Arc::new(Shared {
            issuer: base_url.clone(),
            kid,
            key,
            decoding,
            jwk,
            clients: Mutex::new(HashMap::new()),
            lifetime: Mutex::new(Duration::from_secs(3600)),
            token_requests: AtomicUsize::new(0),
            issued_count: AtomicU64::new(0),
            issued: Mutex::new(Vec::new()),
            revoked: Mutex::new(HashSet::new()),
        });
        let app = Router::new()
            .route("/oauth2/token", post(token))
            .route("/.well-known/jwks.json", get(jwks))
            .with_state(shared.clone());
        Self {
            base_url,
            shared,
            _serving: Serving::start("OAuth stand-in", listener, app),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The `iss` of its tokens (the base URL).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The token endpoint, `<base>/oauth2/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.base_url)
    }

    /// The JWKS, `<base>/.well-known/jwks.json`.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.base_url)
    }

    /// Registers (or replaces) a confidential client allowed the given scopes.
    pub fn register_client(&self, client_id: &str, secret: &str, scopes: &[&str]) {
        lock(&self.shared.clients).insert(
            client_id.to_owned(),
            RegisteredClient {
                secret: secret.to_owned(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            },
        );
    }

    /// The lifetime of tokens issued from now on (whole seconds).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        *lock(&self.shared.lifetime) = lifetime;
    }

    /// Issues a token to a registered client without going through HTTP (for tests that need
    /// a valid token to present).
    pub fn issue(&self, client_id: &str, scopes: &[&str]) -> Result<IssuedToken, OAuthError> {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.shared.issue(client_id, &scopes)
    }

    /// How many requests reached the token endpoint, granted or not.
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// How many tokens were issued, over HTTP, by [`issue`](Self::issue) or for the Identity
    /// stand-in.
    pub fn tokens_issued(&self) -> u64 {
        self.shared.issued_count.load(Ordering::SeqCst)
    }

    /// Revokes every token issued so far; tokens issued later are valid.
    pub fn revoke_all(&self) {
        let issued = std::mem::take(&mut *lock(&self.shared.issued));
        lock(&self.shared.revoked).extend(issued);
    }

    /// Checks an access token (with or without a `Bearer ` prefix): RS256 signature by this
    /// stand-in's key, issuer, expiry (no leeway), `token_use: access`, not revoked.
    pub fn validate(&self, bearer: &str) -> Result<Claims, String> {
        self.shared.validate(bearer)
    }

    /// An inbound authorizer for the runtime and gateway stand-ins that admits this stand-in's
    /// valid tokens (as an AgentCore JWT authorizer configured with its issuer would) and answers
    /// 401 otherwise.
    pub fn authorizer(&self) -> crate::agentcore_runtime::Authorizer {
        let shared = self.shared.clone();
        crate::agentcore_runtime::from_headers(move |headers| {
            let token = crate::agentcore_runtime::bearer_token(headers)
                .ok_or_else(|| "missing bearer token".to_owned())?;
            shared.validate(token).map(|_| ())
        })
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }
}

impl Shared {
    fn validate(&self, bearer: &str) -> Result<Claims, String> {
        let token = bearer
            .strip_prefix("Bearer ")
            .or_else(|| bearer.strip_prefix("bearer "))
            .unwrap_or(bearer)
            .trim();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.validate_aud = false;
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|e| format!("invalid token: {e}"))?
            .claims;
        if claims.token_use != "access" {
            return Err(format!("token_use is {:?}, not access", claims.token_use));
        }
        if lock(&self.revoked).contains(&claims.jti) {
            return Err("the token was revoked".to_owned());
        }
        Ok(claims)
    }
}

/// A fresh RS256 key: the signing key, its public JWK (with `kid`, `alg`, `use`) and the `kid`.
fn signing_key() -> (EncodingKey, Value, String) {
    let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
    let pkcs8: Pkcs8V1Der<'_> = pair.as_der().expect("PKCS#8 export");
    let body = STANDARD.encode(pkcs8.as_ref());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("the key loads");
    let mut id = [0u8; 8];
    aws_lc_rs::rand::fill(&mut id).expect("random bytes");
    let kid: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let mut jwk =
        serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::RS256).expect("a public JWK"))
            .expect("the JWK serialises");
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    jwk["alg"] = json!("RS256");
    (key, jwk, kid)
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "keys": [shared.jwk] }))
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    match grant(&shared, basic, form) {
        Ok(token) => {
            let mut response = Json(json!({
                "access_token": token.access_token,
                "expires_in": token.expires_in,
                "token_type": "Bearer",
            }))
            .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            let mut response = (
                error.status(),
                Json(json!({ "error": error.error, "error_description": error.description })),
            )
                .into_response();
            if error.status() == StatusCode::UNAUTHORIZED && basic.is_some() {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"oauth2\""),
                );
            }
            response
        }
    }
}

fn grant(
    shared: &Shared,
    basic: Option<&str>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<IssuedToken, OAuthError> {
    let invalid_request = |description: String| OAuthError::new("invalid_request", description);
    let Form(pairs) = form.map_err(|rejection| {
        invalid_request(format!(
            "The body must be application/x-www-form-urlencoded: {}",
            rejection.body_text()
        ))
    })?;
    let mut params: HashMap<&str, &str> = HashMap::new();
    for (name, value) in &pairs {
        if params.insert(name, value).is_some() {
            return Err(invalid_request(format!("Parameter {name} is repeated.")));
        }
    }
    let from_form = match (params.get("client_id"), params.get("client_secret")) {
        (Some(id), Some(secret)) => Some(((*id).to_owned(), (*secret).to_owned())),
        _ => None,
    };
    let (client_id, secret) = match (basic, from_form) {
        (Some(_), Some(_)) => {
            return Err(invalid_request(
                "Use one client authentication method, not both.".to_owned(),
            ));
        }
        (Some(encoded), None) => {
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    OAuthError::new("invalid_client", "The Basic credentials do not decode.")
                })?;
            let (id, secret) = decoded.split_once(':').ok_or_else(|| {
                OAuthError::new("invalid_client", "The Basic credentials have no ':'.")
            })?;
            (id.to_owned(), secret.to_owned())
        }
        (None, Some(pair)) => pair,
        (None, None) => {
            return Err(OAuthError::new(
                "invalid_client",
                "No client authentication was given.",
            ));
        }
    };
    shared.authenticate(&client_id, &secret)?;
    match params.get("grant_type") {
        None => return Err(invalid_request("grant_type is missing.".to_owned())),
        Some(&"client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!("grant_type {other} is not supported."),
            ));
        }
    }
    let scopes: Vec<String> = params
        .get("scope")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    shared.issue(&client_id, &scopes)
}
