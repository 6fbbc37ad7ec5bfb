//! The gateway: REST/JSON for partner apps in front of the gRPC mesh.
//! It keeps no data; it resolves credentials, calls one service per request
//! as the partner, and answers JSON or RFC 9457 problems.

// Tests may unwrap; the lib target is still linted without this.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod credentials;
pub mod problem;
pub mod routes;

use questline_kit::config::ServiceKind;
use questline_kit::service::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The name its spans and logs carry.
pub const SERVICE: &str = "gateway";

/// Serves HTTP on `listener` until the context shuts down; in-flight requests finish first.
pub async fn run(ctx: Context, listener: TcpListener) -> anyhow::Result<()> {
    let gateway = routes::Gateway {
        tokens: Arc::new(credentials::TokenCache::new(
            ctx.channel(ServiceKind::Identity)?,
        )),
        ledger: ctx.channel(ServiceKind::Ledger)?,
        mechanics: ctx.channel(ServiceKind::Mechanics)?,
        rewards: ctx.channel(ServiceKind::Rewards)?,
        notifications: ctx.channel(ServiceKind::Notifications)?,
        request_budget: Duration::from_millis(ctx.settings.server.default_deadline_ms),
        limits: Arc::new(routes::RateLimits::new(
            ctx.settings.gateway.rate_limit_per_second,
            &ctx.settings.gateway.client_rate_limits,
        )),
    };
    tracing::info!(service = SERVICE, addr = %listener.local_addr()?, "serving");
    axum::serve(listener, routes::router(gateway))
        .with_graceful_shutdown(ctx.shutdown.clone().cancelled_owned())
        .await?;
    tracing::info!(service = SERVICE, "stopped");
    Ok(())
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
