//! The HTTP client of the MCP transport, with each request's outbound credentials.
//!
//! [`AuthorizedClient`] implements rmcp's [`StreamableHttpClient`] by delegating to rmcp's own
//! implementation for `reqwest::Client`, adding the headers [`OutboundAuth::headers`] gives for
//! each request through `custom_headers` (where `Authorization` is allowed). The POST body is
//! serialised here with `serde_json::to_vec`, the same bytes reqwest's `.json()` sends, so a
//! SigV4 signature covers exactly what goes on the wire.
//!
//! A request whose JSON-RPC `_meta` carries a trace context (`traceparent`, `tracestate`,
//! `baggage`, as [`super::mcp`] puts there) also gets it as HTTP headers, so the server's spans
//! join the caller's trace whichever of the two it reads.
//!
//! A request refused with 401 (with or without a `WWW-Authenticate` challenge) makes the client
//! forget the token it sent and retry once with fresh credentials: a refused POST was not
//! processed, so repeating it is safe. A second 401 ends in
//! [`AuthorizedHttpError::Refused`]. An AgentCore Identity source ends there at the first 401:
//! only a request's own workload access token may fetch its next token (see `outbound_auth`),
//! and this layer serves every request of the source, so the retry is left to the request's
//! code in `mcp`, which holds that token. A `caller_token` source ends there too: its client is
//! built for one request with that request's caller token ([`AuthorizedClient::for_caller`]),
//! and a refused caller token stays refused until the caller signs in again.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use agent_protocol::Secret;
use futures::stream::BoxStream;
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::Sse;

use super::outbound_auth::{OutboundAuth, OutboundAuthError};

/// The trace-context entries of a request's `params._meta`, as HTTP headers.
fn trace_context_of(message: &ClientJsonRpcMessage) -> Vec<(HeaderName, HeaderValue)> {
    let Ok(value) = serde_json::to_value(message) else {
        return Vec::new();
    };
    let Some(meta) = value.pointer("/params/_meta").and_then(|m| m.as_object()) else {
        return Vec::new();
    };
    service_runtime::trace_meta::extract(meta)
        .into_iter()
        .filter_map(|(name, value)| Some((name?, value)))
        .collect()
}

/// Why an authorized request failed, beyond what rmcp's errors say. For the logs only.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizedHttpError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Auth(#[from] OutboundAuthError),
    #[error("MCP source {source_name} refused the credentials (HTTP 401{})", if *.retried { ", again after fetching fresh ones" } else { "" })]
    Refused {
        source_name: String,
        /// Whether fresh credentials were tried too (not for Identity or a caller's token, see
        /// the module doc).
        retried: bool,
    },
}

type Error = StreamableHttpError<AuthorizedHttpError>;
type Headers = HashMap<HeaderName, HeaderValue>;

/// A reqwest client that authorizes every MCP request of one source.
#[derive(Clone)]
pub struct AuthorizedClient {
    http: reqwest::Client,
    auth: Arc<OutboundAuth>,
    /// The caller's token of the one request this client serves (`caller_token` sources).
    caller_token: Option<Secret>,
}

impl std::fmt::Debug for AuthorizedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizedClient")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl AuthorizedClient {
    /// The client for one source: use it with
    /// `StreamableHttpClientTransport::with_client(client, config)`.
    pub fn new(http: reqwest::Client, auth: Arc<OutboundAuth>) -> Self {
        Self {
            http,
            auth,
            caller_token: None,
        }
    }

    /// The client for one request of a `caller_token` source, carrying that request's
    /// `caller_token`; drop it with the request (see `outbound_auth`, "Caller tokens").
    pub fn for_caller(
        http: reqwest::Client,
        auth: Arc<OutboundAuth>,
        caller_token: Secret,
    ) -> Self {
        Self {
            http,
            auth,
            caller_token: Some(caller_token),
        }
    }

    /// Sends one request with fresh credentials; on a 401, forgets the refused token and sends
    /// it once more. `send` gets the headers to add and the `auth_header` to pass on (the
    /// transport's own static token is dropped when the credentials bring an `Authorization`,
    /// so the request never carries two).
    async fn authorized<T, Fut>(
        &self,
        method: Method,
        uri: &str,
        body: &[u8],
        custom_headers: Headers,
        auth_header: Option<String>,
        send: impl Fn(Headers, Option<String>) -> Fut,
    ) -> Result<T, Error>
    where
        Fut: Future<Output = Result<T, StreamableHttpError<reqwest::Error>>>,
    {
        let mut refused = false;
        loop {
            let credentials = self
                .auth
                .headers(&method, uri, body, self.caller_token.as_ref())
                .await
                .map_err(|e| StreamableHttpError::Client(AuthorizedHttpError::Auth(e)))?;
            let mut headers = custom_headers.clone();
            for (name, value) in &credentials {
                headers.insert(name.clone(), value.clone());
            }
            let pass_on = if credentials.contains_key(AUTHORIZATION) {
                None
            } else {
                auth_header.clone()
            };
            match send(headers, pass_on).await {
                Err(error) if is_unauthorized(&error) => {
                    if refused || self.auth.needs_workload_token() || self.auth.needs_caller_token()
                    {
                        self.auth.invalidate_refused(&credentials);
                        return Err(StreamableHttpError::Client(AuthorizedHttpError::Refused {
                            source_name: self.auth.source_name().to_owned(),
                            retried: refused,
                        }));
                    }
                    refused = true;
                    tracing::info!(
                        source = %self.auth.source_name(),
                        %method,
                        "MCP source answered 401; retrying once with fresh credentials"
                    );
                    self.auth.invalidate_refused(&credentials);
                }
                other => return other.map_err(convert),
            }
        }
    }
}

/// Whether rmcp's reqwest client saw a 401: as `AuthRequired` (with a challenge), as the
/// status of a `reqwest::Error` (GET and DELETE without a challenge), or as the
/// `HTTP 401 ...` text of an unexpected response (POST without a challenge).
fn is_unauthorized(error: &StreamableHttpError<reqwest::Error>) -> bool {
    match error {
        StreamableHttpError::AuthRequired(_) => true,
        StreamableHttpError::Client(e) => e.status() == Some(StatusCode::UNAUTHORIZED),
        StreamableHttpError::UnexpectedServerResponse(text) => text.starts_with("HTTP 401"),
        _ => false,
    }
}

/// rmcp's error for reqwest as the same error for this client. Every variant keeps its kind
/// (the transport reacts to some of them, e.g. `SessionExpired`); one this version does not
/// know keeps its message.
fn convert(error: StreamableHttpError<reqwest::Error>) -> Error {
    use StreamableHttpError as E;
    match error {
        E::Client(e) => E::Client(AuthorizedHttpError::Http(e)),
        E::Sse(e) => E::Sse(e),
        E::Io(e) => E::Io(e),
        E::HttpStatus(e) => E::HttpStatus(e),
        E::UnexpectedEndOfStream => E::UnexpectedEndOfStream,
        E::UnexpectedServerResponse(text) => E::UnexpectedServerResponse(text),
        E::ResponseBodyTooLarge { max_size } => E::ResponseBodyTooLarge { max_size },
        E::UnexpectedContentType(kind) => E::UnexpectedContentType(kind),
        E::ServerDoesNotSupportSse => E::ServerDoesNotSupportSse,
        E::ServerDoesNotSupportDeleteSession => E::ServerDoesNotSupportDeleteSession,
        E::TokioJoinError(e) => E::TokioJoinError(e),
        E::Deserialize(e) => E::Deserialize(e),
        E::TransportChannelClosed => E::TransportChannelClosed,
        E::MissingSessionIdInResponse => E::MissingSessionIdInResponse,
        E::AuthRequired(e) => E::AuthRequired(e),
        E::InsufficientScope(e) => E::InsufficientScope(e),
        E::ReservedHeaderConflict(name) => E::ReservedHeaderConflict(name),
        E::SessionExpired => E::SessionExpired,
        E::SessionRecoveryTimeout => E::SessionRecoveryTimeout,
        E::ReinitializationFailed(data) => E::ReinitializationFailed(data),
        E::ControlRequestTimeout => E::ControlRequestTimeout,
        other => E::UnexpectedServerResponse(Cow::Owned(other.to_string())),
    }
}

impl StreamableHttpClient for AuthorizedClient {
    type Error = AuthorizedHttpError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: Headers,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let body = serde_json::to_vec(&message).map_err(StreamableHttpError::Deserialize)?;
        let mut custom_headers = custom_headers;
        custom_headers.extend(trace_context_of(&message));
        self.authorized(
            Method::POST,
            &uri,
            &body,
            custom_headers,
            auth_header,
            |headers, auth| {
                self.http.post_message(
                    uri.clone(),
                    message.clone(),
                    session_id.clone(),
                    auth,
                    headers,
                )
            },
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: Headers,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let body = serde_json::to_vec(&message).map_err(StreamableHttpError::Deserialize)?;
        let mut custom_headers = custom_headers;
        custom_headers.extend(trace_context_of(&message));
        self.authorized(
            Method::POST,
            &uri,
            &body,
            custom_headers,
            auth_header,
            |headers, auth| {
                self.http.post_message_with_max_sse_event_size(
                    uri.clone(),
                    message.clone(),
                    session_id.clone(),
                    auth,
                    headers,
                    max_sse_event_size,
                )
            },
        )
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: Headers,
    ) -> Result<(), Error> {
        self.authorized(
            Method::DELETE,
            &uri,
            b"",
            custom_headers,
            auth_header,
            |headers, auth| {
                self.http
                    .delete_session(uri.clone(), session_id.clone(), auth, headers)
            },
        )
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: Headers,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        self.authorized(
            Method::GET,
            &uri,
            b"",
            custom_headers,
            auth_header,
            |headers, auth| {
                self.http.get_stream(
                    uri.clone(),
                    session_id.clone(),
                    last_event_id.clone(),
                    auth,
                    headers,
                )
            },
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: Headers,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        self.authorized(
            Method::GET,
            &uri,
            b"",
            custom_headers,
            auth_header,
            |headers, auth| {
                self.http.get_stream_with_max_sse_event_size(
                    uri.clone(),
                    session_id.clone(),
                    last_event_id.clone(),
                    auth,
                    headers,
                    max_sse_event_size,
                )
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::response::{IntoResponse, Response};
    use axum::routing::any;
    use rmcp::model::{ClientRequest, PingRequest, RequestId};
    use serde_json::json;

    /// An MCP endpoint that refuses the first `refusals` requests with 401 and records what
    /// every request carried.
    struct Server {
        refusals: usize,
        challenge: bool,
        seen: AtomicUsize,
        requests: Mutex<Vec<(Method, Vec<String>, Bytes)>>,
    }

    async fn mcp(
        State(server): State<Arc<Server>>,
        method: Method,
        headers: axum::http::HeaderMap,
        body: Bytes,
    ) -> Response {
        let n = server.seen.fetch_add(1, Ordering::SeqCst);
        let authorizations = headers
            .get_all(AUTHORIZATION)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .collect();
        server
            .requests
            .lock()
            .expect("lock")
            .push((method.clone(), authorizations, body));
        if n < server.refusals {
            let mut response = (StatusCode::UNAUTHORIZED, "no").into_response();
            if server.challenge {
                response.headers_mut().insert(
                    "www-authenticate",
                    HeaderValue::from_static("Bearer resource_metadata=\"http://x/.well-known\""),
                );
            }
            return response;
        }
        match method {
            Method::POST => (
                [("content-type", "application/json")],
                json!({"jsonrpc": "2.0", "id": 1, "result": {}}).to_string(),
            )
                .into_response(),
            Method::GET => StatusCode::METHOD_NOT_ALLOWED.into_response(),
            _ => StatusCode::OK.into_response(),
        }
    }

    async fn start(refusals: usize, challenge: bool) -> (String, Arc<Server>) {
        let server = Arc::new(Server {
            refusals,
            challenge,
            seen: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/mcp", any(mcp))
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let url = format!("http://{}/mcp", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, server)
    }

    fn client() -> AuthorizedClient {
        AuthorizedClient::new(
            reqwest::Client::new(),
            Arc::new(OutboundAuth::fixed_bearer("gateway", "token-1")),
        )
    }

    fn ping() -> ClientJsonRpcMessage {
        ClientJsonRpcMessage::request(
            ClientRequest::PingRequest(PingRequest::default()),
            RequestId::Number(1),
        )
    }

    #[tokio::test]
    async fn the_credentials_go_in_one_authorization_header_over_the_exact_body() {
        let (url, server) = start(0, false).await;
        let answer = client()
            .post_message(
                url.into(),
                ping(),
                None,
                Some("static-token-from-config".to_owned()),
                HashMap::new(),
            )
            .await
            .expect("answered");
        assert!(matches!(answer, StreamableHttpPostResponse::Json(..)));
        let requests = server.requests.lock().expect("lock");
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].1, vec!["Bearer token-1".to_owned()]);
        assert_eq!(
            requests[0].2,
            serde_json::to_vec(&ping()).expect("serialises"),
            "the body signed is the body sent"
        );
    }

    #[tokio::test]
    async fn a_401_is_retried_once_with_or_without_a_challenge() {
        for challenge in [true, false] {
            let (url, server) = start(1, challenge).await;
            client()
                .post_message(url.into(), ping(), None, None, HashMap::new())
                .await
                .expect("second attempt answered");
            assert_eq!(
                server.seen.load(Ordering::SeqCst),
                2,
                "challenge: {challenge}"
            );
        }
        let (url, server) = start(1, false).await;
        client()
            .delete_session(url.into(), "session-1".into(), None, HashMap::new())
            .await
            .expect("second attempt answered");
        assert_eq!(server.seen.load(Ordering::SeqCst), 2);
        let (url, server) = start(1, false).await;
        let error = client()
            .get_stream(url.into(), Some("s".into()), None, None, HashMap::new())
            .await
            .err()
            .expect("no SSE stream offered");
        assert!(
            matches!(error, StreamableHttpError::ServerDoesNotSupportSse),
            "{error}"
        );
        assert_eq!(server.seen.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_identity_source_without_a_token_at_hand_sends_nothing_and_fetches_nothing() {
        let (url, server) = start(0, false).await;
        let aws = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let auth = OutboundAuth::new(
            "gateway",
            &super::super::outbound_auth::AuthConfig::AgentcoreIdentity {
                provider_name: "gateway-m2m".to_owned(),
                scopes: vec![],
            },
            &aws,
            std::time::Duration::from_secs(1),
        )
        .expect("valid");
        let error = AuthorizedClient::new(reqwest::Client::new(), Arc::new(auth))
            .post_message(url.into(), ping(), None, None, HashMap::new())
            .await
            .expect_err("no token at hand");
        assert!(
            matches!(
                error,
                StreamableHttpError::Client(AuthorizedHttpError::Auth(
                    OutboundAuthError::NoTokenAtHand { .. }
                ))
            ),
            "{error}"
        );
        assert_eq!(server.seen.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_caller_token_client_sends_its_token_and_never_retries_a_401() {
        let aws = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let auth = Arc::new(
            OutboundAuth::new(
                "gateway",
                &super::super::outbound_auth::AuthConfig::CallerToken,
                &aws,
                std::time::Duration::from_secs(1),
            )
            .expect("valid"),
        );
        let (url, server) = start(0, false).await;
        AuthorizedClient::for_caller(
            reqwest::Client::new(),
            auth.clone(),
            Secret::new("caller.jwt.one".to_owned()),
        )
        .post_message(url.into(), ping(), None, None, HashMap::new())
        .await
        .expect("answered");
        assert_eq!(
            server.requests.lock().expect("lock")[0].1,
            vec!["Bearer caller.jwt.one".to_owned()]
        );

        let (url, server) = start(5, true).await;
        let error = AuthorizedClient::for_caller(
            reqwest::Client::new(),
            auth.clone(),
            Secret::new("caller.jwt.expired".to_owned()),
        )
        .post_message(url.into(), ping(), None, None, HashMap::new())
        .await
        .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "Client error: MCP source gateway refused the credentials (HTTP 401)"
        );
        assert_eq!(
            server.seen.load(Ordering::SeqCst),
            1,
            "the same token is not sent again"
        );

        let (url, server) = start(0, false).await;
        let error = AuthorizedClient::new(reqwest::Client::new(), auth)
            .post_message(url.into(), ping(), None, None, HashMap::new())
            .await
            .expect_err("a shared client has no caller token");
        assert!(
            matches!(
                error,
                StreamableHttpError::Client(AuthorizedHttpError::Auth(
                    OutboundAuthError::MissingCallerToken { .. }
                ))
            ),
            "{error}"
        );
        assert_eq!(server.seen.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_second_401_says_the_source_refused_the_credentials() {
        for challenge in [true, false] {
            let (url, server) = start(5, challenge).await;
            let error = client()
                .post_message(url.into(), ping(), None, None, HashMap::new())
                .await
                .expect_err("refused twice");
            assert_eq!(
                error.to_string(),
                "Client error: MCP source gateway refused the credentials (HTTP 401, again after fetching fresh ones)"
            );
            assert_eq!(server.seen.load(Ordering::SeqCst), 2, "only one retry");
        }
    }
}
