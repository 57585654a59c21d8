//! Test support for the outbound-auth unit tests: one local HTTP server faking AgentCore
//! Identity, Secrets Manager and an OAuth2 token endpoint, counting the calls it answers, and
//! the sources built against it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use http::Method;
use http::header::AUTHORIZATION;
use serde_json::{Value, json};

use super::token_cache::lock;
use super::{AuthConfig, OutboundAuth, OutboundAuthError};

pub(super) const SOURCE: &str = "gateway";
pub(super) const WAT: &str = "wat-secret-0001";
/// Another request's workload access token, also valid.
pub(super) const OTHER_WAT: &str = "wat-secret-0002";
pub(super) const CLIENT_ID: &str = "client-1";
pub(super) const CLIENT_SECRET: &str = "s3cr3t-value-never-printed";
pub(super) const SECRET_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:gw-AbCdEf";

/// An unsigned JWT with `payload` as its claims.
pub(super) fn jwt_with(payload: &Value) -> String {
    let encode = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    format!(
        "{}.{}.c2lnbmF0dXJl",
        encode(&json!({"alg": "RS256"})),
        encode(payload)
    )
}

/// An AWS configuration with static test credentials whose services all answer at `endpoint`.
pub(super) fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )))
        .build()
}

/// What the fake answers, and what it saw.
pub(super) struct Fake {
    pub(super) identity_calls: AtomicUsize,
    pub(super) token_calls: AtomicUsize,
    pub(super) secret_calls: AtomicUsize,
    /// The lifetime of the tokens it issues, in seconds.
    lifetime: u64,
    /// How long each token answer takes.
    delay: Duration,
    /// The secret string Secrets Manager holds.
    secret_string: String,
    /// Bodies of the token requests, and their Authorization headers.
    pub(super) token_requests: Mutex<Vec<(String, String)>>,
    /// The workload access token of each Identity call, in arrival order.
    pub(super) workload_tokens: Mutex<Vec<String>>,
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
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
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

/// The running fake; dropping it stops the server.
pub(super) struct Running {
    pub(super) url: String,
    pub(super) fake: Arc<Fake>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Starts the fake: tokens that live `lifetime` seconds, each answer `delay` late, and
/// `secret_string` in Secrets Manager.
pub(super) async fn start_fake(lifetime: u64, delay: Duration, secret_string: &str) -> Running {
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

/// An `agentcore_identity` source against the fake.
pub(super) fn identity_auth(fake: &Running, timeout: Duration) -> OutboundAuth {
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

/// A `client_credentials` source against the fake.
pub(super) fn client_credentials_auth(fake: &Running, timeout: Duration) -> OutboundAuth {
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

/// The `Authorization` value `auth` sends on an MCP request.
pub(super) async fn bearer_of(auth: &OutboundAuth) -> Result<String, OutboundAuthError> {
    let headers = auth
        .headers(&Method::POST, "http://127.0.0.1:1/mcp", b"{}", None)
        .await?;
    Ok(headers[AUTHORIZATION].to_str().expect("ASCII").to_owned())
}
