//! JSON log lines on stdout, one object per event, which is what AgentCore ships to
//! CloudWatch. The level comes from `RUST_LOG` (default `info`). A panic is logged as an error
//! line before the process ends, so a crash at start is visible in the runtime's log group.
//!
//! Each line carries the event's fields, the fields of the spans it happened in (so a line
//! inside an invocation has its `session_id` and `request_id`), and, inside a trace, the
//! `trace_id` (also in X-Ray form, `xray_trace_id`) and `span_id`, so a log line leads to its
//! trace and back. [`crate::telemetry::init`] installs it.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The name on the log line of a span field copied onto every line logged inside the span.
fn correlation_field(span_field: &str) -> Option<&'static str> {
    match span_field {
        "session.id" => Some("session_id"),
        "request.id" => Some("request_id"),
        _ => None,
    }
}

/// The log line format.
#[derive(Debug, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.insert("timestamp".into(), Value::String(timestamp));
        line.insert(
            "level".into(),
            Value::String(event.metadata().level().to_string()),
        );
        line.insert(
            "target".into(),
            Value::String(event.metadata().target().to_owned()),
        );
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    for (name, value) in fields {
                        if let Some(field) = correlation_field(&name) {
                            line.insert(field.to_owned(), value);
                        }
                    }
                }
            }
        }
        event.record(&mut FieldVisitor(&mut line));
        let context = tracing::Span::current().context();
        let span = context.span();
        let span_context = span.span_context();
        if span_context.is_valid() {
            let trace_id = span_context.trace_id().to_string();
            line.insert(
                "xray_trace_id".into(),
                Value::String(format!("1-{}-{}", &trace_id[..8], &trace_id[8..])),
            );
            line.insert("trace_id".into(), Value::String(trace_id));
            line.insert(
                "span_id".into(),
                Value::String(span_context.span_id().to_string()),
            );
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Collects an event's fields into the line.
struct FieldVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
}

/// The log layer: [`JsonLines`] on stdout, filtered by `RUST_LOG` (default `info`).
pub(crate) fn layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt::layer()
        .event_format(JsonLines)
        .fmt_fields(JsonFields::new())
        .with_writer(std::io::stdout)
        .with_filter(filter)
}

/// JSON log lines only, without traces, for helper programs that export none.
pub fn init() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry().with(layer()).init();
    report_panics();
}

/// Logs a panic as an error line before the process ends.
pub(crate) fn report_panics() {
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panicked");
    }));
}
