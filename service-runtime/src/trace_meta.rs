//! The trace context of an MCP request in its JSON-RPC `params._meta`, both ways: the agent
//! [`inject`]s its client span's context there, the MCP server [`extract`]s it to continue the
//! trace. Both ends live here so the entry names they agree on are written once.
//!
//! `_meta` carries the context as the HTTP propagation headers would, one string entry per
//! header (`traceparent`, `tracestate`, `x-amzn-trace-id`, `baggage`): `_meta` is where MCP
//! lets a request carry such data, so the context travels with the message itself and not only
//! in the HTTP headers of one hop. The W3C entries (`traceparent`, `tracestate`, `baggage`) are
//! what is read back.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

/// The `_meta` entries read back as trace context.
const TRACE_ENTRIES: [&str; 3] = ["traceparent", "tracestate", "baggage"];

/// The trace context of `span` (and its baggage) as `_meta` entries, named as the HTTP headers
/// are (lower case).
pub fn inject(span: &tracing::Span) -> Map<String, Value> {
    crate::telemetry::trace_headers(span)
        .iter()
        .filter_map(|(name, value)| {
            let text = value.to_str().ok()?;
            Some((name.as_str().to_owned(), Value::from(text)))
        })
        .collect()
}

/// The W3C trace-context entries of a request's `_meta`, as HTTP headers for
/// [`crate::telemetry::continue_trace`]. Entries that are missing, not strings or not valid
/// header values are left out.
pub fn extract(meta: &Map<String, Value>) -> HeaderMap {
    TRACE_ENTRIES
        .into_iter()
        .filter_map(|name| {
            let text = meta.get(name)?.as_str()?;
            Some((
                HeaderName::from_static(name),
                HeaderValue::from_str(text).ok()?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use opentelemetry::global;
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use opentelemetry_http::HeaderExtractor;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn injected_context_is_extracted_with_the_same_trace_and_span_ids() {
        global::set_text_map_propagator(crate::telemetry::propagator());
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("trace-meta-test")));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("mcp_call");
            let sent = span.context().span().span_context().clone();
            assert!(sent.is_valid(), "the span has a trace context");

            let meta = inject(&span);
            assert!(meta.contains_key("traceparent"), "{meta:?}");
            let headers = extract(&meta);
            let received = global::get_text_map_propagator(|propagator| {
                propagator.extract(&HeaderExtractor(&headers))
            });
            let received = received.span().span_context().clone();

            assert_eq!(received.trace_id(), sent.trace_id());
            assert_eq!(received.span_id(), sent.span_id());
            assert!(received.is_remote());
        });
    }

    #[test]
    fn only_string_trace_entries_are_extracted() {
        let meta = serde_json::json!({
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "tracestate": 7,
            "baggage": "tenant=a\nb",
            "progressToken": "p-1",
        });
        let meta = meta.as_object().cloned().unwrap_or_default();
        let headers = extract(&meta);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert_eq!(
            headers["traceparent"],
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
    }
}
