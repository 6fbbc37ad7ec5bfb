//! Logs and traces. Every process has an OpenTelemetry tracer so trace ids exist
//! and travel (W3C `traceparent`) on every gRPC call and every event, even when
//! no collector is configured; spans are exported over OTLP only when one is.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::collections::BTreeMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::TelemetrySettings;

/// Keeps the tracer provider alive; flushes pending spans when dropped.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(err) = self.provider.shutdown() {
            tracing::debug!(%err, "tracer shutdown");
        }
    }
}

/// Installs the global subscriber: human-readable logs to stderr and OTel spans.
pub fn init(settings: &TelemetrySettings, service_name: &str) -> anyhow::Result<Telemetry> {
    let mut builder = SdkTracerProvider::builder().with_resource(
        opentelemetry_sdk::Resource::builder()
            .with_service_name(service_name.to_string())
            .build(),
    );
    if !settings.otlp_endpoint.is_empty() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(settings.otlp_endpoint.clone())
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let filter = EnvFilter::try_new(&settings.log)?;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    tracing_subscriber::registry()
        .with(fmt)
        .with(otel_layer(&provider))
        .try_init()?;
    Ok(Telemetry { provider })
}

/// The layer that turns `tracing` spans into OpenTelemetry spans of `provider`.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("questline"))
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
}

/// For test binaries: spans of every service in the process go to `provider`.
/// Also writes every log line down to `debug` to `capture`, so tests can
/// check what the services log.
pub fn init_for_tests(
    provider: &SdkTracerProvider,
    capture: tracing_subscriber::fmt::writer::BoxMakeWriter,
) {
    let fmt = tracing_subscriber::fmt::layer()
        .with_test_writer()
        .with_filter(EnvFilter::new("warn"));
    let captured = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(capture)
        .with_filter(EnvFilter::new(
            "debug,h2=info,hyper=info,tower=info,sqlx=info",
        ));
    let _ = Registry::default()
        .with(fmt)
        .with(captured)
        .with(otel_layer(provider))
        .try_init();
}

/// The OpenTelemetry context of a `tracing` span (its trace id, for one).
pub fn context_of(span: &tracing::Span) -> opentelemetry::Context {
    span.context()
}

/// The W3C trace context of the current span, as carried in an event envelope.
pub fn current_context() -> BTreeMap<String, String> {
    let mut carrier = BTreeMap::new();
    TraceContextPropagator::new().inject_context(
        &tracing::Span::current().context(),
        &mut MapCarrier(&mut carrier),
    );
    carrier
}

/// Makes `span` a child of the trace described by `carrier` (an event's context).
pub fn adopt_context(span: &tracing::Span, carrier: &BTreeMap<String, String>) {
    let mut owned = carrier.clone();
    let cx = TraceContextPropagator::new().extract(&MapCarrier(&mut owned));
    if let Err(err) = span.set_parent(cx) {
        tracing::debug!(%err, "no tracing context for event");
    }
}

/// Makes `span` a child of the trace carried by incoming HTTP/2 headers.
pub fn adopt_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    let cx = TraceContextPropagator::new().extract(&HeaderCarrier(headers));
    if let Err(err) = span.set_parent(cx) {
        tracing::debug!(%err, "no tracing context for request");
    }
}

/// Writes the current span's context into outgoing gRPC metadata.
pub fn inject_metadata(metadata: &mut tonic::metadata::MetadataMap) {
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut MetadataCarrier(metadata));
}

struct MapCarrier<'a>(&'a mut BTreeMap<String, String>);

impl Injector for MapCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}

impl Extractor for MapCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

struct HeaderCarrier<'a>(&'a http::HeaderMap);

impl Extractor for HeaderCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct MetadataCarrier<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}
