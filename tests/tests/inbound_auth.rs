//! `inbound-auth` end to end, with real RS256 tokens from moto's Cognito (a user pool, two
//! app clients, a customer and a staff user) and, where a test needs to control the signing
//! key, the expiry or the JWKS endpoint, tokens signed with the test's own RSA key and served
//! from its own JWKS endpoint that counts its fetches.
//!
//! Each test builds the authenticator from the same `AUTH_*` settings a binary reads, and
//! either calls `Authenticator::authenticate` directly (to assert the exact reason of a
//! refusal, which callers never see) or serves a tiny axum app behind `AuthLayer` on a free
//! port and calls it over HTTP (to assert what callers do see: the caller's claims, or a 401
//! with a `WWW-Authenticate: Bearer` challenge and a body that gives no reason).

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use clap::Parser;
use inbound_auth::{
    AuthArgs, AuthError, AuthLayer, AuthMode, Authenticator, Caller, NONE_MODE_WARNING, Principal,
    Rejection, TokenUse, TokenUsePolicy,
};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use system_tests::cognito::{
    CUSTOMER_ID, CUSTOMER_ID_ATTRIBUTE, CUSTOMER_USERNAME, CognitoPool, STAFF_GROUP, STAFF_USERNAME,
};
use system_tests::moto::Moto;
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------------
// Building authenticators from settings, as a binary does

/// The auth settings flattened into a binary's configuration.
#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    auth: AuthArgs,
}

/// An authenticator from `AUTH_*` settings, given by their variable names and passed as the
/// matching flags (the same clap arguments read them).
fn from_settings(settings: &BTreeMap<&str, String>) -> Authenticator {
    let flags = settings
        .iter()
        .map(|(name, value)| format!("--{}={value}", name.to_lowercase().replace('_', "-")));
    let cli = Cli::try_parse_from(std::iter::once("service".to_owned()).chain(flags))
        .unwrap_or_else(|error| panic!("settings {settings:?} do not parse: {error}"));
    Authenticator::from_args(cli.auth)
        .unwrap_or_else(|error| panic!("settings {settings:?} are refused: {error}"))
}

/// Settings verifying the pool's tokens against moto's JWKS, with overrides.
fn pool_settings<'a>(
    pool: &CognitoPool,
    mode: &str,
    overrides: &[(&'a str, &str)],
) -> BTreeMap<&'a str, String> {
    let mut settings = BTreeMap::from([
        ("AUTH_MODE", mode.to_owned()),
        ("AUTH_ISSUER", pool.issuer.clone()),
        ("AUTH_JWKS_URL", pool.jwks_url.clone()),
        ("AUTH_ALLOWED_CLIENT_IDS", pool.client_id.clone()),
    ]);
    for (name, value) in overrides {
        settings.insert(*name, (*value).to_owned());
    }
    settings
}

async fn moto_pool() -> (Moto, CognitoPool) {
    let moto = Moto::start().await.expect("moto starts");
    let pool = CognitoPool::create(&moto)
        .await
        .expect("user pool is set up");
    (moto, pool)
}

fn bearer(token: &str) -> HeaderMap {
    authorization(&format!("Bearer {token}"))
}

fn authorization(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(value).expect("a valid header value"),
    );
    headers
}

async fn accepted(authenticator: &Authenticator, token: &str) -> Principal {
    match authenticator.authenticate(&bearer(token)).await {
        Ok(Caller::Authenticated(principal)) => principal,
        other => panic!("token should be accepted, got {other:?}"),
    }
}

async fn refusal(authenticator: &Authenticator, token: &str) -> Rejection {
    match authenticator.authenticate(&bearer(token)).await {
        Err(AuthError::InvalidToken(rejection)) => rejection,
        other => panic!("token should be refused as invalid, got {other:?}"),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

// ---------------------------------------------------------------------------------------------
// Token surgery

fn segments(token: &str) -> [String; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    [
        parts[0].to_owned(),
        parts[1].to_owned(),
        parts[2].to_owned(),
    ]
}

fn decode_segment(segment: &str) -> Map<String, Value> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).expect("base64url segment");
    serde_json::from_slice(&bytes).expect("a JSON object segment")
}

fn encode_segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"))
}

fn claims_of(token: &str) -> Map<String, Value> {
    decode_segment(&segments(token)[1])
}

/// The token with one bit of its signature flipped.
fn flip_signature_bit(token: &str) -> String {
    let [header, payload, signature] = segments(token);
    let mut signature = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64url signature");
    let middle = signature.len() / 2;
    signature[middle] ^= 0x01;
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The token with its payload replaced, header and signature kept.
fn replace_payload(token: &str, claims: &Map<String, Value>) -> String {
    let [header, _, signature] = segments(token);
    format!(
        "{header}.{}.{signature}",
        encode_segment(&Value::Object(claims.clone()))
    )
}

// ---------------------------------------------------------------------------------------------
// The test's own issuer: an RSA key and a JWKS endpoint that counts fetches

/// An RSA signing key with its public JWK.
struct SigningKey {
    kid: String,
    key: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    fn generate(kid: &str) -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let pkcs8: Pkcs8V1Der<'_> = pair.as_der().expect("PKCS#8 export");
        let pem = pem("PRIVATE KEY", pkcs8.as_ref());
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("key loads");
        let mut jwk = serde_json::to_value(
            Jwk::from_encoding_key(&key, Algorithm::RS256).expect("public JWK"),
        )
        .expect("JWK serializes");
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        Self {
            kid: kid.to_owned(),
            key,
            jwk,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(self.header(), claims)
    }

    /// The RS256 header naming this key, for tests that add to it.
    fn header(&self) -> Header {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header
    }

    fn sign_with_header(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.key).expect("token signs")
    }

    /// The same key, announced under another key id.
    fn with_kid(&self, kid: &str) -> Self {
        let mut jwk = self.jwk.clone();
        jwk["kid"] = json!(kid);
        Self {
            kid: kid.to_owned(),
            key: self.key.clone(),
            jwk,
        }
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A JWKS endpoint on a free loopback port, serving a set the test can change, counting the
/// requests it gets and optionally answering late.
struct JwksEndpoint {
    url: String,
    fetches: Arc<AtomicUsize>,
    keys: Arc<Mutex<Vec<Value>>>,
    server: JoinHandle<()>,
}

impl JwksEndpoint {
    async fn start(keys: Vec<Value>, delay: Duration) -> Self {
        let fetches = Arc::new(AtomicUsize::new(0));
        let keys = Arc::new(Mutex::new(keys));
        let router = Router::new().route(
            "/pool/.well-known/jwks.json",
            get({
                let fetches = fetches.clone();
                let keys = keys.clone();
                move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let keys = keys.lock().expect("keys lock").clone();
                    Json(json!({ "keys": keys }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let url = format!(
            "http://{}/pool/.well-known/jwks.json",
            listener.local_addr().expect("local address")
        );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            url,
            fetches,
            keys,
            server,
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn serve_keys(&self, keys: Vec<Value>) {
        *self.keys.lock().expect("keys lock") = keys;
    }
}

impl Drop for JwksEndpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

const OWN_ISSUER: &str = "https://issuer.test/pool";
const OWN_CLIENT: &str = "own-client";

/// Cognito-shaped access-token claims from the test's own issuer, expiring at `exp`.
fn own_access_claims(exp: u64) -> Value {
    json!({
        "iss": OWN_ISSUER,
        "sub": "0f1e2d3c-aaaa-bbbb-cccc-000000000001",
        "client_id": OWN_CLIENT,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "username": "own-user",
        "iat": now() - 60,
        "exp": exp,
    })
}

fn own_settings(
    mode: &str,
    jwks: &JwksEndpoint,
    refresh_seconds: u64,
) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("AUTH_MODE", mode.to_owned()),
        ("AUTH_ISSUER", OWN_ISSUER.to_owned()),
        ("AUTH_JWKS_URL", jwks.url.clone()),
        ("AUTH_ALLOWED_CLIENT_IDS", OWN_CLIENT.to_owned()),
        ("AUTH_JWKS_REFRESH_SECONDS", refresh_seconds.to_string()),
    ])
}

// ---------------------------------------------------------------------------------------------
// A tiny app behind the layer, called over HTTP

struct App {
    url: String,
    handler_calls: Arc<AtomicUsize>,
    server: JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What the handler saw of the caller.
fn describe(caller: &Caller) -> Value {
    match caller {
        Caller::Anonymous => json!({ "anonymous": true }),
        Caller::Authenticated(principal) => json!({
            "anonymous": false,
            "subject": principal.subject,
            "username": principal.username,
            "groups": principal.groups,
            "client_id": principal.client_id,
            "scopes": principal.scopes,
            "token_use": principal.token_use.as_str(),
            "customer_id": principal.claim_str(CUSTOMER_ID_ATTRIBUTE),
        }),
    }
}

async fn serve(authenticator: Authenticator) -> App {
    let handler_calls = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route(
            "/whoami",
            get({
                let handler_calls = handler_calls.clone();
                move |caller: Caller| async move {
                    handler_calls.fetch_add(1, Ordering::SeqCst);
                    Json(describe(&caller))
                }
            }),
        )
        .route_layer(AuthLayer::new(authenticator));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let url = format!(
        "http://{}/whoami",
        listener.local_addr().expect("local address")
    );
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    App {
        url,
        handler_calls,
        server,
    }
}

impl App {
    async fn call(&self, authorization: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(&self.url);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.expect("the app answers")
    }

    /// Calls with a bearer token, expects 200, returns what the handler saw.
    async fn caller_seen(&self, token: &str) -> Value {
        let response = self.call(Some(&format!("Bearer {token}"))).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("JSON answer")
    }

    /// Calls with the given `Authorization` value (or none) and checks the refusal: 401, the
    /// Bearer challenge (flagging `invalid_token` when one was sent), the fixed body that
    /// gives no reason, and the handler never ran.
    async fn assert_refused(&self, authorization: Option<&str>, invalid_token: bool) {
        let calls_before = self.handler_calls.load(Ordering::SeqCst);
        let response = self.call(authorization).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{authorization:?}"
        );
        let challenges: Vec<_> = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|value| value.to_str().expect("ASCII challenge").to_owned())
            .collect();
        let expected = if invalid_token {
            r#"Bearer error="invalid_token""#
        } else {
            "Bearer"
        };
        assert_eq!(challenges, [expected], "{authorization:?}");
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok()),
            Some("application/json")
        );
        let body = response.text().await.expect("body");
        assert_eq!(
            serde_json::from_str::<Value>(&body).expect("JSON body"),
            json!({ "error": "unauthorized" }),
            "the body must not say why: {body}"
        );
        assert_eq!(
            self.handler_calls.load(Ordering::SeqCst),
            calls_before,
            "a refused request must not reach the handler"
        );
    }

    async fn assert_token_refused(&self, token: &str) {
        self.assert_refused(Some(&format!("Bearer {token}")), true)
            .await;
    }
}

// ---------------------------------------------------------------------------------------------
// Log capture

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

/// Captures every log line (debug and up) of this thread while the guard lives. The tests
/// that use it run on tokio's current-thread runtime, so spawned tasks log here too.
fn capture_logs() -> (LogBuffer, tracing::subscriber::DefaultGuard) {
    let buffer = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(buffer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (buffer, guard)
}

// ---------------------------------------------------------------------------------------------
// verify mode with moto's Cognito tokens

#[tokio::test]
async fn customer_access_token_is_accepted_with_its_claims() {
    let (_moto, pool) = moto_pool().await;
    let authenticator = from_settings(&pool_settings(&pool, "verify", &[]));
    let app = serve(authenticator.clone()).await;
    let subject = pool.subject_of(CUSTOMER_USERNAME).await.unwrap();

    let admin_flow = pool.customer_tokens().await.unwrap();
    let public_flow = pool
        .sign_in_with_user_password(CUSTOMER_USERNAME, &pool.client_id)
        .await
        .unwrap();
    for tokens in [admin_flow, public_flow] {
        let seen = app.caller_seen(&tokens.access_token).await;
        assert_eq!(
            seen,
            json!({
                "anonymous": false,
                "subject": subject,
                "username": CUSTOMER_USERNAME,
                "groups": [],
                "client_id": pool.client_id,
                "scopes": ["aws.cognito.signin.user.admin"],
                "token_use": "access",
                "customer_id": null,
            })
        );

        let principal = accepted(&authenticator, &tokens.access_token).await;
        assert_eq!(principal.token_use, TokenUse::Access);
        assert_eq!(principal.claims, claims_of(&tokens.access_token));
        assert!(principal.has_scope("aws.cognito.signin.user.admin"));
    }
}

#[tokio::test]
async fn staff_access_token_carries_the_staff_group() {
    let (_moto, pool) = moto_pool().await;
    let app = serve(from_settings(&pool_settings(&pool, "verify", &[]))).await;
    let tokens = pool.staff_tokens().await.unwrap();

    let seen = app.caller_seen(&tokens.access_token).await;
    assert_eq!(
        seen["subject"],
        json!(pool.subject_of(STAFF_USERNAME).await.unwrap())
    );
    assert_eq!(seen["username"], json!(STAFF_USERNAME));
    assert_eq!(seen["groups"], json!([STAFF_GROUP]));

    let customer = app
        .caller_seen(&pool.customer_tokens().await.unwrap().access_token)
        .await;
    assert_eq!(customer["groups"], json!([]), "the customer is not staff");
}

#[tokio::test]
async fn id_token_is_accepted_when_token_use_is_id_and_refused_when_access() {
    let (_moto, pool) = moto_pool().await;
    let tokens = pool.customer_tokens().await.unwrap();

    let id_only = from_settings(&pool_settings(&pool, "verify", &[("AUTH_TOKEN_USE", "id")]));
    let principal = accepted(&id_only, &tokens.id_token).await;
    assert_eq!(principal.token_use, TokenUse::Id);
    assert_eq!(
        principal.client_id, pool.client_id,
        "from the ID token's aud"
    );
    assert_eq!(principal.username.as_deref(), Some(CUSTOMER_USERNAME));
    assert_eq!(
        principal.claim_str(CUSTOMER_ID_ATTRIBUTE),
        Some(CUSTOMER_ID),
        "custom attributes travel as claims"
    );
    let app = serve(id_only.clone()).await;
    assert_eq!(
        app.caller_seen(&tokens.id_token).await["customer_id"],
        json!(CUSTOMER_ID)
    );

    let access_only = from_settings(&pool_settings(&pool, "verify", &[]));
    assert_eq!(
        refusal(&access_only, &tokens.id_token).await,
        Rejection::TokenUseNotAccepted {
            presented: TokenUse::Id,
            accepted: TokenUsePolicy::Access
        }
    );
    serve(access_only)
        .await
        .assert_token_refused(&tokens.id_token)
        .await;

    let any = from_settings(&pool_settings(
        &pool,
        "verify",
        &[("AUTH_TOKEN_USE", "any")],
    ));
    assert_eq!(
        accepted(&any, &tokens.id_token).await.token_use,
        TokenUse::Id
    );
    assert_eq!(
        accepted(&any, &tokens.access_token).await.token_use,
        TokenUse::Access
    );
}

#[tokio::test]
async fn access_token_is_refused_when_only_id_tokens_are_accepted() {
    let (_moto, pool) = moto_pool().await;
    let tokens = pool.customer_tokens().await.unwrap();
    let id_only = from_settings(&pool_settings(&pool, "verify", &[("AUTH_TOKEN_USE", "id")]));
    assert_eq!(
        refusal(&id_only, &tokens.access_token).await,
        Rejection::TokenUseNotAccepted {
            presented: TokenUse::Access,
            accepted: TokenUsePolicy::Id
        }
    );
    serve(id_only)
        .await
        .assert_token_refused(&tokens.access_token)
        .await;
}

#[tokio::test]
async fn token_from_another_pool_is_refused_as_wrong_issuer() {
    let (moto, pool) = moto_pool().await;
    // moto signs every pool's tokens with the same key, so only the issuer tells them apart.
    let other_pool = CognitoPool::create_named(&moto, "another-pool")
        .await
        .unwrap();
    let foreign = other_pool.customer_tokens().await.unwrap();
    let authenticator = from_settings(&pool_settings(
        &pool,
        "verify",
        &[(
            "AUTH_ALLOWED_CLIENT_IDS",
            &format!("{},{}", pool.client_id, other_pool.client_id),
        )],
    ));
    assert_eq!(
        refusal(&authenticator, &foreign.access_token).await,
        Rejection::WrongIssuer
    );
    serve(authenticator)
        .await
        .assert_token_refused(&foreign.access_token)
        .await;
}

#[tokio::test]
async fn token_of_a_client_not_allowed_is_refused() {
    let (_moto, pool) = moto_pool().await;
    let authenticator = from_settings(&pool_settings(
        &pool,
        "verify",
        &[("AUTH_TOKEN_USE", "any")],
    ));
    let other = pool
        .sign_in(CUSTOMER_USERNAME, &pool.other_client_id)
        .await
        .unwrap();
    assert_eq!(
        refusal(&authenticator, &other.access_token).await,
        Rejection::ClientNotAllowed
    );
    assert_eq!(
        refusal(&authenticator, &other.id_token).await,
        Rejection::ClientNotAllowed
    );
    let app = serve(authenticator).await;
    app.assert_token_refused(&other.access_token).await;
    app.assert_token_refused(&other.id_token).await;
    // The same user through the allowed client is fine.
    app.caller_seen(&pool.customer_tokens().await.unwrap().access_token)
        .await;
}

#[tokio::test]
async fn flipped_signature_bit_is_refused() {
    let (_moto, pool) = moto_pool().await;
    let authenticator = from_settings(&pool_settings(&pool, "verify", &[]));
    let token = pool.customer_tokens().await.unwrap().access_token;
    accepted(&authenticator, &token).await;
    let forged = flip_signature_bit(&token);
    assert_eq!(
        refusal(&authenticator, &forged).await,
        Rejection::BadSignature
    );
    serve(authenticator)
        .await
        .assert_token_refused(&forged)
        .await;
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let (_moto, pool) = moto_pool().await;
    let authenticator = from_settings(&pool_settings(&pool, "verify", &[]));
    let token = pool.customer_tokens().await.unwrap().access_token;
    // A customer promoting themself to staff.
    let mut claims = claims_of(&token);
    claims.insert("cognito:groups".to_owned(), json!([STAFF_GROUP]));
    let forged = replace_payload(&token, &claims);
    assert_eq!(
        refusal(&authenticator, &forged).await,
        Rejection::BadSignature
    );
    // A longer lifetime.
    let mut claims = claims_of(&token);
    claims.insert("exp".to_owned(), json!(now() + 365 * 24 * 3600));
    let extended = replace_payload(&token, &claims);
    assert_eq!(
        refusal(&authenticator, &extended).await,
        Rejection::BadSignature
    );

    let app = serve(authenticator).await;
    app.assert_token_refused(&forged).await;
    app.assert_token_refused(&extended).await;
}

#[tokio::test]
async fn token_signed_with_another_key_under_the_pools_kid_is_refused() {
    let (_moto, pool) = moto_pool().await;
    let authenticator = from_settings(&pool_settings(&pool, "verify", &[]));
    let real = pool.customer_tokens().await.unwrap().access_token;
    let pool_kid = decode_segment(&segments(&real)[0])["kid"]
        .as_str()
        .expect("moto names its key")
        .to_owned();
    // Same header key id, same (valid) claims, another private key.
    let impostor = SigningKey::generate(&pool_kid);
    let forged = impostor.sign(&Value::Object(claims_of(&real)));
    assert_eq!(
        refusal(&authenticator, &forged).await,
        Rejection::BadSignature
    );
    serve(authenticator)
        .await
        .assert_token_refused(&forged)
        .await;
}

#[tokio::test]
async fn alg_none_token_is_refused() {
    let (_moto, pool) = moto_pool().await;
    let authenticator = from_settings(&pool_settings(&pool, "verify", &[]));
    let real = pool.customer_tokens().await.unwrap().access_token;
    let [header, payload, signature] = segments(&real);
    let kid = decode_segment(&header)["kid"].clone();
    let mut forged = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = encode_segment(&json!({ "alg": alg, "typ": "JWT", "kid": kid }));
        forged.push(format!("{header}.{payload}."));
        forged.push(format!("{header}.{payload}.{signature}"));
    }
    let app = serve(authenticator.clone()).await;
    for token in &forged {
        let rejection = refusal(&authenticator, token).await;
        assert!(
            matches!(
                rejection,
                Rejection::Malformed | Rejection::UnsupportedAlgorithm
            ),
            "{rejection:?}"
        );
        app.assert_token_refused(token).await;
    }
}

#[tokio::test]
async fn hs256_token_signed_with_the_public_key_is_refused() {
    let (_moto, pool) = moto_pool().await;
    let authenticator = from_settings(&pool_settings(&pool, "verify", &[]));
    let real = pool.customer_tokens().await.unwrap().access_token;
    let claims = Value::Object(claims_of(&real));
    let kid = decode_segment(&segments(&real)[0])["kid"]
        .as_str()
        .expect("moto names its key")
        .to_owned();

    // Every public form of the pool's key an attacker could try as the HMAC secret.
    let jwks_text = reqwest::get(&pool.jwks_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jwks: Value = serde_json::from_str(&jwks_text).unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == json!(kid))
        .expect("the token's key is published")
        .clone();
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let spki: PublicKeyX509Der<'_> = PublicKeyComponents { n: &n, e: &e }
        .as_der()
        .expect("SubjectPublicKeyInfo");
    let pkcs1 = aws_lc_rs::rsa::PublicKey::from_der(spki.as_ref())
        .expect("public key parses")
        .as_ref()
        .to_vec();
    let secrets: Vec<Vec<u8>> = vec![
        jwks_text.into_bytes(),
        jwk.to_string().into_bytes(),
        spki.as_ref().to_vec(),
        pem("PUBLIC KEY", spki.as_ref()).into_bytes(),
        pkcs1.clone(),
        pem("RSA PUBLIC KEY", &pkcs1).into_bytes(),
        n,
    ];

    let app = serve(authenticator.clone()).await;
    for secret in &secrets {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        let forged = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret))
            .expect("HS256 signs");
        assert_eq!(
            refusal(&authenticator, &forged).await,
            Rejection::UnsupportedAlgorithm
        );
        app.assert_token_refused(&forged).await;
    }
    // The genuine token still passes: the refusals above are about the forgeries.
    accepted(&authenticator, &real).await;
}

#[tokio::test]
async fn missing_authorization_header_gets_a_bare_bearer_challenge() {
    let (_moto, pool) = moto_pool().await;
    let authenticator = from_settings(&pool_settings(&pool, "verify", &[]));
    assert_eq!(
        authenticator.authenticate(&HeaderMap::new()).await,
        Err(AuthError::MissingToken)
    );
    serve(authenticator).await.assert_refused(None, false).await;
}

#[tokio::test]
async fn malformed_authorization_headers_are_refused() {
    let (_moto, pool) = moto_pool().await;
    let authenticator = from_settings(&pool_settings(&pool, "verify", &[]));
    let real = pool.customer_tokens().await.unwrap().access_token;
    let app = serve(authenticator.clone()).await;

    // Another scheme: no bearer token at all, so a bare challenge.
    for value in ["Basic Y3VzdG9tZXI6cGFzc3dvcmQ=", real.as_str()] {
        assert_eq!(
            authenticator.authenticate(&authorization(value)).await,
            Err(AuthError::UnsupportedScheme)
        );
        app.assert_refused(Some(value), false).await;
    }

    // The Bearer scheme with something that is not a usable JWT.
    let [header, payload, _] = segments(&real);
    let not_json = URL_SAFE_NO_PAD.encode("not json");
    for value in [
        "Bearer".to_owned(),
        "Bearer not-a-jwt".to_owned(),
        "Bearer a.b.c".to_owned(),
        format!("Bearer {header}.{payload}"),
        format!("Bearer {real}.extra"),
        format!("Bearer {real} trailing"),
        format!("Bearer {not_json}.{payload}.c2ln"),
    ] {
        match authenticator.authenticate(&authorization(&value)).await {
            Err(AuthError::InvalidToken(Rejection::Malformed)) => {}
            other => panic!("{value:?} should be malformed, got {other:?}"),
        }
        app.assert_refused(Some(&value), true).await;
    }
}

// ---------------------------------------------------------------------------------------------
// verify mode with the test's own key: expiry, key fetching, refresh rate limit, timeout

#[tokio::test]
async fn expired_token_is_refused_and_the_leeway_is_honoured() {
    let key = SigningKey::generate("own-key");
    let jwks = JwksEndpoint::start(vec![key.jwk.clone()], Duration::ZERO).await;
    let authenticator = from_settings(&own_settings("verify", &jwks, 30));
    let app = serve(authenticator.clone()).await;

    // Expired two minutes ago: beyond the default 30 s leeway.
    let expired = key.sign(&own_access_claims(now() - 120));
    assert_eq!(refusal(&authenticator, &expired).await, Rejection::Expired);
    app.assert_token_refused(&expired).await;

    // Expired 5 s ago: within the leeway, still accepted.
    let just_expired = key.sign(&own_access_claims(now() - 5));
    accepted(&authenticator, &just_expired).await;

    // With no leeway the same token is refused.
    let mut strict_settings = own_settings("verify", &jwks, 30);
    strict_settings.insert("AUTH_LEEWAY_SECONDS", "0".to_owned());
    let strict = from_settings(&strict_settings);
    assert_eq!(refusal(&strict, &just_expired).await, Rejection::Expired);

    // Not valid before ten minutes from now.
    let mut early = own_access_claims(now() + 3600);
    early["nbf"] = json!(now() + 600);
    let early = key.sign(&early);
    assert_eq!(
        refusal(&authenticator, &early).await,
        Rejection::NotYetValid
    );
    app.assert_token_refused(&early).await;

    // A fresh token from the same key passes, so the refusals are about time.
    app.caller_seen(&key.sign(&own_access_claims(now() + 3600)))
        .await;
}

#[tokio::test]
async fn own_issuer_checks_apply_to_correctly_signed_tokens() {
    let key = SigningKey::generate("own-key");
    let jwks = JwksEndpoint::start(vec![key.jwk.clone()], Duration::ZERO).await;
    let authenticator = from_settings(&own_settings("verify", &jwks, 30));
    let good = own_access_claims(now() + 3600);
    accepted(&authenticator, &key.sign(&good)).await;

    let mut wrong_issuer = good.clone();
    wrong_issuer["iss"] = json!("https://issuer.test/other-pool");
    assert_eq!(
        refusal(&authenticator, &key.sign(&wrong_issuer)).await,
        Rejection::WrongIssuer
    );
    let mut wrong_client = good.clone();
    wrong_client["client_id"] = json!("someone-else");
    assert_eq!(
        refusal(&authenticator, &key.sign(&wrong_client)).await,
        Rejection::ClientNotAllowed
    );
    let mut refresh_token_use = good.clone();
    refresh_token_use["token_use"] = json!("refresh");
    assert_eq!(
        refusal(&authenticator, &key.sign(&refresh_token_use)).await,
        Rejection::WrongTokenUse
    );
    let mut no_kid = Header::new(Algorithm::RS256);
    no_kid.kid = None;
    let token = jsonwebtoken::encode(&no_kid, &good, &key.key).unwrap();
    assert_eq!(
        refusal(&authenticator, &token).await,
        Rejection::MissingKeyId
    );
}

#[tokio::test]
async fn keys_are_fetched_lazily_and_cached() {
    let key = SigningKey::generate("own-key");
    let jwks = JwksEndpoint::start(vec![key.jwk.clone()], Duration::ZERO).await;
    let authenticator = from_settings(&own_settings("verify", &jwks, 30));
    authenticator.log_startup();
    let app = serve(authenticator.clone()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(jwks.fetches(), 0, "no JWKS fetch at start-up");

    let token = key.sign(&own_access_claims(now() + 3600));
    for _ in 0..5 {
        accepted(&authenticator, &token).await;
        app.caller_seen(&token).await;
    }
    assert_eq!(jwks.fetches(), 1, "one fetch, then the cache");
}

#[tokio::test]
async fn unknown_kid_triggers_exactly_one_jwks_refresh_within_the_rate_limit_window() {
    const WINDOW_SECONDS: u64 = 2;
    let key_a = SigningKey::generate("key-a");
    let key_b = key_a.with_kid("key-b");
    let key_c = key_a.with_kid("key-c");
    let jwks = JwksEndpoint::start(vec![key_a.jwk.clone()], Duration::ZERO).await;
    let authenticator = from_settings(&own_settings("verify", &jwks, WINDOW_SECONDS));
    let claims = own_access_claims(now() + 3600);

    accepted(&authenticator, &key_a.sign(&claims)).await;
    assert_eq!(jwks.fetches(), 1);

    // The issuer rotates in key B; once the window since the first fetch has passed, a
    // burst of tokens naming B or made-up key ids causes exactly one refresh.
    jwks.serve_keys(vec![key_a.jwk.clone(), key_b.jwk.clone()]);
    tokio::time::sleep(Duration::from_millis(WINDOW_SECONDS * 1000 + 200)).await;
    let window_start = Instant::now();
    let garbage: Vec<String> = (0..20)
        .map(|i| key_a.with_kid(&format!("made-up-{i}")).sign(&claims))
        .collect();
    let token_b = key_b.sign(&claims);
    let mut burst: Vec<_> = garbage
        .iter()
        .map(|token| {
            let authenticator = authenticator.clone();
            let token = token.clone();
            tokio::spawn(async move { authenticator.authenticate(&bearer(&token)).await })
        })
        .collect();
    burst.push({
        let authenticator = authenticator.clone();
        let token = token_b.clone();
        tokio::spawn(async move { authenticator.authenticate(&bearer(&token)).await })
    });
    let results = futures::future::join_all(burst).await;
    for result in &results[..garbage.len()] {
        assert_eq!(
            result.as_ref().expect("task completes"),
            &Err(AuthError::InvalidToken(Rejection::UnknownKeyId))
        );
    }
    assert!(
        matches!(results[garbage.len()], Ok(Ok(Caller::Authenticated(_)))),
        "key B is picked up by the refresh: {:?}",
        results[garbage.len()]
    );
    accepted(&authenticator, &token_b).await;
    assert_eq!(jwks.fetches(), 2, "exactly one refresh for the whole burst");

    // Key C appears right after: still inside the window, so no refresh and C is unknown.
    jwks.serve_keys(vec![
        key_a.jwk.clone(),
        key_b.jwk.clone(),
        key_c.jwk.clone(),
    ]);
    let token_c = key_c.sign(&claims);
    for token in garbage.iter().take(5).chain(std::iter::once(&token_c)) {
        assert_eq!(
            refusal(&authenticator, token).await,
            Rejection::UnknownKeyId
        );
    }
    assert!(
        window_start.elapsed() < Duration::from_secs(WINDOW_SECONDS),
        "the checks above ran inside the window"
    );
    assert_eq!(jwks.fetches(), 2, "no refresh inside the window");

    // After the window, C triggers one refresh and is accepted.
    tokio::time::sleep(Duration::from_millis(WINDOW_SECONDS * 1000 + 200)).await;
    accepted(&authenticator, &token_c).await;
    accepted(&authenticator, &token_c).await;
    assert_eq!(jwks.fetches(), 3);
}

#[tokio::test]
async fn jwks_fetch_times_out_with_a_logged_error_and_is_not_retried_at_once() {
    let (logs, _guard) = capture_logs();
    let key = SigningKey::generate("own-key");
    let jwks = JwksEndpoint::start(vec![key.jwk.clone()], Duration::from_secs(10)).await;
    let mut settings = own_settings("verify", &jwks, 30);
    settings.insert("AUTH_JWKS_TIMEOUT_MS", "300".to_owned());
    let authenticator = from_settings(&settings);
    let token = key.sign(&own_access_claims(now() + 3600));

    let started = Instant::now();
    assert_eq!(
        refusal(&authenticator, &token).await,
        Rejection::KeysUnavailable
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the fetch gave up after its timeout, not the server's 10 s: {:?}",
        started.elapsed()
    );
    let logged = logs.text();
    let error_line = logged
        .lines()
        .find(|line| line.contains("ERROR") && line.contains("cannot fetch the issuer's JWKS"))
        .unwrap_or_else(|| panic!("no error line about the JWKS fetch in:\n{logged}"));
    assert!(error_line.contains(&jwks.url), "{error_line}");
    assert!(error_line.contains("timed out"), "{error_line}");

    // The failing endpoint is not asked again inside the refresh window.
    assert_eq!(
        refusal(&authenticator, &token).await,
        Rejection::UnknownKeyId
    );
    assert_eq!(jwks.fetches(), 1);
}

#[tokio::test]
async fn logs_name_the_reason_but_never_the_token() {
    let (logs, _guard) = capture_logs();
    let (_moto, pool) = moto_pool().await;
    let authenticator = from_settings(&pool_settings(&pool, "verify", &[]));
    let tokens = pool.customer_tokens().await.unwrap();
    let other_client = pool
        .sign_in(CUSTOMER_USERNAME, &pool.other_client_id)
        .await
        .unwrap();
    let forged = flip_signature_bit(&tokens.access_token);

    let app = serve(authenticator.clone()).await;
    app.caller_seen(&tokens.access_token).await;
    app.assert_token_refused(&forged).await;
    app.assert_token_refused(&other_client.access_token).await;
    app.assert_token_refused(&tokens.id_token).await;

    let logged = logs.text();
    assert!(logged.contains("bad signature"), "{logged}");
    assert!(logged.contains("client not allowed"), "{logged}");
    assert!(logged.contains("token_use not accepted"), "{logged}");
    for token in [
        &tokens.access_token,
        &tokens.id_token,
        &other_client.access_token,
        &forged,
    ] {
        for part in segments(token) {
            assert!(
                !logged.contains(&part),
                "a token segment appears in the logs:\n{logged}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The header and the token's times, with the test's own key in both token modes

const HOUR: u64 = 3_600;
const DAY: u64 = 24 * HOUR;
const TEN_YEARS: u64 = 10 * 365 * DAY;

/// Own-issuer access-token claims issued at `iat` (none when `None`), expiring at `exp`.
fn own_claims_issued(iat: Option<u64>, exp: u64) -> Value {
    let mut claims = own_access_claims(exp);
    match iat {
        Some(iat) => claims["iat"] = json!(iat),
        None => {
            claims.as_object_mut().expect("an object").remove("iat");
        }
    }
    claims
}

#[tokio::test]
async fn a_token_with_critical_header_extensions_is_refused_in_both_modes() {
    let (logs, _guard) = capture_logs();
    let key = SigningKey::generate("own-key");
    let jwks = JwksEndpoint::start(vec![key.jwk.clone()], Duration::ZERO).await;
    let claims = own_access_claims(now() + HOUR);
    // An extension parameter the issuer marks as one the recipient must understand.
    let mut header = key.header();
    header.crit = Some(vec!["urn:example:binding".to_owned()]);
    header.extras.insert("urn:example:binding", "channel-42");
    let critical = key.sign_with_header(header, &claims);
    let mut empty_list = key.header();
    empty_list.crit = Some(Vec::new());
    let empty_list = key.sign_with_header(empty_list, &claims);

    // agentcore mode first: it never fetches keys, so the count stays 0 until verify mode
    // accepts the plain token.
    for mode in ["agentcore", "verify"] {
        let authenticator = from_settings(&own_settings(mode, &jwks, 30));
        let app = serve(authenticator.clone()).await;
        for token in [&critical, &empty_list] {
            assert_eq!(
                refusal(&authenticator, token).await,
                Rejection::CriticalHeader,
                "{mode}"
            );
            app.assert_token_refused(token).await;
        }
        assert_eq!(jwks.fetches(), 0, "{mode}: refused before any key lookup");
        // The same claims under a plain header pass: the refusal is about `crit`.
        app.caller_seen(&key.sign(&claims)).await;
    }
    let logged = logs.text();
    assert!(logged.contains("critical extensions (crit)"), "{logged}");
    assert!(!logged.contains(&segments(&critical)[0]), "{logged}");
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_refused_in_both_modes() {
    let key = SigningKey::generate("own-key");
    let jwks = JwksEndpoint::start(vec![key.jwk.clone()], Duration::ZERO).await;
    let now = now();
    let an_hour_ahead = key.sign(&own_claims_issued(Some(now + HOUR), now + 2 * HOUR));
    let ten_years_ahead = key.sign(&own_claims_issued(
        Some(now + TEN_YEARS),
        now + TEN_YEARS + HOUR,
    ));
    // Within the default 30 s leeway: a clock a little ahead of ours.
    let slightly_ahead = key.sign(&own_claims_issued(Some(now + 10), now + HOUR));
    for mode in ["verify", "agentcore"] {
        let authenticator = from_settings(&own_settings(mode, &jwks, 30));
        let app = serve(authenticator.clone()).await;
        for token in [&an_hour_ahead, &ten_years_ahead] {
            assert_eq!(
                refusal(&authenticator, token).await,
                Rejection::IssuedInFuture,
                "{mode}"
            );
            app.assert_token_refused(token).await;
        }
        app.caller_seen(&slightly_ahead).await;
    }
    let mut strict = own_settings("verify", &jwks, 30);
    strict.insert("AUTH_LEEWAY_SECONDS", "0".to_owned());
    assert_eq!(
        refusal(&from_settings(&strict), &slightly_ahead).await,
        Rejection::IssuedInFuture,
        "no leeway, no clock ahead"
    );
}

#[tokio::test]
async fn a_token_valid_for_longer_than_the_maximum_is_refused_in_both_modes() {
    let key = SigningKey::generate("own-key");
    let jwks = JwksEndpoint::start(vec![key.jwk.clone()], Duration::ZERO).await;
    let now = now();
    let issued = now - 60;
    let a_day = key.sign(&own_claims_issued(Some(issued), issued + DAY));
    let too_long = [
        // 25 h from issue.
        key.sign(&own_claims_issued(Some(issued), issued + 25 * HOUR)),
        // Ten years, as a forger might mint.
        key.sign(&own_claims_issued(Some(issued), issued + TEN_YEARS)),
        // 25 h granted 20 h ago: only 5 h are left, but the lifetime counts.
        key.sign(&own_claims_issued(Some(now - 20 * HOUR), now + 5 * HOUR)),
        // No iat: 25 h left from now.
        key.sign(&own_claims_issued(None, now + 25 * HOUR)),
    ];
    let too_long_for_a_day = Rejection::LifetimeTooLong { max_seconds: DAY };
    for mode in ["verify", "agentcore"] {
        let authenticator = from_settings(&own_settings(mode, &jwks, 30));
        let app = serve(authenticator.clone()).await;
        app.caller_seen(&a_day).await;
        for token in &too_long {
            assert_eq!(
                refusal(&authenticator, token).await,
                too_long_for_a_day,
                "{mode}: {:?}",
                claims_of(token)
            );
            app.assert_token_refused(token).await;
        }

        // A stricter maximum refuses the day-long token too.
        let mut hour = own_settings(mode, &jwks, 30);
        hour.insert("AUTH_MAX_TOKEN_LIFETIME_SECONDS", HOUR.to_string());
        let hour = from_settings(&hour);
        assert_eq!(
            refusal(&hour, &a_day).await,
            Rejection::LifetimeTooLong { max_seconds: HOUR },
            "{mode}"
        );
        accepted(
            &hour,
            &key.sign(&own_claims_issued(Some(issued), issued + HOUR)),
        )
        .await;
    }
}

#[tokio::test]
async fn cognito_tokens_pass_the_header_and_lifetime_checks() {
    let (_moto, pool) = moto_pool().await;
    let tokens = pool.customer_tokens().await.unwrap();
    for token in [&tokens.access_token, &tokens.id_token] {
        let claims = claims_of(token);
        let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
        assert!(lifetime <= DAY, "{claims:?}");
        assert!(decode_segment(&segments(token)[0]).get("crit").is_none());
    }
    let any = [("AUTH_TOKEN_USE", "any")];
    for mode in ["verify", "agentcore"] {
        let authenticator = from_settings(&pool_settings(&pool, mode, &any));
        accepted(&authenticator, &tokens.access_token).await;
        accepted(&authenticator, &tokens.id_token).await;
    }
}

// ---------------------------------------------------------------------------------------------
// agentcore mode

#[tokio::test]
async fn agentcore_mode_accepts_a_valid_token_without_any_jwks_fetch() {
    // The test's own key, with a counting JWKS endpoint configured but never to be used.
    let key = SigningKey::generate("own-key");
    let jwks = JwksEndpoint::start(vec![key.jwk.clone()], Duration::ZERO).await;
    let authenticator = from_settings(&own_settings("agentcore", &jwks, 30));
    assert_eq!(authenticator.mode(), AuthMode::AgentCore);
    let token = key.sign(&own_access_claims(now() + 3600));
    let principal = accepted(&authenticator, &token).await;
    assert_eq!(principal.username.as_deref(), Some("own-user"));
    let app = serve(authenticator).await;
    assert_eq!(
        app.caller_seen(&token).await["client_id"],
        json!(OWN_CLIENT)
    );
    assert_eq!(jwks.fetches(), 0, "agentcore mode never fetches keys");

    // A real Cognito token, read without moto's JWKS.
    let (_moto, pool) = moto_pool().await;
    let mut settings = pool_settings(&pool, "agentcore", &[]);
    settings.remove("AUTH_JWKS_URL");
    let authenticator = from_settings(&settings);
    let staff = pool.staff_tokens().await.unwrap();
    let principal = accepted(&authenticator, &staff.access_token).await;
    assert_eq!(
        principal.subject,
        pool.subject_of(STAFF_USERNAME).await.unwrap()
    );
    assert_eq!(principal.groups, [STAFF_GROUP]);
}

#[tokio::test]
async fn agentcore_mode_refuses_an_expired_token() {
    let key = SigningKey::generate("own-key");
    let jwks = JwksEndpoint::start(vec![key.jwk.clone()], Duration::ZERO).await;
    let authenticator = from_settings(&own_settings("agentcore", &jwks, 30));
    let expired = key.sign(&own_access_claims(now() - 120));
    assert_eq!(refusal(&authenticator, &expired).await, Rejection::Expired);
    serve(authenticator)
        .await
        .assert_token_refused(&expired)
        .await;
    assert_eq!(jwks.fetches(), 0);
}

#[tokio::test]
async fn agentcore_mode_still_checks_issuer_client_token_use_and_algorithm() {
    let (moto, pool) = moto_pool().await;
    let mut settings = pool_settings(&pool, "agentcore", &[]);
    settings.remove("AUTH_JWKS_URL");
    let authenticator = from_settings(&settings);
    let tokens = pool.customer_tokens().await.unwrap();
    accepted(&authenticator, &tokens.access_token).await;

    let other_client = pool
        .sign_in(CUSTOMER_USERNAME, &pool.other_client_id)
        .await
        .unwrap();
    assert_eq!(
        refusal(&authenticator, &other_client.access_token).await,
        Rejection::ClientNotAllowed
    );
    let other_pool = CognitoPool::create_named(&moto, "another-pool")
        .await
        .unwrap();
    let foreign = other_pool.customer_tokens().await.unwrap();
    assert_eq!(
        refusal(&authenticator, &foreign.access_token).await,
        Rejection::WrongIssuer
    );
    assert_eq!(
        refusal(&authenticator, &tokens.id_token).await,
        Rejection::TokenUseNotAccepted {
            presented: TokenUse::Id,
            accepted: TokenUsePolicy::Access
        }
    );
    let [_, payload, _] = segments(&tokens.access_token);
    let none = format!(
        "{}.{payload}.",
        encode_segment(&json!({ "alg": "none", "typ": "JWT" }))
    );
    assert_eq!(refusal(&authenticator, &none).await, Rejection::Malformed);
    let app = serve(authenticator).await;
    app.assert_token_refused(&other_client.access_token).await;
    app.assert_token_refused(&none).await;
    app.assert_refused(None, false).await;
}

// ---------------------------------------------------------------------------------------------
// none mode

#[tokio::test]
async fn none_mode_serves_every_request_as_anonymous_and_warns_at_start() {
    let (logs, _guard) = capture_logs();
    let authenticator = from_settings(&BTreeMap::from([("AUTH_MODE", "none".to_owned())]));
    assert_eq!(authenticator.mode(), AuthMode::None);
    assert_eq!(authenticator.startup_warning(), Some(NONE_MODE_WARNING));
    authenticator.log_startup();
    let logged = logs.text();
    assert!(
        logged
            .lines()
            .any(|line| line.contains("WARN") && line.contains("AUTHENTICATION IS DISABLED")),
        "{logged}"
    );

    assert_eq!(
        authenticator.authenticate(&HeaderMap::new()).await,
        Ok(Caller::Anonymous)
    );
    let app = serve(authenticator).await;
    for authorization in [None, Some("Bearer whatever"), Some("Basic Zm9vOmJhcg==")] {
        let response = app.call(authorization).await;
        assert_eq!(response.status(), StatusCode::OK, "{authorization:?}");
        let seen: Value = response.json().await.unwrap();
        assert_eq!(seen, json!({ "anonymous": true }));
    }
}
