//! Logs and traces for both binaries: the JSON log lines of [`crate::logging`], and OpenTelemetry
//! spans from `tracing`, exported over OTLP/HTTP protobuf off the request path.
//!
//! Where the spans go is decided once, at start ([`TelemetryArgs`]):
//! - in AgentCore (`AGENT_OBSERVABILITY_ENABLED=true`, which the runtime injects): SigV4-signed
//!   (service `xray`) to `https://xray.<region>.amazonaws.com/v1/traces`, or
//!   `AWS_ENDPOINT_URL_XRAY`; AgentCore offers no collector in the microVM;
//! - elsewhere, to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` +
//!   `/v1/traces` (a collector, e.g. the trace viewer in compose);
//! - nowhere when neither is set (spans still give log lines their trace ids).
//!
//! The resource keeps what the platform injects in `OTEL_RESOURCE_ATTRIBUTES` (the GenAI
//! dashboard needs it). Trace ids are X-Ray compatible; inbound `traceparent`, `baggage` and
//! `X-Amzn-Trace-Id` are honoured ([`continue_trace`]). Spans wait in a bounded queue and are
//! dropped, not waited for, when it is full; [`Telemetry::shutdown`] flushes what is left.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use bytes::Bytes;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_http::{HeaderExtractor, HeaderInjector, HttpClient, HttpError};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Spans waiting for export; beyond this they are dropped.
const MAX_QUEUED_SPANS: usize = 2048;
/// Longest one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where traces go (standard variables, read once at start).
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryArgs {
    /// Export traces to AWS X-Ray's OTLP endpoint, SigV4-signed (AgentCore sets this).
    #[arg(
        long,
        env = "AGENT_OBSERVABILITY_ENABLED",
        value_name = "AGENT_OBSERVABILITY_ENABLED",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub observability_enabled: bool,
    /// The X-Ray endpoint (the AWS SDK's standard variable); `https://xray.<region>.amazonaws.com` when unset.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL_XRAY",
        value_name = "AWS_ENDPOINT_URL_XRAY"
    )]
    pub xray_endpoint: Option<String>,
    /// An OTLP/HTTP collector's base URL; traces go to `<it>/v1/traces`.
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "OTEL_EXPORTER_OTLP_ENDPOINT"
    )]
    pub otlp_endpoint: Option<String>,
    /// An OTLP/HTTP traces URL, used as given (wins over `OTEL_EXPORTER_OTLP_ENDPOINT`).
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        value_name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )]
    pub otlp_traces_endpoint: Option<String>,
}

/// Where spans are exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    Off,
    Otlp { url: String },
    Xray { url: String, region: String },
}

impl TelemetryArgs {
    /// The export this configuration asks for, for a service in `region`.
    pub fn export(&self, region: &str) -> Export {
        if self.observability_enabled {
            let base = self
                .xray_endpoint
                .clone()
                .unwrap_or_else(|| format!("https://xray.{region}.amazonaws.com"));
            return Export::Xray {
                url: format!("{}/v1/traces", base.trim_end_matches('/')),
                region: region.to_owned(),
            };
        }
        match (&self.otlp_traces_endpoint, &self.otlp_endpoint) {
            (Some(url), _) => Export::Otlp { url: url.clone() },
            (None, Some(base)) => Export::Otlp {
                url: format!("{}/v1/traces", base.trim_end_matches('/')),
            },
            (None, None) => Export::Off,
        }
    }
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot build the trace exporter for {url}: {detail}")]
    Exporter { url: String, detail: String },
}

/// The running pipeline; flush it with [`Telemetry::shutdown`] before exiting.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    pub export: Export,
}

/// Starts logging and tracing for `service` (its default `service.name`). Must run inside the
/// Tokio runtime, which carries the export requests. A failure is also printed as a JSON line
/// on stderr, since logging is not up to report it.
pub async fn init(
    service: &'static str,
    args: &TelemetryArgs,
    region: &str,
) -> Result<Telemetry, TelemetryError> {
    let started = start(service, args, region).await;
    if let Err(error) = &started {
        eprintln!(
            "{}",
            serde_json::json!({"level": "ERROR", "message": "exiting after an error", "error": error.to_string()})
        );
    }
    started
}

async fn start(
    service: &'static str,
    args: &TelemetryArgs,
    region: &str,
) -> Result<Telemetry, TelemetryError> {
    let export = args.export(region);
    let mut provider = SdkTracerProvider::builder()
        .with_id_generator(opentelemetry_aws::trace::XrayIdGenerator::default())
        .with_resource(resource(service));
    let signer = match &export {
        Export::Xray { region, .. } => {
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region.clone()))
                .load()
                .await;
            sdk.credentials_provider().map(|credentials| Signer {
                credentials,
                region: region.clone(),
            })
        }
        _ => None,
    };
    if let Export::Otlp { url } | Export::Xray { url, .. } = &export {
        let client = ExportClient::new(signer).map_err(|detail| TelemetryError::Exporter {
            url: url.clone(),
            detail,
        })?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_endpoint(url.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| TelemetryError::Exporter {
                url: url.clone(),
                detail: e.to_string(),
            })?;
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(MAX_QUEUED_SPANS)
                    .build(),
            )
            .build();
        provider = provider.with_span_processor(processor);
    }
    let provider = provider.build();
    global::set_text_map_propagator(propagator());
    let tracer = provider.tracer(service);
    // Our spans are at INFO; the AWS SDK's one span per operation is at DEBUG and is the only
    // DEBUG span carrying `rpc.system`.
    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(filter_fn(|metadata| {
            metadata.level() <= &tracing::Level::INFO
                || (metadata.is_span() && metadata.fields().field("rpc.system").is_some())
        }));
    tracing_subscriber::registry()
        .with(crate::logging::layer())
        .with(traces)
        .init();
    crate::logging::report_panics();
    match &export {
        Export::Off => tracing::info!("traces are not exported (no OTLP endpoint configured)"),
        Export::Otlp { url } => tracing::info!(%url, "exporting traces over OTLP"),
        Export::Xray { url, .. } => tracing::info!(%url, "exporting traces to X-Ray"),
    }
    Ok(Telemetry { provider, export })
}

impl Telemetry {
    /// Exports the spans still queued (bounded by the export timeout) and stops.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = flushed {
            tracing::warn!(%error, "flushing traces at shutdown failed");
        }
    }
}

/// The propagation formats read from and written to requests: X-Ray's `X-Amzn-Trace-Id`, W3C
/// `traceparent`/`tracestate`, and `baggage`.
pub(crate) fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(opentelemetry_aws::trace::XrayPropagator::default()),
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

/// The resource: what `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` say (as AgentCore
/// injects them), with `service` as the name when neither names one.
fn resource(service: &'static str) -> opentelemetry_sdk::Resource {
    let detected = opentelemetry_sdk::Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named {
        detected
    } else {
        opentelemetry_sdk::Resource::builder()
            .with_service_name(service)
            .with_attribute(KeyValue::new("service.namespace", "customer-support"))
            .build()
    }
}

/// Makes `span` continue the trace the request headers carry (`X-Amzn-Trace-Id`,
/// `traceparent`, `baggage`), if any, and adds `baggage` entries that travel on to every
/// outgoing request made under it.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap, baggage: &[(&str, &str)]) {
    use opentelemetry::baggage::BaggageExt;
    let mut parent =
        global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)));
    if !baggage.is_empty() {
        let mut entries: Vec<KeyValue> = parent
            .baggage()
            .iter()
            .map(|(key, (value, _))| KeyValue::new(key.clone(), value.clone()))
            .collect();
        entries.extend(
            baggage
                .iter()
                .map(|(k, v)| KeyValue::new(k.to_string(), v.to_string())),
        );
        parent = parent.with_baggage(entries);
    }
    let _ = span.set_parent(parent);
}

/// The trace context of `span` (and its baggage) as headers for an outgoing request:
/// `traceparent`, `tracestate`, `X-Amzn-Trace-Id`, `baggage`.
pub fn trace_headers(span: &tracing::Span) -> http::HeaderMap {
    let context = span.context();
    let mut headers = http::HeaderMap::new();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(&mut headers));
    });
    headers
}

/// How X-Ray export requests are signed.
#[derive(Debug, Clone)]
struct Signer {
    credentials: aws_credential_types::provider::SharedCredentialsProvider,
    region: String,
}

/// The exporter's HTTP client: reqwest on the service's Tokio runtime (the batch processor
/// runs in its own thread), SigV4-signing each request for X-Ray.
#[derive(Debug, Clone)]
struct ExportClient {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
    signer: Option<Signer>,
}

impl ExportClient {
    fn new(signer: Option<Signer>) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            runtime,
            signer,
        })
    }

    async fn send(
        http: reqwest::Client,
        signer: Option<Signer>,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let mut headers = parts.headers;
        if let Some(signer) = signer {
            let signed = signer
                .headers(&parts.method, &parts.uri.to_string(), &body)
                .await?;
            headers.extend(signed);
        }
        let response = http
            .request(parts.method, parts.uri.to_string())
            .headers(headers)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        let mut answer = http::Response::new(body);
        *answer.status_mut() = status;
        Ok(answer)
    }
}

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let task = Self::send(self.http.clone(), self.signer.clone(), request);
        self.runtime.spawn(task).await?
    }
}

impl Signer {
    /// SigV4 headers for one request (service `xray`), signed over its body.
    async fn headers(
        &self,
        method: &http::Method,
        uri: &str,
        body: &[u8],
    ) -> Result<http::HeaderMap, HttpError> {
        let credentials = self.credentials.provide_credentials().await?;
        crate::sigv4::sign(
            &credentials,
            &self.region,
            "xray",
            SystemTime::now(),
            method,
            uri,
            body,
        )
        .map_err(HttpError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(enabled: bool, base: Option<&str>, traces: Option<&str>) -> TelemetryArgs {
        TelemetryArgs {
            observability_enabled: enabled,
            xray_endpoint: None,
            otlp_endpoint: base.map(str::to_owned),
            otlp_traces_endpoint: traces.map(str::to_owned),
        }
    }

    #[test]
    fn the_export_follows_the_standard_variables() {
        assert_eq!(args(false, None, None).export("us-east-1"), Export::Off);
        assert_eq!(
            args(false, Some("http://collector:4318/"), None).export("us-east-1"),
            Export::Otlp {
                url: "http://collector:4318/v1/traces".to_owned()
            }
        );
        assert_eq!(
            args(false, Some("http://a:4318"), Some("http://b/traces")).export("us-east-1"),
            Export::Otlp {
                url: "http://b/traces".to_owned()
            }
        );
        assert_eq!(
            args(true, Some("http://a:4318"), None).export("eu-west-1"),
            Export::Xray {
                url: "https://xray.eu-west-1.amazonaws.com/v1/traces".to_owned(),
                region: "eu-west-1".to_owned()
            }
        );
    }
}
