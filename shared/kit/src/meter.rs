//! Prometheus metrics. One recorder per process: the services of `questline
//! dev` share it and are told apart by their `questline_service` label; a
//! part's admin port renders it. Names follow OpenTelemetry's semantic
//! conventions where one exists (`rpc.server.duration`, `db.client.*`),
//! spelled as OpenTelemetry's Prometheus exporter spells them; Questline's
//! own figures start with `questline_`.

use metrics::{gauge, histogram};
use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusRecorder};
use sea_orm::{DatabaseConnection, DbBackend};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

/// Every gRPC call a service answers, by method and status code.
pub const RPC_DURATION: &str = "rpc_server_duration_milliseconds";
/// Every HTTP request the gateway answers, by route and status.
pub const HTTP_DURATION: &str = "http_server_request_duration_seconds";
/// Every statement a service's database runs.
pub const DB_OPERATION: &str = "db_client_operation_duration_seconds";
/// A service's database connections, idle and used.
pub const DB_CONNECTIONS: &str = "db_client_connection_count";
pub const DB_CONNECTIONS_MAX: &str = "db_client_connection_max";
/// 1 while a part's database and the bus answer.
pub const READY: &str = "questline_ready";
/// Events staged in a service's outbox and not yet on the bus.
pub const OUTBOX_PENDING: &str = "questline_outbox_pending";
/// Age of the oldest of those, 0 when there are none.
pub const OUTBOX_LAG: &str = "questline_outbox_lag_seconds";
pub const OUTBOX_PUBLISHED: &str = "questline_outbox_published_total";
/// Events on the bus that a durable consumer has not handled yet.
pub const CONSUMER_PENDING: &str = "questline_consumer_pending";
pub const EVENTS_HANDLED: &str = "questline_events_handled_total";
/// Events a consumer set aside after failing them on every delivery.
pub const DEAD_LETTERS: &str = "questline_dead_letters_total";

/// Ledger: points ever credited from issuance, per tenant and currency.
pub const POINTS_ISSUED: &str = "questline_points_issued";
/// Ledger: points spent on rewards.
pub const POINTS_BURNED: &str = "questline_points_burned";
/// Ledger: points expired to breakage.
pub const POINTS_EXPIRED: &str = "questline_points_expired";
/// Ledger: points members hold now, the programme's liability.
pub const POINTS_OUTSTANDING: &str = "questline_points_outstanding";
/// Mechanics: events tracked for the first time, by whether they earned points.
pub const EVENTS_TRACKED: &str = "questline_events_tracked_total";
/// Mechanics: from an event's first recording to the ledger's credit of its points.
pub const EVENT_CREDIT_LATENCY: &str = "questline_event_credit_latency_seconds";
/// Rewards: redemptions that reached their end, redeemed or failed.
pub const REDEMPTIONS: &str = "questline_redemptions_total";
/// Notifications: notices by channel and fate (sent, failed, suppressed).
pub const NOTIFICATIONS: &str = "questline_notifications_total";

/// What each series means, as `# HELP` lines say it to whoever scrapes.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        RPC_DURATION,
        Unit::Milliseconds,
        "Duration of inbound gRPC calls, by method and status code"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Duration of HTTP requests to the gateway, by route and status"
    );
    describe_histogram!(
        DB_OPERATION,
        Unit::Seconds,
        "Duration of database statements, by kind"
    );
    describe_gauge!(
        DB_CONNECTIONS,
        "Database connections of a service's pool, by state"
    );
    describe_gauge!(
        DB_CONNECTIONS_MAX,
        "Most connections a service's pool may open"
    );
    describe_gauge!(
        READY,
        "1 while the service's database and the event bus answer"
    );
    describe_gauge!(
        OUTBOX_PENDING,
        "Events staged in the outbox, not yet published"
    );
    describe_gauge!(
        OUTBOX_LAG,
        Unit::Seconds,
        "Age of the oldest unpublished event in the outbox"
    );
    describe_counter!(OUTBOX_PUBLISHED, "Events the outbox relay has published");
    describe_gauge!(
        CONSUMER_PENDING,
        "Events on the bus a durable consumer has not handled yet"
    );
    describe_counter!(
        EVENTS_HANDLED,
        "Deliveries handled by a consumer, ok or failed"
    );
    describe_counter!(
        DEAD_LETTERS,
        "Events set aside after failing on every delivery"
    );
    describe_gauge!(
        POINTS_ISSUED,
        "Points credited from issuance, in minor units"
    );
    describe_gauge!(POINTS_BURNED, "Points spent on rewards, in minor units");
    describe_gauge!(POINTS_EXPIRED, "Points expired to breakage, in minor units");
    describe_gauge!(
        POINTS_OUTSTANDING,
        "Points members hold: the programme's liability, in minor units"
    );
    describe_counter!(
        EVENTS_TRACKED,
        "Events tracked for the first time, by whether they earned points"
    );
    describe_histogram!(
        EVENT_CREDIT_LATENCY,
        Unit::Seconds,
        "From an event's first recording to the credit of its points"
    );
    describe_counter!(
        REDEMPTIONS,
        "Redemptions that reached their end, by outcome"
    );
    describe_counter!(NOTIFICATIONS, "Notices by channel and outcome");
}

const MILLISECONDS: &[f64] = &[
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];
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
        .set_buckets_for_metric(Matcher::Suffix("_milliseconds".into()), MILLISECONDS)?
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

/// Times every statement `db` runs, labelled with its service.
pub fn observe_queries(db: &mut DatabaseConnection, service: &'static str) {
    let system = system_name(db);
    db.set_metric_callback(move |info| {
        histogram!(
            DB_OPERATION,
            "db_system_name" => system,
            "db_operation_name" => operation(&info.statement.sql),
            "questline_service" => service,
        )
        .record(info.elapsed.as_secs_f64());
    });
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

/// Records `rpc_server_duration_milliseconds` for every call a gRPC server
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
        let started = Instant::now();
        let (rpc_service, rpc_method) = self.method_of(request.uri().path());
        let service = self.layer.service;
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await;
            let code = match &response {
                Ok(r) => grpc_status(r.headers()),
                Err(_) => "2".to_string(),
            };
            histogram!(
                RPC_DURATION,
                "rpc_system" => "grpc",
                "rpc_service" => rpc_service,
                "rpc_method" => rpc_method,
                "rpc_grpc_status_code" => code,
                "questline_service" => service,
            )
            .record(started.elapsed().as_secs_f64() * 1000.0);
            response
        })
    }
}

impl<S> RpcMetrics<S> {
    fn method_of(&self, path: &str) -> (String, String) {
        let path = path.trim_start_matches('/');
        match path.split_once('/') {
            Some((service, method)) if self.layer.known.contains(path) => {
                (service.to_string(), method.to_string())
            }
            _ => ("unknown".into(), "unknown".into()),
        }
    }
}

/// A unary answer's status code. A failure is answered trailers-only, with
/// `grpc-status` among the headers; a success carries it in the trailers,
/// which come after the headers this layer sees.
/// Anything but a code (never sent by tonic) counts as UNKNOWN.
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
