//! The gateway: REST/JSON for partner apps in front of the gRPC mesh.
//! It keeps no data; it resolves credentials, calls one service per request
//! as the partner, and answers JSON or RFC 9457 problems.

// Tests may unwrap; the lib target is still linted without this.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod credentials;
pub mod problem;
pub mod resources;
pub mod routes;
pub mod store;

use axum::serve::ListenerExt;
use questline_kit::config::ServiceKind;
use questline_kit::service::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The name its spans and logs carry.
pub const SERVICE: &str = "gateway";

/// Serves HTTP on `listener` until the context shuts down; in-flight requests finish first.
pub async fn run(ctx: Context, listener: TcpListener) -> anyhow::Result<()> {
    let db = questline_kit::db::open(&ctx.settings.gateway_database_url()).await?;
    questline_kit::db::migrate::<store::migrations::Migrator>(&db, ctx.settings.migrate_on_start)
        .await?;
    let keys = store::Keys::new(db);
    tokio::spawn(prune(keys.clone(), ctx.shutdown.clone()));
    let gateway = routes::Gateway::new(routes::Shared {
        keys,
        identity: ctx.pool(ServiceKind::Identity, routes::UPSTREAM_CONNECTIONS)?,
        tokens: Arc::new(credentials::TokenCache::new(
            ctx.channel(ServiceKind::Identity)?,
        )),
        ledger: ctx.pool(ServiceKind::Ledger, routes::UPSTREAM_CONNECTIONS)?,
        mechanics: ctx.pool(ServiceKind::Mechanics, routes::UPSTREAM_CONNECTIONS)?,
        rewards: ctx.pool(ServiceKind::Rewards, routes::UPSTREAM_CONNECTIONS)?,
        notifications: ctx.pool(ServiceKind::Notifications, routes::UPSTREAM_CONNECTIONS)?,
        request_budget: Duration::from_millis(ctx.settings.server.default_deadline_ms),
        origins: Arc::new(routes::Origins::new(&ctx.settings.gateway.cors_origins)),
        limits: Arc::new(routes::RateLimits::new(
            ctx.settings.gateway.rate_limit_per_second,
            &ctx.settings.gateway.client_rate_limits,
        )),
    });
    tracing::info!(service = SERVICE, addr = %listener.local_addr()?, "serving");
    // Answers go out at once, not after the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, routes::router(gateway))
        .with_graceful_shutdown(ctx.shutdown.clone().cancelled_owned())
        .await?;
    tracing::info!(service = SERVICE, "stopped");
    Ok(())
}

/// Removes expired idempotency keys every ten minutes.
async fn prune(keys: store::Keys, shutdown: tokio_util::sync::CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        match keys.prune(questline_kit::time::now_ms()).await {
            Ok(0) => {}
            Ok(gone) => tracing::debug!(gone, "expired idempotency keys removed"),
            Err(err) => tracing::warn!(%err, "expired idempotency keys not removed"),
        }
    }
}

/// Helpers shared by this crate's tests.
#[cfg(test)]
mod test_support {
    use http::HeaderMap;

    /// A header map from literal pairs.
    pub fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }
}
