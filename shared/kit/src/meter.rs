//! Prometheus metrics. One recorder per process: the services of `questline
//! dev` share it and are told apart by their `questline_service` label; a
//! part's admin port renders it. Names follow OpenTelemetry's semantic
//! conventions where one exists (`rpc.server.call.duration`, `db.client.*`),
//! spelled as OpenTelemetry's Prometheus exporter spells them, in base units
//! (seconds) and with no `_count` on a gauge, so `promtool check metrics`
//! passes; Questline's own figures start with `questline_`.

use metrics::{Label, gauge, histogram};
use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusRecorder};
use sea_orm::{DatabaseConnection, DbBackend};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

mod owner;

pub const RPC_DURATION: &str = "rpc_server_call_duration_seconds";
pub const HTTP_DURATION: &str = "http_server_request_duration_seconds";
pub const DB_OPERATION: &str = "db_client_operation_duration_seconds";
pub const DB_CONNECTIONS: &str = "db_client_connections_usage";
pub const DB_CONNECTIONS_MAX: &str = "db_client_connection_max";
pub const READY: &str = "questline_ready";
pub const OUTBOX_PENDING: &str = "questline_outbox_pending";
pub const OUTBOX_LAG: &str = "questline_outbox_lag_seconds";
pub const OUTBOX_PUBLISHED: &str = "questline_outbox_published_total";
pub const CONSUMER_PENDING: &str = "questline_consumer_pending";
pub const EVENTS_HANDLED: &str = "questline_events_handled_total";
pub const DEAD_LETTERS: &str = "questline_dead_letters_total";
pub const POINTS_ISSUED: &str = "questline_points_issued";
pub const POINTS_BURNED: &str = "questline_points_burned";
pub const POINTS_EXPIRED: &str = "questline_points_expired";
pub const POINTS_OUTSTANDING: &str = "questline_points_outstanding";
pub const EVENTS_TRACKED: &str = "questline_events_tracked_total";
pub const EVENT_CREDIT_LATENCY: &str = "questline_event_credit_latency_seconds";
pub const RULE_VERDICTS: &str = "questline_rule_verdicts_total";
pub const EVENTS_RECOVERED: &str = "questline_events_recovered_total";
pub const REDEMPTIONS: &str = "questline_redemptions_total";
pub const NOTIFICATIONS: &str = "questline_notifications_total";

enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every series Questline exposes, with the `# HELP` text a scrape shows.
const SERIES: [(&str, Kind, &str); 22] = [
    (
        RPC_DURATION,
        Kind::Histogram,
        "Inbound gRPC calls by method and status code",
    ),
    (
        HTTP_DURATION,
        Kind::Histogram,
        "HTTP requests to the gateway by route and status",
    ),
    (DB_OPERATION, Kind::Histogram, "Database statements by kind"),
    (
        DB_CONNECTIONS,
        Kind::Gauge,
        "Connections of a service's pool by state",
    ),
    (
        DB_CONNECTIONS_MAX,
        Kind::Gauge,
        "Most connections a service's pool may open",
    ),
    (
        READY,
        Kind::Gauge,
        "1 while the service's database and the event bus answer",
    ),
    (
        OUTBOX_PENDING,
        Kind::Gauge,
        "Outbox rows not yet published: an event each, or a batch's events in one parcel",
    ),
    (
        OUTBOX_LAG,
        Kind::Gauge,
        "Age of the oldest unpublished event, 0 when none",
    ),
    (
        OUTBOX_PUBLISHED,
        Kind::Counter,
        "Events the outbox relay has published",
    ),
    (
        CONSUMER_PENDING,
        Kind::Gauge,
        "Events a durable consumer has not handled yet",
    ),
    (
        EVENTS_HANDLED,
        Kind::Counter,
        "Deliveries a consumer handled, ok or failed",
    ),
    (
        DEAD_LETTERS,
        Kind::Counter,
        "Events set aside after failing on every delivery",
    ),
    (
        POINTS_ISSUED,
        Kind::Gauge,
        "Ledger: points credited from issuance, minor units",
    ),
    (
        POINTS_BURNED,
        Kind::Gauge,
        "Ledger: points spent on rewards, minor units",
    ),
    (
        POINTS_EXPIRED,
        Kind::Gauge,
        "Ledger: points expired to breakage, minor units",
    ),
    (
        POINTS_OUTSTANDING,
        Kind::Gauge,
        "Ledger: points members hold (the liability), minor units",
    ),
    (
        EVENTS_TRACKED,
        Kind::Counter,
        "Events tracked for the first time, by whether they earned points",
    ),
    (
        EVENT_CREDIT_LATENCY,
        Kind::Histogram,
        "From an event's first recording to the credit of its points",
    ),
    (
        RULE_VERDICTS,
        Kind::Counter,
        "Rules judged on live events, by verdict (applied, cap_reached, error, ...)",
    ),
    (
        EVENTS_RECOVERED,
        Kind::Counter,
        "Pending events the recovery loop tried to finish, by outcome (finished, failed)",
    ),
    (
        REDEMPTIONS,
        Kind::Counter,
        "Redemptions that reached their end, by outcome",
    ),
    (
        NOTIFICATIONS,
        Kind::Counter,
        "Notices by channel and outcome",
    ),
];

fn describe() {
    for (name, kind, help) in SERIES {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, help),
        }
    }
}

const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder; later calls do nothing. Until it runs,
/// recording is a no-op (unit tests never pay for it).
pub fn install() -> anyhow::Result<()> {
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let recorder = recorder()?;
    let handle = recorder.handle();
    if HANDLE.set(handle).is_ok() {
        metrics::set_global_recorder(recorder)?;
        describe();
    }
    Ok(())
}

fn recorder() -> Result<PrometheusRecorder, BuildError> {
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)?
        .build_recorder())
}

/// Registers a counter for each of `values` of `label` without counting,
/// so a series exists (at 0) before its first event and `rate()` sees it.
pub fn start_at_zero(
    name: &'static str,
    labels: &[(&'static str, String)],
    label: &'static str,
    values: &[&'static str],
) {
    for value in values {
        let mut all: Vec<(&'static str, String)> = labels.to_vec();
        all.push((label, value.to_string()));
        metrics::counter!(name, &all).increment(0);
    }
}

/// Everything recorded so far, in Prometheus' text format.
pub fn render() -> String {
    HANDLE
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// The series of one part (`ledger`, …, `gateway`): what its admin port serves.
pub fn render_part(part: &str) -> String {
    owner::keep_part(&render(), part)
}

/// Times every statement `db` runs, labelled with its service, and notes in
/// `answered` when one last succeeded (readiness needs no ping while it is recent).
pub fn observe_queries(
    db: &mut DatabaseConnection,
    service: &'static str,
    answered: Arc<AtomicI64>,
) {
    let system = system_name(db);
    db.set_metric_callback(move |info| {
        if !info.failed {
            answered.store(crate::time::now_ms(), Ordering::Relaxed);
        }
        let operation = operation(&info.statement.sql);
        db_operation(system, operation, service, info.elapsed);
    });
}

/// Records one flight of statements `service` sent on its own PostgreSQL
/// link (`pipelined`), as OpenTelemetry names a batch: `BATCH`.
pub fn observe_flight(service: &'static str, elapsed: std::time::Duration) {
    db_operation("postgresql", "BATCH", service, elapsed);
}

fn db_operation(
    system: &'static str,
    operation: &'static str,
    service: &'static str,
    elapsed: std::time::Duration,
) {
    histogram!(
        DB_OPERATION,
        "db_system_name" => system,
        "db_operation_name" => operation,
        "questline_service" => service,
    )
    .record(elapsed.as_secs_f64());
}

/// Sets the connection gauges of `db`, whose pool is named after its service.
pub fn sample_pool(db: &DatabaseConnection, pool: &'static str) {
    let (size, idle, max) = match db.get_database_backend() {
        DbBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (p.size(), p.num_idle(), p.options().get_max_connections())
        }
        DbBackend::Sqlite => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), p.num_idle(), p.options().get_max_connections())
        }
        _ => return,
    };
    let idle = u32::try_from(idle).unwrap_or(size).min(size);
    let state = |s: &'static str| gauge!(DB_CONNECTIONS, "db_client_connection_pool_name" => pool, "db_client_connection_state" => s);
    state("idle").set(f64::from(idle));
    state("used").set(f64::from(size - idle));
    gauge!(DB_CONNECTIONS_MAX, "db_client_connection_pool_name" => pool).set(f64::from(max));
}

fn system_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DbBackend::Postgres => "postgresql",
        DbBackend::Sqlite => "sqlite",
        _ => "other_sql",
    }
}

/// The statement's kind, from its first word: a bounded label.
fn operation(sql: &str) -> &'static str {
    let word = sql.split_whitespace().next().unwrap_or("");
    [
        "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK",
    ]
    .into_iter()
    .find(|op| word.eq_ignore_ascii_case(op))
    .unwrap_or("OTHER")
}

/// Records `rpc_server_call_duration_seconds` for every call a gRPC server
/// answers. Only the methods it serves become labels: a probe of made-up
/// paths must not grow the series without bound.
#[derive(Clone)]
pub struct RpcMetricsLayer {
    service: &'static str,
    known: Arc<HashSet<String>>,
}

impl RpcMetricsLayer {
    /// `known` holds `package.Service/Method` paths.
    pub fn new(service: &'static str, known: HashSet<String>) -> RpcMetricsLayer {
        RpcMetricsLayer {
            service,
            known: Arc::new(known),
        }
    }
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;
    fn layer(&self, inner: S) -> RpcMetrics<S> {
        RpcMetrics {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcMetrics<S> {
    inner: S,
    layer: RpcMetricsLayer,
}

impl<S, B, R> tower::Service<http::Request<B>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let mut call = self.timer(request.uri().path());
        let answer = self.inner.call(request);
        Box::pin(async move {
            // Polled inside the call's SERVER span (tonic enters it per poll).
            let span = tracing::Span::current();
            let response = answer.await;
            let code = match &response {
                Ok(r) => grpc_status(r.headers()),
                Err(_) => "2".to_string(),
            };
            let status = tonic::Code::from_bytes(code.as_bytes());
            crate::telemetry::record_grpc_status(&span, status, crate::telemetry::Side::Server);
            call.answered(code);
            response
        })
    }
}

/// Records one call when dropped: with its status code once answered, or
/// as CANCELLED when its deadline or its client ended it first.
struct CallTimer {
    started: Instant,
    /// All but the status code, known when the call starts.
    labels: Vec<Label>,
    code: Option<String>,
}

impl CallTimer {
    fn answered(&mut self, code: String) {
        self.code = Some(code);
    }
}

impl Drop for CallTimer {
    fn drop(&mut self) {
        let code = self.code.take().unwrap_or_else(|| "1".to_string());
        let mut labels = std::mem::take(&mut self.labels);
        labels.push(Label::new("rpc_grpc_status_code", code));
        histogram!(RPC_DURATION, labels).record(self.started.elapsed().as_secs_f64());
    }
}

impl<S> RpcMetrics<S> {
    fn timer(&self, path: &str) -> CallTimer {
        let path = path.trim_start_matches('/');
        let (service, method) = match path.split_once('/') {
            Some((service, method)) if self.layer.known.contains(path) => (service, method),
            _ => ("unknown", "unknown"),
        };
        let mut labels = Vec::with_capacity(5);
        labels.push(Label::from_static_parts("rpc_system", "grpc"));
        labels.push(Label::new("rpc_service", service.to_string()));
        labels.push(Label::new("rpc_method", method.to_string()));
        labels.push(Label::from_static_parts(
            "questline_service",
            self.layer.service,
        ));
        CallTimer {
            started: Instant::now(),
            labels,
            code: None,
        }
    }
}

/// A unary answer's status code. A failure is answered trailers-only, with
/// `grpc-status` among the headers; a success carries it in the trailers,
/// which come after the headers this layer sees. Streams (health's Watch,
/// reflection) count as OK, timed until their headers. Anything but a code
/// (never sent by tonic) counts as UNKNOWN.
fn grpc_status(headers: &http::HeaderMap) -> String {
    let Some(value) = headers.get("grpc-status") else {
        return "0".into();
    };
    value
        .to_str()
        .ok()
        .filter(|v| !v.is_empty() && v.len() <= 2 && v.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or("2")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_named_by_their_first_word() {
        assert_eq!(operation("  select 1"), "SELECT");
        assert_eq!(operation("INSERT INTO x"), "INSERT");
        assert_eq!(operation("WITH t AS (SELECT 1) SELECT * FROM t"), "WITH");
        assert_eq!(operation("VACUUM"), "OTHER");
        assert_eq!(operation(""), "OTHER");
    }

    #[test]
    fn a_status_is_ok_when_absent_and_unknown_when_odd() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(grpc_status(&headers), "0");
        headers.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(grpc_status(&headers), "5");
        headers.insert("grpc-status", http::HeaderValue::from_static("junk!"));
        assert_eq!(grpc_status(&headers), "2");
    }
}
