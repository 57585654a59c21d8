//! An Amazon Bedrock AgentCore Identity stand-in: the data-plane operation
//! `GetResourceOauth2Token` (`POST /identities/oauth2/token`) on a free loopback port, for the
//! machine-to-machine flow.
//!
//! Identity does not run locally, so tests point the real `aws-sdk-bedrockagentcore` client
//! (with `endpoint_url`), or the agent binary (with [`IdentityStandIn::sdk_env`], i.e.
//! `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`), at this server. Like the service it:
//!
//! - requires SigV4 for service `bedrock-agentcore` in [`REGION`] by [`ACCESS_KEY_ID`] /
//!   [`SECRET_ACCESS_KEY`] (the harness's dummy credentials). The signature is recomputed with
//!   `aws-sigv4` over the received method, path, query, the headers named in `SignedHeaders`
//!   with the values received, and the received body, with the settings the SDKs use for
//!   services other than S3; `X-Amz-Date` must be within 5 minutes of now. Refusals are `403`
//!   with AWS's error types: `MissingAuthenticationTokenException` (no `Authorization`),
//!   `IncompleteSignatureException` (a malformed one), `UnrecognizedClientException` (another
//!   access key), `InvalidSignatureException` (wrong scope, stale date, signature mismatch).
//! - reads the restJson1 body the SDK serialises (`workloadIdentityToken`,
//!   `resourceCredentialProviderName`, `scopes`, `oauth2Flow`); a missing member is
//!   `400 ValidationException` (`reason: FieldValidationFailed`, `fieldList`), a body that is
//!   not JSON `400 SerializationException`, and a flow other than `M2M` `400 ValidationException`
//!   (the stand-in has no user federation).
//! - accepts only workload access tokens it was given ([`IdentityStandIn::allow_workload_token`],
//!   until [`IdentityStandIn::forbid_workload_token`]), else `403 AccessDeniedException`;
//! - looks the provider up among those it was given ([`IdentityStandIn::add_provider`]), each
//!   pointing to a client of an [`OAuthStandIn`], else `404 ResourceNotFoundException`;
//! - answers `{"accessToken": <JWT>}` minted by that OAuth stand-in for that client (so a gateway
//!   that validates with the OAuth stand-in accepts it), with the requested scopes or, when none
//!   are requested, all the client's. A scope the client may not have is
//!   `400 ValidationException`. Like the real answer, there is no expiry field: the JWT's `exp`
//!   is the only clue.
//!
//! Errors carry `x-amzn-ErrorType`, `x-amzn-RequestId` and a JSON body `{"message": ...}`. Every
//! call is counted and recorded ([`IdentityStandIn::requests`]), refused ones included. Tokens
//! are minted afresh on each call (the stand-in has no token vault). The server stops when the
//! stand-in is dropped.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use aws_credential_types::Credentials;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::moto::REGION;
use crate::oauth::{self, OAuthStandIn};
use crate::serving::{Serving, bind_loopback};

/// The access key id the stand-in accepts signatures from.
pub const ACCESS_KEY_ID: &str = "testing";
/// The secret of [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "testing";
/// The service SigV4 signatures must be scoped to.
pub const SERVICE: &str = "bedrock-agentcore";

/// One call as the stand-in saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRequest {
    /// `resourceCredentialProviderName`, if the body had one.
    pub provider: Option<String>,
    pub scopes: Vec<String>,
    /// `oauth2Flow`, if the body had one.
    pub oauth2_flow: Option<String>,
    /// The status answered.
    pub status: u16,
    /// The error type answered, if any.
    pub error_type: Option<String>,
}

struct Provider {
    oauth: Arc<oauth::Shared>,
    client_id: String,
}

struct Shared {
    workload_tokens: Mutex<HashSet<String>>,
    providers: Mutex<HashMap<String, Provider>>,
    calls: AtomicUsize,
    requests: Mutex<Vec<IdentityRequest>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running Identity stand-in; stops when dropped.
pub struct IdentityStandIn {
    base_url: String,
    shared: Arc<Shared>,
    /// Dropping it stops the server.
    _serving: Serving,
}

impl IdentityStandIn {
    /// Starts the stand-in on a free loopback port, with no providers and no valid workload
    /// tokens.
    pub async fn start() -> Self {
        let (listener, base_url) = bind_loopback().await;
        let shared = Arc::new(Shared {
            workload_tokens: Mutex::new(HashSet::new()),
            providers: Mutex::new(HashMap::new()),
            calls: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/identities/oauth2/token", post(get_resource_oauth2_token))
            .fallback(unknown_operation)
            .with_state(shared.clone());
        Self {
            base_url,
            shared,
            _serving: Serving::start("Identity stand-in", listener, app),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Accepts `token` as a workload access token from now on.
    pub fn allow_workload_token(&self, token: &str) {
        lock(&self.shared.workload_tokens).insert(token.to_owned());
    }

    /// Refuses `token` from now on, as the service refuses a workload access token that is no
    /// longer valid: `403 AccessDeniedException`, the error
    /// <https://docs.aws.amazon.com/bedrock-agentcore/latest/APIReference/API_GetResourceOauth2Token.html>
    /// lists for a caller without access.
    pub fn forbid_workload_token(&self, token: &str) {
        lock(&self.shared.workload_tokens).remove(token);
    }

    /// Adds (or replaces) a credential provider `name` that gets its tokens from `oauth` as
    /// `client_id` (which must be registered there).
    pub fn add_provider(&self, name: &str, oauth: &OAuthStandIn, client_id: &str) {
        lock(&self.shared.providers).insert(
            name.to_owned(),
            Provider {
                oauth: oauth.shared(),
                client_id: client_id.to_owned(),
            },
        );
    }

    /// How many requests reached the stand-in (any path, refused or not).
    pub fn calls(&self) -> usize {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// Every `GetResourceOauth2Token` call so far, in arrival order.
    pub fn requests(&self) -> Vec<IdentityRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Environment for a process's AWS SDK to use this stand-in for AgentCore (data plane)
    /// only, with the credentials it accepts.
    pub fn sdk_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
            ("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", self.base_url.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// An in-process `aws-sdk-bedrockagentcore` client for this stand-in, signing with
    /// `secret_access_key` (pass [`SECRET_ACCESS_KEY`] to be accepted).
    pub async fn client(&self, secret_access_key: &str) -> aws_sdk_bedrockagentcore::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&self.base_url)
            .credentials_provider(Credentials::new(
                ACCESS_KEY_ID,
                secret_access_key,
                None,
                None,
                "identity-stand-in",
            ))
            .load()
            .await;
        aws_sdk_bedrockagentcore::Client::new(&config)
    }
}

/// An error as AgentCore sends it.
fn aws_error(status: StatusCode, error_type: &str, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(error_type) {
        headers.insert("x-amzn-errortype", value);
    }
    let request_id = format!(
        "00000000-0000-4000-8000-{:012x}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() & 0xffff_ffff_ffff)
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

/// Checks the request's SigV4 signature with the verifier the runtime stand-in uses (see the
/// module documentation).
fn verify_sigv4(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(), Refusal> {
    let mut request = axum::http::Request::new(body.clone());
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri.clone();
    *request.headers_mut() = headers.clone();
    let verify = crate::agentcore_runtime::sigv4(ACCESS_KEY_ID, SECRET_ACCESS_KEY, REGION, SERVICE);
    verify(&request)
        .map_err(|denial| Refusal::new(denial.status(), denial.error_type(), denial.reason()))
}

/// A refusal: the status, the error type and the message.
struct Refusal(StatusCode, &'static str, Value);

impl Refusal {
    fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Self {
        Self(status, error_type, json!({ "message": message.into() }))
    }

    fn forbidden(error_type: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, error_type, message)
    }
}

async fn unknown_operation(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    shared.calls.fetch_add(1, Ordering::SeqCst);
    aws_error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        json!({ "message": format!(
            "Identity stand-in: no operation at {uri} (it serves POST /identities/oauth2/token)"
        ) }),
    )
}

async fn get_resource_oauth2_token(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.calls.fetch_add(1, Ordering::SeqCst);
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let text = |name: &str| {
        parsed
            .as_ref()
            .and_then(|b| b.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut record = IdentityRequest {
        provider: text("resourceCredentialProviderName"),
        scopes: parsed
            .as_ref()
            .and_then(|b| b.get("scopes"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        oauth2_flow: text("oauth2Flow"),
        status: 200,
        error_type: None,
    };
    let answer = verify_sigv4(&method, &uri, &headers, &body)
        .and_then(|()| answer(&shared, parsed.as_ref()));
    let response = match answer {
        Ok(token) => {
            let mut response =
                (StatusCode::OK, json!({ "accessToken": token }).to_string()).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(Refusal(status, error_type, body)) => {
            record.status = status.as_u16();
            record.error_type = Some(error_type.to_owned());
            aws_error(status, error_type, body)
        }
    };
    lock(&shared.requests).push(record);
    response
}

/// The token for a signed request's body, or why not.
fn answer(shared: &Shared, body: Option<&Value>) -> Result<String, Refusal> {
    let Some(body) = body.filter(|b| b.is_object()) else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "The request body is not a JSON object.",
        ));
    };
    let missing: Vec<&str> = [
        "workloadIdentityToken",
        "resourceCredentialProviderName",
        "scopes",
        "oauth2Flow",
    ]
    .into_iter()
    .filter(|name| body.get(*name).is_none_or(Value::is_null))
    .collect();
    if !missing.is_empty() {
        let field_list: Vec<Value> = missing
            .iter()
            .map(|name| json!({ "name": name, "message": "Member must not be null" }))
            .collect();
        let message = format!(
            "{} validation error{} detected: {}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            missing
                .iter()
                .map(|name| format!(
                    "Value null at '{name}' failed to satisfy constraint: Member must not be null"
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            json!({ "message": message, "reason": "FieldValidationFailed", "fieldList": field_list }),
        ));
    }
    let validation = |message: String| {
        Refusal(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            json!({ "message": message, "reason": "FieldValidationFailed" }),
        )
    };
    let text = |name: &str| body.get(name).and_then(Value::as_str);
    let (Some(workload_token), Some(provider_name), Some(flow), Some(scopes)) = (
        text("workloadIdentityToken"),
        text("resourceCredentialProviderName"),
        text("oauth2Flow"),
        body.get("scopes").and_then(Value::as_array),
    ) else {
        return Err(validation(
            "workloadIdentityToken, resourceCredentialProviderName and oauth2Flow must be strings and scopes a list"
                .to_owned(),
        ));
    };
    let scopes: Vec<String> = scopes
        .iter()
        .map(|s| s.as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or_else(|| validation("scopes must be a list of strings".to_owned()))?;
    match flow {
        "M2M" => {}
        "USER_FEDERATION" | "ON_BEHALF_OF_TOKEN_EXCHANGE" => {
            return Err(validation(format!(
                "Identity stand-in: oauth2Flow {flow} is not supported, only M2M"
            )));
        }
        other => {
            return Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'oauth2Flow' failed to satisfy constraint: Member must satisfy enum value set: [USER_FEDERATION, M2M, ON_BEHALF_OF_TOKEN_EXCHANGE]"
            )));
        }
    }
    if !lock(&shared.workload_tokens).contains(workload_token) {
        return Err(Refusal::forbidden(
            "AccessDeniedException",
            "The workload access token is invalid or has expired.",
        ));
    }
    let providers = lock(&shared.providers);
    let provider = providers.get(provider_name).ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Credential provider {provider_name} was not found."),
        )
    })?;
    provider
        .oauth
        .issue(&provider.client_id, &scopes)
        .map(|token| token.access_token)
        .map_err(|error| {
            validation(format!(
                "The credential provider {provider_name} refused the token request: {} ({})",
                error.error, error.description
            ))
        })
}
