//! An Amazon Bedrock AgentCore Runtime stand-in for MCP servers: the data-plane invocation path
//! `/runtimes/{escaped runtime ARN}/invocations?qualifier=<endpoint>` on a free loopback port,
//! forwarding to a real MCP server's `/mcp` (normally the project's `mcp-server`, see
//! [`crate::mcp_server`]). It also holds the inbound authorization shared with the gateway
//! stand-in ([`crate::gateway`]): [`Authorizer`] and its constructors.
//!
//! AgentCore does not run locally, so tests point the agent (or an MCP client) at
//! [`AgentCoreRuntimeStandIn::invocation_url`] exactly as they would at
//! `https://bedrock-agentcore.<region>.amazonaws.com/runtimes/<escaped ARN>/invocations?qualifier=DEFAULT`.
//! What it checks, in this order (AgentCore's runtime service contract, and the developer guide's
//! "MCP protocol contract" page for the `401` and `403` answers):
//!
//! - The path is `/runtimes/{arn}/invocations` with the ARN percent-encoded in the raw request
//!   path, every `:` as `%3A` and every `/` as `%2F`. A raw `/` leaves the path with more
//!   segments than the operation has: `404 UnknownOperationException`. A raw `:` is refused with
//!   `400 ValidationException` (the platform documents full encoding; the stand-in enforces it so
//!   a client that only half-encodes fails here and not in production).
//! - The segment decodes to the runtime ARN the stand-in was started with
//!   (`arn:aws:bedrock-agentcore:<region>:<account>:runtime/<id>`), else
//!   `404 ResourceNotFoundException`; `qualifier` (default `DEFAULT`) names one of its endpoints,
//!   else `404 ResourceNotFoundException`. The runtime is resolved before authorization because
//!   the inbound authorizer belongs to the runtime.
//! - The [`Authorizer`] passes. A [`Denial::unauthorized`] (bearer tokens) answers `401` with
//!   `WWW-Authenticate: Bearer resource_metadata="<invocations path>/.well-known/oauth-protected-resource?qualifier=<q>"`,
//!   the form the MCP protocol contract documents; that metadata document (RFC 9728) is served
//!   too. A [`Denial::forbidden`] (SigV4) answers `403` without `WWW-Authenticate`, which is what
//!   the contract says SigV4-configured runtimes do. The body is `{"message": <reason>}`.
//! - An `Mcp-Session-Id` sent by the client must have 33 to 256 characters (the platform's
//!   session id bounds), else `400 ValidationException`.
//!
//! Errors are restJson1 errors as AWS sends them: the status, `x-amzn-errortype`,
//! `x-amzn-requestid` and a JSON body `{"message": ...}`.
//!
//! An accepted `POST`, `GET` or `DELETE` is forwarded to the MCP server with its body and its
//! `Content-Type`, `Accept`, `Mcp-Session-Id` and `Mcp-Protocol-Version` headers. Like the
//! platform, a request without `Mcp-Session-Id` gets a fresh one (a UUID, 36 characters), which
//! is forwarded and returned; `Authorization` is not forwarded (the platform strips it unless
//! the runtime allowlists it). The answer streams back with its status, `Content-Type` and
//! `Mcp-Session-Id` (the server's if it set one, else the id used). If the server cannot be
//! reached or does not start answering within [`RuntimeOptions::forward_timeout`], the caller
//! gets `424 RuntimeClientError` naming the cause.
//!
//! Every request to the invocation path, refused or forwarded, is recorded
//! ([`AgentCoreRuntimeStandIn::invocations`]); `401`s and `403`s are counted. The server stops
//! when the stand-in is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_types::date_time::{DateTime, Format};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{self, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::{Value, json};

use crate::moto::REGION;
use crate::serving::{Serving, bind_loopback};

/// The largest request body accepted: the platform's payload limit.
pub(crate) const BODY_LIMIT: usize = 100 * 1024 * 1024;

const MCP_SESSION_ID: &str = "mcp-session-id";
const MCP_PROTOCOL_VERSION: &str = "mcp-protocol-version";
const WELL_KNOWN_METADATA: &str = "/.well-known/oauth-protected-resource";

/// How far a SigV4 request's `X-Amz-Date` may be from the stand-in's clock, as AWS allows.
const SIGV4_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

// ---------------------------------------------------------------------------------------------
// Inbound authorization, shared with the gateway stand-in.

/// Decides whether a request may pass: it sees the method, the URI as received (path still
/// percent-encoded), the headers and the whole body, so it can check a bearer token or recompute
/// a SigV4 signature. Any closure will do; [`from_headers`] adapts one that needs only the
/// headers.
pub type Authorizer = Arc<dyn Fn(&http::Request<Bytes>) -> Result<(), Denial> + Send + Sync>;

/// Why an [`Authorizer`] refused a request, and so how the stand-in answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    status: StatusCode,
    error_type: &'static str,
    reason: String,
}

impl Denial {
    /// A missing or invalid bearer token: `401 UnauthorizedException` with
    /// `WWW-Authenticate: Bearer resource_metadata="..."`.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error_type: "UnauthorizedException",
            reason: reason.into(),
        }
    }

    /// A refused IAM (SigV4) request: `403` with the AWS error type and no `WWW-Authenticate`.
    pub fn forbidden(error_type: &'static str, reason: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            error_type,
            reason: reason.into(),
        }
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The AWS error type it answers with (`x-amzn-errortype`).
    pub fn error_type(&self) -> &'static str {
        self.error_type
    }

    /// Why the request was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    fn into_error(self, resource_metadata: &str) -> AwsError {
        let challenge = (self.status == StatusCode::UNAUTHORIZED)
            .then(|| format!("Bearer resource_metadata=\"{resource_metadata}\""));
        AwsError {
            challenge,
            ..aws_error(self.status, self.error_type, self.reason)
        }
    }
}

/// Lets every request through (a runtime or gateway without inbound authorization).
pub fn allow_all() -> Authorizer {
    Arc::new(|_| Ok(()))
}

/// An authorizer from a check that needs only the headers (a JWT validator, say); its `Err`
/// becomes a [`Denial::unauthorized`] with that reason.
pub fn from_headers(
    check: impl Fn(&HeaderMap) -> Result<(), String> + Send + Sync + 'static,
) -> Authorizer {
    Arc::new(move |request| check(request.headers()).map_err(Denial::unauthorized))
}

/// Accepts exactly `Authorization: Bearer <token>`.
pub fn static_bearer(token: impl Into<String>) -> Authorizer {
    let token = token.into();
    from_headers(move |headers| match bearer_token(headers) {
        None => Err("missing bearer token: send Authorization: Bearer <token>".into()),
        Some(sent) if sent == token => Ok(()),
        Some(_) => Err("invalid bearer token".into()),
    })
}

/// The token of an `Authorization: Bearer <token>` header (scheme matched case-insensitively).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Accepts requests signed with SigV4 (`Authorization: AWS4-HMAC-SHA256 ...` and `X-Amz-Date`)
/// by these credentials for this region and service (`bedrock-agentcore` for the runtime and
/// the gateway). The signature is recomputed with `aws-sigv4` over the received method, raw path,
/// query, the headers named in `SignedHeaders` and the SHA-256 of the received body, with the
/// settings the AWS SDKs use for non-S3 services, so a tampered body, a wrong secret or a header
/// changed after signing is refused. `X-Amz-Date` must be within 5 minutes of now. Refusals are
/// [`Denial::forbidden`] with the error types AWS uses (`MissingAuthenticationTokenException`,
/// `IncompleteSignatureException`, `UnrecognizedClientException`, `InvalidSignatureException`).
/// Stand-in limits: payloads signed as `UNSIGNED-PAYLOAD` and presigned URLs are refused.
pub fn sigv4(
    access_key_id: impl Into<String>,
    secret_access_key: impl Into<String>,
    region: impl Into<String>,
    service: impl Into<String>,
) -> Authorizer {
    let key = SigV4Key {
        access_key_id: access_key_id.into(),
        secret_access_key: secret_access_key.into(),
        region: region.into(),
        service: service.into(),
    };
    Arc::new(move |request| key.verify(request, SystemTime::now()))
}

struct SigV4Key {
    access_key_id: String,
    secret_access_key: String,
    region: String,
    service: String,
}

/// The parts of a SigV4 `Authorization` header.
struct SigV4Authorization<'a> {
    credential: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

impl<'a> SigV4Authorization<'a> {
    fn parse(value: &'a str) -> Result<Self, String> {
        let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
        if algorithm != "AWS4-HMAC-SHA256" {
            return Err(format!(
                "Unsupported authorization algorithm {algorithm:?}: expected AWS4-HMAC-SHA256."
            ));
        }
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("Credential", value)) => credential = Some(value),
                Some(("SignedHeaders", value)) => signed_headers = Some(value),
                Some(("Signature", value)) => signature = Some(value),
                _ => {}
            }
        }
        let missing = |name: &str| {
            format!("Authorization header requires '{name}' parameter. Authorization={value}")
        };
        Ok(Self {
            credential: credential.ok_or_else(|| missing("Credential"))?,
            signed_headers: signed_headers
                .ok_or_else(|| missing("SignedHeaders"))?
                .split(';')
                .collect(),
            signature: signature.ok_or_else(|| missing("Signature"))?,
        })
    }
}

impl SigV4Key {
    fn verify(&self, request: &http::Request<Bytes>, now: SystemTime) -> Result<(), Denial> {
        let incomplete = |reason: String| Denial::forbidden("IncompleteSignatureException", reason);
        let invalid = |reason: String| Denial::forbidden("InvalidSignatureException", reason);
        let headers = request.headers();
        let Some(authorization) = headers.get(http::header::AUTHORIZATION) else {
            return Err(Denial::forbidden(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        };
        let authorization = authorization
            .to_str()
            .map_err(|_| incomplete("The Authorization header is not text.".into()))?;
        let parsed = SigV4Authorization::parse(authorization).map_err(incomplete)?;

        let amz_date = header_str(headers, "x-amz-date").ok_or_else(|| {
            incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
                 header (the stand-in accepts X-Amz-Date only)."
                    .into(),
            )
        })?;
        let time = parse_amz_date(amz_date).ok_or_else(|| {
            incomplete(format!(
                "X-Amz-Date {amz_date:?} is not YYYYMMDD'T'HHMMSS'Z'."
            ))
        })?;

        let scope: Vec<&str> = parsed.credential.split('/').collect();
        let [access_key_id, date, region, service, terminator] = scope[..] else {
            return Err(incomplete(format!(
                "Credential {:?} must be <access key id>/<date>/<region>/<service>/aws4_request.",
                parsed.credential
            )));
        };
        if access_key_id != self.access_key_id {
            return Err(Denial::forbidden(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        }
        let expected_scope = format!(
            "{}/{}/{}/aws4_request",
            &amz_date[..8],
            self.region,
            self.service
        );
        if [date, region, service, terminator].join("/") != expected_scope {
            return Err(invalid(format!(
                "Credential should be scoped to {expected_scope}, not {}.",
                parsed.credential
            )));
        }
        let skew = now
            .duration_since(time)
            .unwrap_or_else(|ahead| ahead.duration());
        if skew > SIGV4_CLOCK_SKEW {
            return Err(invalid(format!(
                "Signature expired: X-Amz-Date {amz_date} is more than 5 minutes from the \
                 stand-in's clock."
            )));
        }

        // Only the headers the client signed take part, with every value it sent; aws-sigv4
        // adds `host` (from the request's Host header, listed) and `x-amz-date` (from `time`).
        let host = header_str(headers, "host")
            .ok_or_else(|| incomplete("The request has no Host header.".into()))?;
        let path_and_query = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let mut signed = Vec::new();
        for name in &parsed.signed_headers {
            for value in headers.get_all(*name) {
                let value = value
                    .to_str()
                    .map_err(|_| incomplete(format!("Signed header {name} is not text.")))?;
                signed.push((*name, value));
            }
        }
        let identity = Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            None,
            None,
            "sigv4-authorizer",
        )
        .into();
        let mut settings = SigningSettings::default();
        // The request carries only what the client signed, so nothing may be dropped.
        settings.excluded_headers = None;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(time)
            .settings(settings)
            .build()
            .map_err(|error| invalid(format!("cannot build signing parameters: {error}")))?
            .into();
        let signable = SignableRequest::new(
            request.method().as_str(),
            format!("http://{host}{path_and_query}"),
            signed.into_iter(),
            SignableBody::Bytes(request.body()),
        )
        .map_err(|error| invalid(format!("cannot canonicalise the request: {error}")))?;
        let expected = sign(signable, &params)
            .map_err(|error| invalid(format!("cannot compute the signature: {error}")))?;
        if expected.signature() != parsed.signature {
            return Err(invalid(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service \
                 documentation for details."
                    .into(),
            ));
        }
        Ok(())
    }
}

/// `20240102T030405Z` as a time.
fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let b = value.as_bytes();
    if !value.is_ascii() || b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &value[0..4],
        &value[4..6],
        &value[6..8],
        &value[9..11],
        &value[11..13],
        &value[13..15]
    );
    SystemTime::try_from(DateTime::from_str(&rfc3339, Format::DateTime).ok()?).ok()
}

/// An [`Authorizer`] with its refusal counters: what both stand-ins put in front of their
/// endpoint.
pub(crate) struct AuthGate {
    authorizer: Authorizer,
    unauthorized: AtomicUsize,
    forbidden: AtomicUsize,
}

impl AuthGate {
    pub(crate) fn new(authorizer: Authorizer) -> Self {
        Self {
            authorizer,
            unauthorized: AtomicUsize::new(0),
            forbidden: AtomicUsize::new(0),
        }
    }

    /// Runs the authorizer; a refusal is counted and returned as the error to answer, its
    /// `WWW-Authenticate` naming `resource_metadata`.
    pub(crate) fn admit(
        &self,
        request: &http::Request<Bytes>,
        resource_metadata: &str,
    ) -> Result<(), AwsError> {
        (self.authorizer)(request).map_err(|denial| {
            let counter = if denial.status == StatusCode::UNAUTHORIZED {
                &self.unauthorized
            } else {
                &self.forbidden
            };
            counter.fetch_add(1, Ordering::SeqCst);
            denial.into_error(resource_metadata)
        })
    }

    pub(crate) fn unauthorized(&self) -> usize {
        self.unauthorized.load(Ordering::SeqCst)
    }

    pub(crate) fn forbidden(&self) -> usize {
        self.forbidden.load(Ordering::SeqCst)
    }
}

/// The RFC 9728 protected-resource metadata both stand-ins serve where their `401`s point.
pub(crate) fn protected_resource_metadata(
    resource: &str,
    authorization_servers: &[String],
) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "resource": resource,
            "authorization_servers": authorization_servers,
            "bearer_methods_supported": ["header"],
        }),
    )
}

/// An error as AWS restJson1 services send it: the status, `x-amzn-errortype`,
/// `x-amzn-requestid`, a JSON body `{"message": ...}`, and for a `401` the `WWW-Authenticate`
/// challenge.
#[derive(Debug)]
pub(crate) struct AwsError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
    challenge: Option<String>,
}

/// The whole request body, or the AWS-shaped `413` a service answers when it is over
/// [`BODY_LIMIT`] or cannot be read.
pub(crate) async fn buffered_body(body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|error| {
            aws_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ValidationException",
                format!("cannot read the request body (limit {BODY_LIMIT} bytes): {error}"),
            )
            .into_response()
        })
}

pub(crate) fn aws_error(
    status: StatusCode,
    error_type: &'static str,
    message: impl Into<String>,
) -> AwsError {
    AwsError {
        status,
        error_type,
        message: message.into(),
        challenge: None,
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status, &json!({ "message": self.message }));
        let headers = response.headers_mut();
        headers.insert(
            "x-amzn-errortype",
            HeaderValue::from_static(self.error_type),
        );
        if let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            headers.insert("x-amzn-requestid", value);
        }
        if let Some(value) = self
            .challenge
            .and_then(|challenge| HeaderValue::from_str(&challenge).ok())
        {
            headers.insert(http::header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Locks a mutex; a test that panicked while holding one has failed already, so the data is
/// still worth reading.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// The runtime stand-in.

/// Everything but RFC 3986's unreserved characters is escaped, so `:` and `/` both are.
const ARN_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A runtime ARN as it goes in the invocation path: fully percent-encoded.
pub fn escape_arn(arn: &str) -> String {
    utf8_percent_encode(arn, ARN_ESCAPE).to_string()
}

/// How the stand-in's runtime is configured.
#[derive(Clone)]
pub struct RuntimeOptions {
    /// The runtime id, the last part of the ARN.
    pub runtime_id: String,
    /// The account in the ARN.
    pub account: String,
    /// The endpoint names a `qualifier` may name.
    pub endpoints: Vec<String>,
    pub authorizer: Authorizer,
    /// How long the MCP server may take to start answering, and to send each further part of
    /// its answer.
    pub forward_timeout: Duration,
    /// `authorization_servers` of the protected-resource metadata (an OAuth issuer for a JWT
    /// authorizer).
    pub authorization_servers: Vec<String>,
}

impl Default for RuntimeOptions {
    /// Runtime `support_mcp-Ab12Cd34Ef` in account `123456789012`, endpoint `DEFAULT`, no
    /// inbound authorization, 60 s forward timeout.
    fn default() -> Self {
        Self {
            runtime_id: "support_mcp-Ab12Cd34Ef".into(),
            account: "123456789012".into(),
            endpoints: vec!["DEFAULT".into()],
            authorizer: allow_all(),
            forward_timeout: Duration::from_secs(60),
            authorization_servers: Vec::new(),
        }
    }
}

/// One request to the invocation path, as the stand-in received and answered it.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub method: Method,
    /// The request path as sent, still percent-encoded.
    pub raw_path: String,
    /// The `qualifier` query parameter (`DEFAULT` when absent).
    pub qualifier: String,
    /// The `Mcp-Session-Id` the client sent.
    pub session_id_sent: Option<String>,
    /// The session id forwarded and returned (the client's or a fresh one); `None` when the
    /// request was refused before forwarding.
    pub session_id: Option<String>,
    /// The JSON-RPC `method` of the body, if it is a single JSON-RPC message.
    pub jsonrpc_method: Option<String>,
    /// The status the stand-in answered.
    pub status: StatusCode,
}

/// A running runtime stand-in; stops when dropped.
pub struct AgentCoreRuntimeStandIn {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// `arn:aws:bedrock-agentcore:<region>:<account>:runtime/<id>`.
    pub runtime_arn: String,
    shared: Arc<Shared>,
    /// Dropping it stops the server.
    _serving: Serving,
}

struct Shared {
    endpoint: String,
    runtime_arn: String,
    endpoints: Vec<String>,
    gate: AuthGate,
    authorization_servers: Vec<String>,
    mcp_url: String,
    client: reqwest::Client,
    forward_timeout: Duration,
    invocations: Mutex<Vec<Invocation>>,
}

impl Shared {
    fn invocations_path(&self) -> String {
        format!(
            "{}/runtimes/{}/invocations",
            self.endpoint,
            escape_arn(&self.runtime_arn)
        )
    }

    fn invocation_url(&self, qualifier: &str) -> String {
        format!(
            "{}?qualifier={}",
            self.invocations_path(),
            utf8_percent_encode(qualifier, ARN_ESCAPE)
        )
    }

    fn metadata_url(&self, qualifier: &str) -> String {
        format!(
            "{}{WELL_KNOWN_METADATA}?qualifier={}",
            self.invocations_path(),
            utf8_percent_encode(qualifier, ARN_ESCAPE)
        )
    }
}

impl AgentCoreRuntimeStandIn {
    /// Starts the stand-in on a free loopback port, forwarding to the MCP endpoint `mcp_url`
    /// (`http://127.0.0.1:<port>/mcp`).
    pub async fn start(mcp_url: impl Into<String>, options: RuntimeOptions) -> Self {
        let (listener, endpoint) = bind_loopback().await;
        let runtime_arn = format!(
            "arn:aws:bedrock-agentcore:{REGION}:{}:runtime/{}",
            options.account, options.runtime_id
        );
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(options.forward_timeout)
            .build()
            .expect("building the forwarding HTTP client");
        let shared = Arc::new(Shared {
            endpoint: endpoint.clone(),
            runtime_arn: runtime_arn.clone(),
            endpoints: options.endpoints,
            gate: AuthGate::new(options.authorizer),
            authorization_servers: options.authorization_servers,
            mcp_url: mcp_url.into(),
            client,
            forward_timeout: options.forward_timeout,
            invocations: Mutex::new(Vec::new()),
        });
        // One fallback handler: the path is checked by hand, because a half-encoded ARN must get
        // an answer that explains it rather than a bare routing miss.
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        Self {
            endpoint,
            runtime_arn,
            shared,
            _serving: Serving::start("AgentCore runtime stand-in", listener, app),
        }
    }

    /// The ARN as it goes in the invocation path.
    pub fn escaped_arn(&self) -> String {
        escape_arn(&self.runtime_arn)
    }

    /// `<endpoint>/runtimes/<escaped ARN>/invocations?qualifier=<qualifier>`: the MCP URL a
    /// client uses.
    pub fn invocation_url(&self, qualifier: &str) -> String {
        self.shared.invocation_url(qualifier)
    }

    /// Every request to the invocation path so far, in arrival order.
    pub fn invocations(&self) -> Vec<Invocation> {
        lock(&self.shared.invocations).clone()
    }

    /// How many requests were refused with `401`.
    pub fn unauthorized(&self) -> usize {
        self.shared.gate.unauthorized()
    }

    /// How many requests were refused with `403` (SigV4).
    pub fn forbidden(&self) -> usize {
        self.shared.gate.forbidden()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let raw_path = parts.uri.path().to_owned();
    let qualifier = qualifier(&parts.uri);
    if parts.method == Method::GET
        && let Some(runtime_path) = raw_path
            .strip_suffix(WELL_KNOWN_METADATA)
            .and_then(|path| path.strip_suffix("/invocations"))
    {
        return match check_path(&shared, runtime_path) {
            Ok(()) => protected_resource_metadata(
                &shared.invocation_url(&qualifier),
                &shared.authorization_servers,
            ),
            Err(refusal) => refusal.into_response(),
        };
    }
    let body = match buffered_body(body).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let session_id_sent = header_str(&parts.headers, MCP_SESSION_ID).map(str::to_owned);
    let jsonrpc_method = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|message| Some(message.get("method")?.as_str()?.to_owned()));
    let request = http::Request::from_parts(parts, body);
    let (response, session_id) =
        match admit(&shared, &request, &qualifier, session_id_sent.as_deref()) {
            Err(refusal) => (refusal.into_response(), None),
            Ok(()) => {
                let session_id = session_id_sent
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                (
                    forward(&shared, &request, &session_id).await,
                    Some(session_id),
                )
            }
        };
    lock(&shared.invocations).push(Invocation {
        method: request.method().clone(),
        raw_path,
        qualifier,
        session_id_sent,
        session_id,
        jsonrpc_method,
        status: response.status(),
    });
    response
}

/// The `qualifier` query parameter, `DEFAULT` when absent.
fn qualifier(uri: &Uri) -> String {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("qualifier="))
        .map_or_else(
            || "DEFAULT".to_owned(),
            |value| percent_decode_str(value).decode_utf8_lossy().into_owned(),
        )
}

/// Everything the platform checks before it forwards a request.
fn admit(
    shared: &Shared,
    request: &http::Request<Bytes>,
    qualifier: &str,
    session_id: Option<&str>,
) -> Result<(), AwsError> {
    let Some(invocations) = request
        .uri()
        .path()
        .strip_suffix("/invocations")
        .filter(|_| {
            matches!(
                *request.method(),
                Method::POST | Method::GET | Method::DELETE
            )
        })
    else {
        return Err(unknown_operation(request.method(), request.uri().path()));
    };
    check_path(shared, invocations)?;
    if !shared
        .endpoints
        .iter()
        .any(|endpoint| endpoint == qualifier)
    {
        return Err(aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!(
                "No endpoint {qualifier:?} for runtime {}; its endpoints are {:?}.",
                shared.runtime_arn, shared.endpoints
            ),
        ));
    }
    shared
        .gate
        .admit(request, &shared.metadata_url(qualifier))?;
    if let Some(id) = session_id
        && !(33..=256).contains(&id.chars().count())
    {
        return Err(aws_error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            format!(
                "Mcp-Session-Id {id:?} has {} characters; a runtime session id has 33 to 256.",
                id.chars().count()
            ),
        ));
    }
    Ok(())
}

/// Checks `/runtimes/{escaped ARN}` (the invocation path without `/invocations`).
fn check_path(shared: &Shared, runtime_path: &str) -> Result<(), AwsError> {
    let Some(segment) = runtime_path.strip_prefix("/runtimes/") else {
        return Err(unknown_operation(&Method::POST, runtime_path));
    };
    if segment.contains('/') {
        return Err(aws_error(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!(
                "No operation at {runtime_path}/invocations: the runtime ARN must be one path \
                 segment, with every '/' encoded as %2F (and every ':' as %3A), but it arrived \
                 with a raw '/'. Expected /runtimes/{}/invocations.",
                escape_arn(&shared.runtime_arn)
            ),
        ));
    }
    if segment.contains(':') {
        return Err(aws_error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            format!(
                "The runtime ARN in the path must be URL-encoded: it contains a raw ':' (encode \
                 it as %3A, and '/' as %2F). Expected /runtimes/{}/invocations.",
                escape_arn(&shared.runtime_arn)
            ),
        ));
    }
    let Ok(arn) = percent_decode_str(segment).decode_utf8() else {
        return Err(aws_error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "The runtime ARN in the path does not decode to UTF-8 text.",
        ));
    };
    if arn != shared.runtime_arn {
        return Err(aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!(
                "No runtime {arn}: this stand-in serves {}.",
                shared.runtime_arn
            ),
        ));
    }
    Ok(())
}

fn unknown_operation(method: &Method, path: &str) -> AwsError {
    aws_error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!(
            "AgentCore runtime stand-in: no operation for {method} {path} (it serves POST, GET \
             and DELETE /runtimes/{{escaped runtime ARN}}/invocations)"
        ),
    )
}

/// Sends an admitted request on to the MCP server and streams its answer back.
async fn forward(shared: &Shared, request: &http::Request<Bytes>, session_id: &str) -> Response {
    let mut outgoing = shared
        .client
        .request(request.method().clone(), &shared.mcp_url)
        .header(MCP_SESSION_ID, session_id)
        .body(request.body().clone());
    for name in [
        http::header::CONTENT_TYPE.as_str(),
        http::header::ACCEPT.as_str(),
        MCP_PROTOCOL_VERSION,
    ] {
        if let Some(value) = request.headers().get(name) {
            outgoing = outgoing.header(name, value.clone());
        }
    }
    let answer = match tokio::time::timeout(shared.forward_timeout, outgoing.send()).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(error)) => {
            return runtime_client_error(format!(
                "the MCP server at {} could not be reached: {error}",
                shared.mcp_url
            ))
            .into_response();
        }
        Err(_) => {
            return runtime_client_error(format!(
                "the MCP server at {} did not answer within {:?}",
                shared.mcp_url, shared.forward_timeout
            ))
            .into_response();
        }
    };
    let session = answer
        .headers()
        .get(MCP_SESSION_ID)
        .cloned()
        .or_else(|| HeaderValue::from_str(session_id).ok());
    let mut response = Response::builder().status(answer.status());
    if let Some(content_type) = answer.headers().get(http::header::CONTENT_TYPE) {
        response = response.header(http::header::CONTENT_TYPE, content_type.clone());
    }
    if let Some(session) = session {
        response = response.header(MCP_SESSION_ID, session);
    }
    response
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap_or_else(|error| {
            runtime_client_error(format!("cannot relay the MCP server's answer: {error}"))
                .into_response()
        })
}

fn runtime_client_error(message: String) -> AwsError {
    aws_error(StatusCode::FAILED_DEPENDENCY, "RuntimeClientError", message)
}
