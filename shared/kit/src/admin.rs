//! A part's admin port: `/metrics` (Prometheus text), `/livez` (the process
//! answers) and `/readyz` (its database and the bus answer). Kubernetes'
//! probes and Prometheus use it; no caller's data ever passes through it.

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::gauge;
use sea_orm::DatabaseConnection;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::bus::EventBus;
use crate::config::ServiceKind;
use crate::meter;

/// How long one check or one sample may take before it counts as failed.
const PATIENCE: Duration = Duration::from_secs(2);
/// A statement answered this recently proves the database answers: a busy
/// service is never pinged, so a full pool cannot make it look down.
const RECENT_MS: i64 = 5_000;

/// A service's database as readiness sees it.
struct Watched {
    db: DatabaseConnection,
    /// When a statement last succeeded (ms since the epoch).
    answered: Arc<AtomicI64>,
}

/// Figures read from a store when Prometheus scrapes (outbox backlog, the
/// ledger's totals): exact at every scrape, and no cost between scrapes.
#[async_trait]
pub trait Sampler: Send + Sync + 'static {
    async fn sample(&self) -> anyhow::Result<()>;
}

/// What the admin ports of a process check and sample, filled in as each
/// service opens its database.
pub struct Probes {
    bus: Arc<dyn EventBus>,
    consumers: Vec<String>,
    databases: Mutex<BTreeMap<ServiceKind, Arc<Watched>>>,
    samplers: Mutex<Vec<Arc<dyn Sampler>>>,
}

impl Probes {
    /// `consumers`: every durable consumer the process runs on `bus`;
    /// `services`: the services it runs, not ready until they say so.
    /// Counters start at zero, so `rate()` and alerts work before the first
    /// event or failure.
    pub fn new(bus: Arc<dyn EventBus>, consumers: &[&str], services: &[ServiceKind]) -> Probes {
        for kind in services {
            gauge!(meter::READY, "questline_service" => kind.name()).set(0.0);
        }
        for consumer in consumers {
            let consumer = [("consumer", consumer.to_string())];
            metrics::counter!(meter::DEAD_LETTERS, &consumer).increment(0);
            meter::start_at_zero(
                meter::EVENTS_HANDLED,
                &consumer,
                "outcome",
                &["ok", "failed"],
            );
        }
        Probes {
            bus,
            consumers: consumers.iter().map(|c| c.to_string()).collect(),
            databases: Mutex::default(),
            samplers: Mutex::default(),
        }
    }

    /// `kind`'s database is open and migrated: readiness now depends on it.
    /// `answered` is when a statement last succeeded on it.
    pub fn watch_database(
        &self,
        kind: ServiceKind,
        db: DatabaseConnection,
        answered: Arc<AtomicI64>,
    ) {
        self.databases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(kind, Arc::new(Watched { db, answered }));
    }

    pub fn add_sampler(&self, sampler: Arc<dyn Sampler>) {
        self.samplers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sampler);
    }

    /// Why `kind` cannot serve now, if it cannot; sets `questline_ready`.
    pub async fn ready(&self, kind: ServiceKind) -> Result<(), String> {
        let verdict = self.check(kind).await;
        let up = if verdict.is_ok() { 1.0 } else { 0.0 };
        gauge!(meter::READY, "questline_service" => kind.name()).set(up);
        verdict
    }

    async fn check(&self, kind: ServiceKind) -> Result<(), String> {
        if !self.bus.connected() {
            return Err("the event bus is not connected".into());
        }
        let watched = self
            .databases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&kind)
            .cloned()
            .ok_or("the database is not open yet")?;
        let since = crate::time::now_ms() - watched.answered.load(Ordering::Relaxed);
        if since < RECENT_MS {
            return Ok(());
        }
        match tokio::time::timeout(PATIENCE, watched.db.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(format!("the database does not answer: {err}")),
            Err(_) => Err(format!("the database did not answer within {PATIENCE:?}")),
        }
    }

    /// Refreshes every sampled figure of the process.
    pub async fn sample(&self) {
        let databases: Vec<_> = self
            .databases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(kind, watched)| (*kind, watched.clone()))
            .collect();
        for (kind, watched) in &databases {
            meter::sample_pool(&watched.db, kind.name());
        }
        let samplers = self
            .samplers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let samples = samplers.iter().map(|s| async move {
            match tokio::time::timeout(PATIENCE, s.sample()).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!(%err, "a metrics sample failed"),
                Err(_) => tracing::warn!("a metrics sample took too long"),
            }
        });
        // All at once, so a scrape takes at most PATIENCE however many there are.
        futures::future::join(
            futures::future::join_all(samples),
            futures::future::join_all(self.consumers.iter().map(|c| self.sample_consumer(c))),
        )
        .await;
    }

    async fn sample_consumer(&self, consumer: &str) {
        match tokio::time::timeout(PATIENCE, self.bus.pending(consumer)).await {
            Ok(Ok(pending)) => gauge!(meter::CONSUMER_PENDING, "consumer" => consumer.to_string())
                .set(pending as f64),
            Ok(Err(err)) => tracing::warn!(consumer, %err, "consumer backlog unknown"),
            Err(_) => tracing::warn!(consumer, "consumer backlog took too long"),
        }
    }
}

/// The part an admin port speaks for: a service, or the gateway (no database).
#[derive(Clone)]
struct Admin {
    probes: Arc<Probes>,
    kind: Option<ServiceKind>,
}

/// Serves the admin port until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    kind: Option<ServiceKind>,
    probes: Arc<Probes>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/livez", get(|| async { "live\n" }))
        .route("/readyz", get(readyz))
        .with_state(Admin { probes, kind });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// The part's own series: under `questline dev` the parts share one
/// recorder, and each port still speaks for its part alone.
async fn metrics(State(admin): State<Admin>) -> impl IntoResponse {
    admin.probes.sample().await;
    let part = admin.kind.map_or("gateway", ServiceKind::name);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        meter::render_part(part),
    )
}

async fn readyz(State(admin): State<Admin>) -> (StatusCode, String) {
    let Some(kind) = admin.kind else {
        return (StatusCode::OK, "ready\n".into());
    };
    match admin.probes.ready(kind).await {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}
