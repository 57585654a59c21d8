//! An OTLP/HTTP trace receiver stand-in: `POST /v1/traces` on a free loopback port, recording
//! every span it is sent so tests can assert on what the agent and the MCP server export.
//!
//! moto has no OTLP intake, and AgentCore's is X-Ray's `https://xray.<region>.amazonaws.com/v1/traces`
//! (SigV4-signed, service `xray`, as AgentCore's observability guide describes). Tests point a binary at
//! [`OtlpReceiver::endpoint`] through `OTEL_EXPORTER_OTLP_ENDPOINT` ([`OtlpReceiver::exporter_env`])
//! as they would at a collector, or at [`OtlpReceiver::traces_url`] as the X-Ray endpoint with a
//! [`sigv4`](crate::agentcore_runtime::sigv4) authorizer in [`OtlpOptions`]. It answers as the
//! OTLP/HTTP specification has a collector answer:
//!
//! - The path must be `/v1/traces` (else `404`) and the method `POST` (else `405`).
//! - The [`Authorizer`], if any, sees the request as received (compressed body included, which
//!   is what a SigV4 signature covers); its refusal is answered as the AgentCore stand-ins answer
//!   it, so a SigV4 refusal is `403` with `x-amzn-errortype`.
//! - `Content-Type: application/x-protobuf` carries a protobuf `ExportTraceServiceRequest`,
//!   `application/json` the same in OTLP/JSON (ids as hex, 64-bit integers as strings); any
//!   other type is `415`. `Content-Encoding: gzip` is undone first; other encodings are `415`.
//! - A body that does not decode is `400` with a `google.rpc.Status` (`code` 3,
//!   INVALID_ARGUMENT) in the request's format. An accepted export is `200` with an empty
//!   `ExportTraceServiceResponse` in the request's format (no `partialSuccess`: nothing is
//!   rejected).
//!
//! Every span of an accepted export is recorded flattened ([`RecordedSpan`]): ids as lowercase
//! hex, its attributes, events, resource attributes and scope name, so a test needs no OTLP
//! types. Every request, whatever its answer, is recorded too ([`OtlpReceiver::requests`]), so an
//! exporter posting to the wrong path or refused by the authorizer shows up in a failure message.
//!
//! [`BlackHole`] is the opposite peer: it accepts connections and never answers, for proving that
//! a dead trace endpoint slows no request down.
//!
//! Both stop when dropped: they stop accepting and close their connections.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{self, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flate2::read::GzDecoder;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{span, status};
use prost::Message as _;
use serde_json::Value;
use tokio::io::AsyncReadExt as _;
use tokio::sync::watch;

use crate::agentcore_runtime::{AuthGate, Authorizer, lock};
use crate::serving::{Serving, bind_loopback};

/// Where OTLP/HTTP sends traces, relative to the endpoint.
pub const TRACES_PATH: &str = "/v1/traces";

/// The largest export accepted, compressed or not (the collector's default is far larger than
/// any batch the SDK's default limits produce).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// How often the `wait_for_*` methods look again.
const POLL: Duration = Duration::from_millis(20);

/// `google.rpc.Status` code INVALID_ARGUMENT, which OTLP/HTTP puts in a `400`'s body.
const INVALID_ARGUMENT: i32 = 3;

/// How a [`OtlpReceiver`] is set up.
#[derive(Clone, Default)]
pub struct OtlpOptions {
    /// Checks each request before its body is decoded, e.g.
    /// `agentcore_runtime::sigv4("testing", "testing", "us-east-1", "xray")` for the X-Ray
    /// endpoint; `None` accepts every request, as a local collector does.
    pub authorizer: Option<Authorizer>,
}

/// A span's kind, as OTLP names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// Not set, or a value this stand-in does not know.
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// A span's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanStatusCode {
    /// Not set, or a value this stand-in does not know.
    Unset,
    Ok,
    Error,
}

/// One span as received, flattened out of its resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedSpan {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// `None` for a root span (the field was empty).
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: SpanKind,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    pub status_code: SpanStatusCode,
    pub status_message: String,
    /// String, bool, int (a JSON integer), double, array (a JSON array), key-value list (a JSON
    /// object) and bytes (a base64 JSON string) values; an empty value is `null`.
    pub attributes: BTreeMap<String, Value>,
    pub events: Vec<RecordedEvent>,
    /// The attributes of the resource the span was exported under (`service.name`, ...).
    pub resource: BTreeMap<String, Value>,
    /// The instrumentation scope's name (the tracer's name).
    pub scope: String,
}

impl RecordedSpan {
    /// The attribute `name`, if the span has it.
    pub fn attr(&self, name: &str) -> Option<&Value> {
        self.attributes.get(name)
    }

    /// The attribute `name`, if the span has it as a string.
    pub fn attr_str(&self, name: &str) -> Option<&str> {
        self.attr(name).and_then(Value::as_str)
    }

    /// The resource attribute `name`, if the resource has it as a string.
    pub fn resource_str(&self, name: &str) -> Option<&str> {
        self.resource.get(name).and_then(Value::as_str)
    }
}

/// An event recorded on a span (`tracing` events inside a span arrive as these).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub name: String,
    pub time_unix_nanos: u64,
    pub attributes: BTreeMap<String, Value>,
}

/// One request as the receiver got it, whatever it answered.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: Method,
    /// The path as sent.
    pub path: String,
    pub headers: HeaderMap,
    /// The body's length as received (compressed, if it was).
    pub body_size: usize,
    /// What the receiver answered.
    pub status: StatusCode,
    /// How many spans the request carried (0 unless accepted).
    pub spans: usize,
}

impl RecordedRequest {
    /// Whether the export was accepted (`200`) and its spans recorded.
    pub fn accepted(&self) -> bool {
        self.status == StatusCode::OK
    }

    /// The value of header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A running receiver; stops when dropped.
pub struct OtlpReceiver {
    endpoint: String,
    shared: Arc<Shared>,
    /// Dropping it tells the server to stop.
    _serving: Serving,
}

struct Shared {
    gate: Option<AuthGate>,
    spans: Mutex<Vec<RecordedSpan>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

impl OtlpReceiver {
    /// Starts a receiver that accepts every request.
    pub async fn start() -> Self {
        Self::start_with(OtlpOptions::default()).await
    }

    /// Starts a receiver on a free loopback port.
    pub async fn start_with(options: OtlpOptions) -> Self {
        let (listener, endpoint) = bind_loopback().await;
        let shared = Arc::new(Shared {
            gate: options.authorizer.map(AuthGate::new),
            spans: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
        });
        // One handler for every path and method, so that misdirected requests are recorded too.
        let app = Router::new()
            .fallback(receive)
            .with_state(Arc::clone(&shared));
        Self {
            endpoint,
            shared,
            _serving: Serving::start("OTLP receiver", listener, app),
        }
    }

    /// `http://127.0.0.1:<port>`: the base URL, for `OTEL_EXPORTER_OTLP_ENDPOINT` (the SDK adds
    /// `/v1/traces`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `<endpoint>/v1/traces`: the full URL, for a traces-specific endpoint setting.
    pub fn traces_url(&self) -> String {
        format!("{}{TRACES_PATH}", self.endpoint)
    }

    /// Environment for a process's OpenTelemetry SDK to export spans here over OTLP/HTTP
    /// protobuf. The batch delay is cut from the default 5 s to 100 ms so that tests waiting
    /// for spans of a running process do not wait for the SDK's timer.
    pub fn exporter_env(&self) -> Vec<(String, String)> {
        [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", self.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<RecordedSpan> {
        lock(&self.shared.spans).clone()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Waits until `predicate` holds for all the spans received so far and returns them; fails
    /// after `timeout` with the span names and request answers seen, so a test's failure says
    /// what did arrive.
    pub async fn wait_for_spans(
        &self,
        predicate: impl Fn(&[RecordedSpan]) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Vec<RecordedSpan>> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if predicate(&spans) {
                return Ok(spans);
            }
            if Instant::now() >= deadline {
                let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
                let answers: Vec<String> = self
                    .requests()
                    .iter()
                    .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
                    .collect();
                anyhow::bail!(
                    "the expected spans did not arrive within {timeout:?}; spans received: \
                     {names:?}; requests: {answers:?}"
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The spans received so far whose parent is `span_id`, by start time.
    pub fn children_of(&self, span_id: &str) -> Vec<RecordedSpan> {
        self.spans_where(|span| span.parent_span_id.as_deref() == Some(span_id))
    }

    /// The spans received so far of trace `trace_id`, by start time.
    pub fn trace(&self, trace_id: &str) -> Vec<RecordedSpan> {
        self.spans_where(|span| span.trace_id == trace_id)
    }

    fn spans_where(&self, keep: impl Fn(&RecordedSpan) -> bool) -> Vec<RecordedSpan> {
        let mut spans: Vec<RecordedSpan> = self.spans().into_iter().filter(keep).collect();
        spans.sort_by_key(|span| span.start_unix_nanos);
        spans
    }
}

/// Reads the body, answers, and records the request (and the spans, if accepted).
async fn receive(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(body) => body,
        Err(error) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("cannot read the body: {error}"),
            );
        }
    };
    let request = http::Request::from_parts(parts, body);
    let (response, spans) = match decode(&shared, &request) {
        Ok((format, export)) => (format.accepted(), flatten(export)),
        Err(refusal) => (*refusal, Vec::new()),
    };
    // The request goes in before its spans, so a test that has seen the spans sees the request.
    lock(&shared.requests).push(RecordedRequest {
        method: request.method().clone(),
        path: request.uri().path().to_owned(),
        headers: request.headers().clone(),
        body_size: request.body().len(),
        status: response.status(),
        spans: spans.len(),
    });
    lock(&shared.spans).extend(spans);
    response
}

/// The request body's format, from its `Content-Type`.
#[derive(Clone, Copy)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }

    /// A body in this format with the matching `Content-Type`.
    fn response(self, status: StatusCode, body: Vec<u8>) -> Response {
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type()),
        );
        response
    }

    /// A collector's `200`: an empty `ExportTraceServiceResponse` (no `partialSuccess`).
    fn accepted(self) -> Response {
        let response = ExportTraceServiceResponse::default();
        let body = match self {
            Self::Protobuf => response.encode_to_vec(),
            Self::Json => serde_json::to_vec(&response).expect("a response serialises"),
        };
        self.response(StatusCode::OK, body)
    }

    /// The `400` OTLP/HTTP answers to an export it cannot decode: a `google.rpc.Status`.
    fn bad_request(self, message: String) -> Response {
        let body = match self {
            Self::Protobuf => RpcStatus {
                code: INVALID_ARGUMENT,
                message,
            }
            .encode_to_vec(),
            Self::Json => serde_json::json!({ "code": INVALID_ARGUMENT, "message": message })
                .to_string()
                .into_bytes(),
        };
        self.response(StatusCode::BAD_REQUEST, body)
    }
}

/// `google.rpc.Status`, the body of OTLP/HTTP's error answers (details left out: the stand-in
/// has none to give).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The export a request carries and the format to answer in, or the answer refusing it.
fn decode(
    shared: &Shared,
    request: &http::Request<Bytes>,
) -> Result<(Format, ExportTraceServiceRequest), Box<Response>> {
    if request.uri().path() != TRACES_PATH {
        return Err(Box::new(text(
            StatusCode::NOT_FOUND,
            format!(
                "OTLP receiver: nothing at {}; traces go to POST {TRACES_PATH}",
                request.uri().path()
            ),
        )));
    }
    if request.method() != Method::POST {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{TRACES_PATH} takes POST"),
        );
        response
            .headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
        return Err(Box::new(response));
    }
    if let Some(gate) = &shared.gate {
        // No protected-resource metadata is served: only an authorizer answering `401` would
        // point at it, and the X-Ray endpoint uses SigV4.
        gate.admit(request, TRACES_PATH)
            .map_err(|refusal| Box::new(refusal.into_response()))?;
    }
    let headers = request.headers();
    let content_type = header(headers, http::header::CONTENT_TYPE);
    let format = match media_type(content_type).as_str() {
        "application/x-protobuf" => Format::Protobuf,
        "application/json" => Format::Json,
        _ => {
            return Err(Box::new(text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "unsupported Content-Type {content_type:?}: send application/x-protobuf or \
                     application/json"
                ),
            )));
        }
    };
    let encoding = header(headers, http::header::CONTENT_ENCODING);
    let body = match media_type(encoding).as_str() {
        "" | "identity" => request.body().to_vec(),
        "gzip" => {
            gunzip(request.body()).map_err(|message| Box::new(format.bad_request(message)))?
        }
        _ => {
            return Err(Box::new(text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported Content-Encoding {encoding:?}: send gzip or none"),
            )));
        }
    };
    let export = match format {
        Format::Protobuf => ExportTraceServiceRequest::decode(body.as_slice())
            .map_err(|error| format!("not a protobuf ExportTraceServiceRequest: {error}")),
        Format::Json => serde_json::from_slice(&body)
            .map_err(|error| format!("not an OTLP/JSON ExportTraceServiceRequest: {error}")),
    }
    .map_err(|message| Box::new(format.bad_request(message)))?;
    Ok((format, export))
}

/// The lowercase media type or coding of a header value, without parameters (`""` if absent).
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn header(headers: &HeaderMap, name: http::header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// Undoes `Content-Encoding: gzip`, refusing what inflates past the body limit.
fn gunzip(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut inflated = Vec::new();
    GzDecoder::new(body)
        .take(BODY_LIMIT as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|error| format!("the gzip body does not decompress: {error}"))?;
    if inflated.len() > BODY_LIMIT {
        return Err(format!("the gzip body inflates past {BODY_LIMIT} bytes"));
    }
    Ok(inflated)
}

fn text(status: StatusCode, message: String) -> Response {
    (status, message).into_response()
}

/// Every span of an export, with its resource's attributes and scope name.
fn flatten(export: ExportTraceServiceRequest) -> Vec<RecordedSpan> {
    let mut recorded = Vec::new();
    for resource_spans in export.resource_spans {
        let resource = attributes(
            resource_spans
                .resource
                .map(|resource| resource.attributes)
                .unwrap_or_default(),
        );
        for scope_spans in resource_spans.scope_spans {
            let scope = scope_spans
                .scope
                .map(|scope| scope.name)
                .unwrap_or_default();
            for span in scope_spans.spans {
                let status = span.status.unwrap_or_default();
                recorded.push(RecordedSpan {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty())
                        .then(|| hex(&span.parent_span_id)),
                    name: span.name,
                    kind: span_kind(span.kind),
                    start_unix_nanos: span.start_time_unix_nano,
                    end_unix_nanos: span.end_time_unix_nano,
                    status_code: status_code(status.code),
                    status_message: status.message,
                    attributes: attributes(span.attributes),
                    events: span
                        .events
                        .into_iter()
                        .map(|event| RecordedEvent {
                            name: event.name,
                            time_unix_nanos: event.time_unix_nano,
                            attributes: attributes(event.attributes),
                        })
                        .collect(),
                    resource: resource.clone(),
                    scope: scope.clone(),
                });
            }
        }
    }
    recorded
}

fn span_kind(kind: i32) -> SpanKind {
    match span::SpanKind::try_from(kind) {
        Ok(span::SpanKind::Internal) => SpanKind::Internal,
        Ok(span::SpanKind::Server) => SpanKind::Server,
        Ok(span::SpanKind::Client) => SpanKind::Client,
        Ok(span::SpanKind::Producer) => SpanKind::Producer,
        Ok(span::SpanKind::Consumer) => SpanKind::Consumer,
        Ok(span::SpanKind::Unspecified) | Err(_) => SpanKind::Unspecified,
    }
}

fn status_code(code: i32) -> SpanStatusCode {
    match status::StatusCode::try_from(code) {
        Ok(status::StatusCode::Ok) => SpanStatusCode::Ok,
        Ok(status::StatusCode::Error) => SpanStatusCode::Error,
        Ok(status::StatusCode::Unset) | Err(_) => SpanStatusCode::Unset,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

fn attributes(pairs: Vec<KeyValue>) -> BTreeMap<String, Value> {
    pairs
        .into_iter()
        .map(|pair| (pair.key, any_value(pair.value)))
        .collect()
}

fn any_value(value: Option<AnyValue>) -> Value {
    use any_value::Value as V;
    match value.and_then(|value| value.value) {
        None => Value::Null,
        Some(V::StringValue(s)) => Value::String(s),
        Some(V::BoolValue(b)) => Value::Bool(b),
        Some(V::IntValue(i)) => Value::from(i),
        // Non-finite doubles have no JSON number; they become `null`.
        Some(V::DoubleValue(d)) => Value::from(d),
        Some(V::ArrayValue(array)) => Value::Array(
            array
                .values
                .into_iter()
                .map(|value| any_value(Some(value)))
                .collect(),
        ),
        Some(V::KvlistValue(list)) => Value::Object(attributes(list.values).into_iter().collect()),
        Some(V::BytesValue(bytes)) => Value::String(BASE64.encode(bytes)),
        // A profiling-only field; OTLP says trace receivers treat it as absent.
        Some(V::StringValueStrindex(_)) => Value::Null,
    }
}

/// A trace endpoint that is up but dead: it accepts TCP connections and reads what is sent,
/// but never answers. An exporter pointed here must time out in the background without holding
/// up the requests whose spans it carries. Connections stay open until it is dropped.
pub struct BlackHole {
    endpoint: String,
    connections: Arc<AtomicUsize>,
    /// Dropping it stops the accept loop and closes every connection.
    _shutdown: watch::Sender<()>,
}

impl BlackHole {
    /// Starts listening on a free loopback port.
    pub async fn start() -> Self {
        let (listener, endpoint) = bind_loopback().await;
        let (shutdown, stop) = watch::channel(());
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        tokio::spawn(async move {
            let mut stop_accepting = stop.clone();
            loop {
                let stream = tokio::select! {
                    _ = stop_accepting.changed() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(error) => {
                            eprintln!("OTLP black hole cannot accept: {error}");
                            continue;
                        }
                    },
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut stop_reading = stop.clone();
                tokio::spawn(async move {
                    swallow(stream, &mut stop_reading).await;
                });
            }
        });
        Self {
            endpoint,
            connections,
            _shutdown: shutdown,
        }
    }

    /// `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `<endpoint>/v1/traces`.
    pub fn traces_url(&self) -> String {
        format!("{}{TRACES_PATH}", self.endpoint)
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Waits until [`connections`](Self::connections) reaches `at_least` or `timeout` passes;
    /// returns the count then.
    pub async fn wait_for_connections(&self, at_least: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let count = self.connections();
            if count >= at_least || Instant::now() >= deadline {
                return count;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Reads and discards until the peer closes or the black hole stops, so the client's request
/// is fully sent and it waits on an answer that never comes (rather than on a full socket
/// buffer).
async fn swallow(mut stream: tokio::net::TcpStream, stop: &mut watch::Receiver<()>) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
        }
    }
}
