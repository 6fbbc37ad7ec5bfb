//! Logs and traces. Every process has an OpenTelemetry tracer so trace ids exist
//! and travel (W3C `traceparent`) on every gRPC call and every event, even when
//! no collector is configured; spans are exported over OTLP only when one is.

use opentelemetry::KeyValue;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use std::collections::BTreeMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::TelemetrySettings;

mod parts;

pub use parts::{PartLayer, inherit_part};

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
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource(settings, service_name)?)
        .with_sampler(sampler(settings.sampling_ratio)?);
    if !settings.otlp_endpoint.is_empty() {
        // One exporter per part, so each part's spans carry its own service.name.
        let exporter = parts::ByPart::new(|| {
            Ok(opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(settings.otlp_endpoint.clone())
                .build()?)
        })?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let filter = EnvFilter::try_new(&settings.log)?;
    // A level both layers need is enabled once, for the whole process: a
    // per-layer filter costs a span lookup on every poll of a traced future.
    let most_verbose = filter.max_level_hint().unwrap_or(LevelFilter::TRACE);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    let (otel, otel_info_only) = if most_verbose > LevelFilter::INFO {
        (None, Some(otel_layer(&provider)))
    } else {
        (Some(span_layer(&provider)), None)
    };
    tracing_subscriber::registry()
        .with(most_verbose.max(LevelFilter::INFO))
        .with(fmt)
        .with(otel)
        .with(otel_info_only)
        .with(PartLayer)
        .try_init()?;
    Ok(Telemetry { provider })
}

/// Who is sending: service name and version, then the operator's own
/// attributes (`key=value,…`). Tenants never appear here: one process
/// serves them all.
fn resource(settings: &TelemetrySettings, service_name: &str) -> anyhow::Result<Resource> {
    let mut attributes = Vec::new();
    for pair in settings
        .resource_attributes
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let Some((key, value)) = pair.split_once('=') else {
            anyhow::bail!("telemetry.resource_attributes: {pair:?} is not key=value");
        };
        if matches!(key.trim(), "service.name" | "service.version") {
            anyhow::bail!(
                "telemetry.resource_attributes: {} is set by Questline",
                key.trim()
            );
        }
        attributes.push(KeyValue::new(
            key.trim().to_string(),
            value.trim().to_string(),
        ));
    }
    Ok(Resource::builder()
        .with_service_name(service_name.to_string())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .with_attributes(attributes)
        .build())
}

/// Records `ratio` of new traces; a trace begun by a caller keeps the
/// caller's decision, so a trace is whole or absent.
fn sampler(ratio: f64) -> anyhow::Result<Sampler> {
    if !(0.0..=1.0).contains(&ratio) {
        anyhow::bail!("telemetry.sampling_ratio must be between 0 and 1, not {ratio}");
    }
    Ok(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
        ratio,
    ))))
}

/// The layer that turns `tracing` spans into OpenTelemetry spans of `provider`.
/// It does no work on each poll of an instrumented future: contexts travel
/// from the `tracing` span itself (`context_map`, `inject_headers`), never
/// from OpenTelemetry's current context, and busy/idle times and worker
/// thread names say nothing about async work.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    span_layer(provider).with_filter(LevelFilter::INFO)
}

/// `otel_layer` without its own filter, for a process whose global filter
/// already stops below INFO.
fn span_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("questline"))
        .with_context_activation(false)
        .with_tracked_inactivity(false)
        .with_threads(false)
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
        .with(PartLayer)
        .try_init();
}

/// The OpenTelemetry context of a `tracing` span (its trace id, for one).
pub fn context_of(span: &tracing::Span) -> opentelemetry::Context {
    span.context()
}

/// The W3C trace context of the current span, as carried in an event envelope.
pub fn current_context() -> BTreeMap<String, String> {
    context_map(&tracing::Span::current())
}

/// The W3C trace context of `span`, as carried in an event envelope.
pub fn context_map(span: &tracing::Span) -> BTreeMap<String, String> {
    let mut carrier = BTreeMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut MapCarrier(&mut carrier));
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

/// Writes `span`'s context into the headers of an outgoing call.
pub fn inject_headers(span: &tracing::Span, headers: &mut http::HeaderMap) {
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
}

/// Which end of a call a span stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// The span of one gRPC call at `side`, as OpenTelemetry's RPC conventions
/// name it; `questline.service`, `server.port` and the status are recorded
/// once known.
pub fn rpc_span(side: Side, path: &str, server_address: &str) -> tracing::Span {
    let path = path.trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    let kind = match side {
        Side::Client => "client",
        Side::Server => "server",
    };
    tracing::info_span!(
        "rpc",
        otel.name = %path,
        otel.kind = kind,
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        server.address = server_address,
        server.port = tracing::field::Empty,
        questline.service = tracing::field::Empty,
    )
}

/// Records how a call ended on its span, as OpenTelemetry's RPC conventions
/// say: `rpc.grpc.status_code` always; status Error on a client for any
/// code but OK, on a server only for the codes that mean the server failed
/// (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
/// DATA_LOSS) — a caller's bad input is not the server's error.
pub fn record_grpc_status(span: &tracing::Span, code: tonic::Code, side: Side) {
    span.record("rpc.grpc.status_code", code as i64);
    if is_error(code, side) {
        span.record("otel.status_code", "error");
    }
}

fn is_error(code: tonic::Code, side: Side) -> bool {
    use tonic::Code;
    match side {
        Side::Client => code != Code::Ok,
        Side::Server => matches!(
            code,
            Code::Unknown
                | Code::DeadlineExceeded
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
        ),
    }
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

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_attributes_are_parsed_and_checked() {
        let settings = TelemetrySettings {
            resource_attributes: " deployment.environment.name = prod ,k8s.cluster.name=eu-1,"
                .into(),
            ..TelemetrySettings::default()
        };
        let resource = resource(&settings, "questline-ledger").unwrap();
        let get = |k: &'static str| resource.get(&opentelemetry::Key::from_static_str(k));
        assert_eq!(get("service.name").unwrap().as_str(), "questline-ledger");
        assert_eq!(get("deployment.environment.name").unwrap().as_str(), "prod");
        assert_eq!(get("k8s.cluster.name").unwrap().as_str(), "eu-1");
        assert!(get("service.version").is_some());
        for bad in ["tenant", "service.name=other"] {
            let bad = TelemetrySettings {
                resource_attributes: bad.into(),
                ..TelemetrySettings::default()
            };
            assert!(super::resource(&bad, "x").is_err());
        }
    }

    #[test]
    fn sampling_ratio_must_be_a_share() {
        assert!(sampler(0.0).is_ok());
        assert!(sampler(1.0).is_ok());
        assert!(sampler(-0.1).is_err());
        assert!(sampler(1.5).is_err());
        assert!(sampler(f64::NAN).is_err());
    }
}
