//! The OTLP receiver stand-in ([`system_tests::otlp`]) against the real exporter: an in-process
//! `opentelemetry_sdk` tracer provider with `opentelemetry-otlp`'s HTTP protobuf span exporter,
//! the stack the agent and the MCP server export with. The receiver must decode what that
//! exporter sends, ids and parentage included, and refuse what a collector or X-Ray refuses, or
//! tests asserting on the binaries' spans would prove nothing.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use opentelemetry::trace::{
    Span as _, SpanKind as ApiSpanKind, Status, TraceContextExt as _, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_otlp::{Compression, Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prost::Message as _;
use serde_json::json;
use system_tests::agentcore_runtime::sigv4;
use system_tests::otlp::{BlackHole, OtlpOptions, OtlpReceiver, SpanKind, SpanStatusCode};

const WAIT: Duration = Duration::from_secs(10);
const REGION: &str = "us-east-1";
const ACCESS_KEY_ID: &str = "testing";
const SECRET_ACCESS_KEY: &str = "testing";
const RUNTIME_ARN: &str =
    "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/support_agent-abc123";

/// A tracer provider exporting to `url` with the real OTLP/HTTP protobuf exporter and the SDK's
/// batch processor, as the binaries set it up.
fn provider(url: &str, compression: Option<Compression>) -> SdkTracerProvider {
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url);
    if let Some(compression) = compression {
        builder = builder.with_compression(compression);
    }
    let exporter = builder.build().expect("the OTLP exporter builds");
    SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        // No default detectors: the resource is exactly what the test asserts.
        .with_resource(
            Resource::builder_empty()
                .with_service_name("support-agent")
                .with_attribute(KeyValue::new("cloud.resource_id", RUNTIME_ARN))
                .build(),
        )
        .build()
}

/// Flushes and shuts the provider down off the async threads: both block on the batch
/// processor's thread, which posts to a receiver served by this runtime.
async fn flush_and_shut_down(provider: SdkTracerProvider) {
    tokio::task::spawn_blocking(move || {
        provider.force_flush().expect("the spans are exported");
        provider.shutdown().expect("the provider shuts down");
    })
    .await
    .expect("the flush does not panic");
}

/// The ids of the spans `export_parent_and_child` made.
struct Made {
    trace_id: String,
    root_id: String,
    child_id: String,
}

/// A server root span with attributes of every scalar and array type, and a client child span
/// with an event and an error status.
fn export_parent_and_child(provider: &SdkTracerProvider) -> Made {
    let tracer = provider.tracer("support-agent-tests");
    let root = tracer
        .span_builder("invoke_agent")
        .with_kind(ApiSpanKind::Server)
        .with_attributes([
            KeyValue::new("session.id", "session-0001"),
            KeyValue::new("gen_ai.request.streaming", true),
            KeyValue::new("gen_ai.usage.input_tokens", 1234_i64),
            KeyValue::new("gen_ai.request.temperature", 0.5),
            KeyValue::new(
                "support.topics",
                Value::Array(Array::String(vec![
                    StringValue::from("refund"),
                    StringValue::from("warranty"),
                ])),
            ),
        ])
        .start(&tracer);
    let root_cx = Context::current_with_span(root);
    let mut child = tracer
        .span_builder("execute_tool lookup_order")
        .with_kind(ApiSpanKind::Client)
        .with_attributes([KeyValue::new("gen_ai.tool.name", "lookup_order")])
        .start_with_context(&tracer, &root_cx);
    child.add_event("retry", vec![KeyValue::new("attempt", 2_i64)]);
    child.set_status(Status::error("order service unavailable"));
    let made = Made {
        trace_id: child.span_context().trace_id().to_string(),
        root_id: root_cx.span().span_context().span_id().to_string(),
        child_id: child.span_context().span_id().to_string(),
    };
    child.end();
    root_cx.span().end();
    made
}

#[tokio::test]
async fn exported_parent_and_child_spans_arrive_with_ids_parentage_attributes_and_resource() {
    let receiver = OtlpReceiver::start().await;
    let provider = provider(&receiver.traces_url(), None);
    let made = export_parent_and_child(&provider);
    flush_and_shut_down(provider).await;

    let spans = receiver
        .wait_for_spans(|spans| spans.len() >= 2, WAIT)
        .await
        .expect("both spans arrive");
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let root = spans
        .iter()
        .find(|span| span.name == "invoke_agent")
        .expect("the root span");
    let child = spans
        .iter()
        .find(|span| span.name == "execute_tool lookup_order")
        .expect("the child span");

    assert_eq!(made.trace_id.len(), 32);
    assert_eq!(root.trace_id, made.trace_id);
    assert_eq!(child.trace_id, made.trace_id);
    assert_eq!(root.span_id, made.root_id);
    assert_eq!(child.span_id, made.child_id);
    assert_eq!(root.parent_span_id, None);
    assert_eq!(child.parent_span_id.as_deref(), Some(made.root_id.as_str()));

    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(child.kind, SpanKind::Client);
    assert!(root.start_unix_nanos > 0 && root.start_unix_nanos <= child.start_unix_nanos);
    assert!(child.end_unix_nanos <= root.end_unix_nanos);
    assert_eq!(root.status_code, SpanStatusCode::Unset);
    assert_eq!(child.status_code, SpanStatusCode::Error);
    assert_eq!(child.status_message, "order service unavailable");

    assert_eq!(root.attr_str("session.id"), Some("session-0001"));
    assert_eq!(root.attr("gen_ai.request.streaming"), Some(&json!(true)));
    assert_eq!(root.attr("gen_ai.usage.input_tokens"), Some(&json!(1234)));
    assert_eq!(root.attr("gen_ai.request.temperature"), Some(&json!(0.5)));
    assert_eq!(
        root.attr("support.topics"),
        Some(&json!(["refund", "warranty"]))
    );
    assert_eq!(child.attr_str("gen_ai.tool.name"), Some("lookup_order"));
    assert_eq!(child.events.len(), 1);
    assert_eq!(child.events[0].name, "retry");
    assert_eq!(child.events[0].attributes.get("attempt"), Some(&json!(2)));

    for span in [root, child] {
        assert_eq!(span.resource_str("service.name"), Some("support-agent"));
        assert_eq!(span.resource_str("cloud.resource_id"), Some(RUNTIME_ARN));
        assert_eq!(span.scope, "support-agent-tests");
    }

    assert_eq!(receiver.children_of(&made.root_id), vec![child.clone()]);
    assert!(receiver.children_of(&made.child_id).is_empty());
    let trace = receiver.trace(&made.trace_id);
    assert_eq!(
        trace.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["invoke_agent", "execute_tool lookup_order"],
        "by start time"
    );

    let requests = receiver.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert!(request.accepted(), "{request:?}");
        assert_eq!(request.path, "/v1/traces");
        assert_eq!(
            request.header("content-type"),
            Some("application/x-protobuf")
        );
    }
    assert_eq!(requests.iter().map(|r| r.spans).sum::<usize>(), 2);
}

#[tokio::test]
async fn gzip_compressed_export_is_decoded() {
    let receiver = OtlpReceiver::start().await;
    let provider = provider(&receiver.traces_url(), Some(Compression::Gzip));
    let made = export_parent_and_child(&provider);
    flush_and_shut_down(provider).await;

    let spans = receiver
        .wait_for_spans(|spans| spans.len() >= 2, WAIT)
        .await
        .expect("both spans arrive");
    assert!(spans.iter().all(|span| span.trace_id == made.trace_id));
    let requests = receiver.requests();
    assert!(requests.iter().all(|r| r.accepted()), "{requests:?}");
    assert!(
        requests
            .iter()
            .all(|r| r.header("content-encoding") == Some("gzip")),
        "the exporter compressed: {requests:?}"
    );
}

/// A protobuf export of one root span named `name`.
fn export_of(name: &str) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(ProtoResource {
                attributes: vec![opentelemetry_proto::tonic::common::v1::KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("support-agent".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "raw".into(),
                    ..Default::default()
                }),
                spans: vec![ProtoSpan {
                    trace_id: vec![0x5b; 16],
                    span_id: vec![0xee; 8],
                    name: name.into(),
                    start_time_unix_nano: 1,
                    end_time_unix_nano: 2,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// The headers that sign a protobuf POST of `body` to `url` with `secret` (SigV4, service
/// `xray`), as the binaries' signing HTTP client sends them.
fn xray_sigv4_headers(url: &str, body: &[u8], secret: &str) -> Vec<(String, String)> {
    let headers = [("content-type", "application/x-protobuf")];
    let identity = Credentials::new(ACCESS_KEY_ID, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("xray")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing parameters")
        .into();
    let signable =
        SignableRequest::new("POST", url, headers.into_iter(), SignableBody::Bytes(body))
            .expect("signable request");
    let (instructions, _signature) = sign(signable, &params).expect("signing").into_parts();
    headers
        .into_iter()
        .chain(instructions.headers())
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

async fn post(url: &str, body: Vec<u8>, headers: &[(String, String)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.expect("the receiver answers")
}

#[tokio::test]
async fn sigv4_receiver_accepts_an_xray_signed_export_and_refuses_a_wrong_secret_with_403() {
    let receiver = OtlpReceiver::start_with(OtlpOptions {
        authorizer: Some(sigv4(ACCESS_KEY_ID, SECRET_ACCESS_KEY, REGION, "xray")),
    })
    .await;
    let url = receiver.traces_url();

    let body = export_of("signed");
    let signed = post(
        &url,
        body.clone(),
        &xray_sigv4_headers(&url, &body, SECRET_ACCESS_KEY),
    )
    .await;
    assert_eq!(signed.status(), 200);
    assert_eq!(
        signed.headers()["content-type"],
        "application/x-protobuf",
        "a collector's answer"
    );
    let answer = signed.bytes().await.expect("the answer's body");
    assert_eq!(
        ExportTraceServiceResponse::decode(answer).expect("an ExportTraceServiceResponse"),
        ExportTraceServiceResponse::default()
    );

    let body = export_of("wrong secret");
    let wrong_secret = post(
        &url,
        body.clone(),
        &xray_sigv4_headers(&url, &body, "not-the-secret"),
    )
    .await;
    assert_eq!(wrong_secret.status(), 403);
    assert_eq!(
        wrong_secret.headers()["x-amzn-errortype"],
        "InvalidSignatureException"
    );

    let spans = receiver.spans();
    assert_eq!(
        spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["signed"],
        "only the correctly signed export is recorded"
    );
    assert_eq!(spans[0].trace_id, "5b".repeat(16));
    assert_eq!(spans[0].span_id, "ee".repeat(8));
    assert_eq!(spans[0].resource_str("service.name"), Some("support-agent"));
    let answers: Vec<(u16, bool)> = receiver
        .requests()
        .iter()
        .map(|r| (r.status.as_u16(), r.accepted()))
        .collect();
    assert_eq!(answers, [(200, true), (403, false)]);
}

#[tokio::test]
async fn garbage_body_gets_400_and_records_no_span() {
    let receiver = OtlpReceiver::start().await;
    let protobuf = [(
        "content-type".to_owned(),
        "application/x-protobuf".to_owned(),
    )];

    // A truncated length-delimited field: no protobuf decoder accepts it.
    let garbage = post(
        &receiver.traces_url(),
        vec![0x0a, 0xff, 0x01, 0x02],
        &protobuf,
    )
    .await;
    assert_eq!(garbage.status(), 400);
    assert_eq!(garbage.headers()["content-type"], "application/x-protobuf");

    let gzip_protobuf = [
        protobuf[0].clone(),
        ("content-encoding".to_owned(), "gzip".to_owned()),
    ];
    let not_gzip = post(&receiver.traces_url(), export_of("x"), &gzip_protobuf).await;
    assert_eq!(not_gzip.status(), 400);

    assert!(receiver.spans().is_empty());
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| !r.accepted() && r.spans == 0));
    assert_eq!(requests[0].body_size, 4);
}

#[tokio::test]
async fn otlp_json_export_is_recorded_and_other_content_types_get_415() {
    let receiver = OtlpReceiver::start().await;
    let json_type = [("content-type".to_owned(), "application/json".to_owned())];
    // OTLP/JSON as the specification writes it: hex ids, 64-bit integers as strings, enums as
    // numbers.
    let export = json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "json-client"}}
            ]},
            "scopeSpans": [{
                "scope": {"name": "json-scope"},
                "spans": [{
                    "traceId": "5b8efff798038103d269b633813fc60c",
                    "spanId": "eee19b7ec3c1b174",
                    "parentSpanId": "eee19b7ec3c1b173",
                    "name": "json-span",
                    "kind": 3,
                    "startTimeUnixNano": "1544712660000000000",
                    "endTimeUnixNano": "1544712661000000000",
                    "attributes": [{"key": "count", "value": {"intValue": "42"}}],
                    "status": {"code": 1}
                }]
            }]
        }]
    });
    let accepted = post(
        &receiver.traces_url(),
        export.to_string().into_bytes(),
        &json_type,
    )
    .await;
    assert_eq!(accepted.status(), 200);
    assert_eq!(accepted.headers()["content-type"], "application/json");

    let span = &receiver.spans()[0];
    assert_eq!(span.trace_id, "5b8efff798038103d269b633813fc60c");
    assert_eq!(span.parent_span_id.as_deref(), Some("eee19b7ec3c1b173"));
    assert_eq!(span.kind, SpanKind::Client);
    assert_eq!(span.status_code, SpanStatusCode::Ok);
    assert_eq!(span.end_unix_nanos, 1_544_712_661_000_000_000);
    assert_eq!(span.attr("count"), Some(&json!(42)));
    assert_eq!(span.resource_str("service.name"), Some("json-client"));
    assert_eq!(span.scope, "json-scope");

    let bad_json = post(
        &receiver.traces_url(),
        b"{\"resourceSpans\": 7}".to_vec(),
        &json_type,
    )
    .await;
    assert_eq!(bad_json.status(), 400);

    let text = [("content-type".to_owned(), "text/plain".to_owned())];
    let unsupported = post(&receiver.traces_url(), export_of("x"), &text).await;
    assert_eq!(unsupported.status(), 415);
    assert_eq!(receiver.spans().len(), 1);
}

#[tokio::test]
async fn black_hole_accepts_a_connection_and_never_answers_within_1s() {
    let hole = BlackHole::start().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .expect("a client");
    let started = Instant::now();
    let error = client
        .post(hole.traces_url())
        .header("content-type", "application/x-protobuf")
        .body(export_of("lost"))
        .send()
        .await
        .expect_err("no answer ever comes");
    assert!(error.is_timeout(), "timed out, not refused: {error:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(hole.connections(), 1);
}
