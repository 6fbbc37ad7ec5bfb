//! The REST endpoints: decode JSON, resolve credentials, call one service over
//! gRPC as the partner, answer JSON — or a problem. One file per resource;
//! this one holds the router and what every resource shares.

mod balances;
mod cors;
mod document;
mod envelope;
mod events;
mod idempotency;
mod inbox;
mod limits;
mod me;
mod redemptions;
mod traced;
mod unsubscribe;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::middleware;
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderMap, StatusCode};
use prost_types::Timestamp;
use questline_kit::client::{Channel, Pool};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

pub use cors::Origins;

pub use limits::RateLimits;

use crate::credentials::TokenCache;
use crate::problem::Problem;
use crate::store::Keys;

/// Connections the gateway keeps to each service (see `Pool`).
pub const UPSTREAM_CONNECTIONS: usize = 4;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// What every handler shares, behind one `Arc`: every middleware and
/// handler takes it as state, and cloning five channels per step showed in
/// the gateway's profile.
#[derive(Clone)]
pub struct Gateway(Arc<Shared>);

impl Gateway {
    pub fn new(shared: Shared) -> Gateway {
        Gateway(Arc::new(shared))
    }
}

impl std::ops::Deref for Gateway {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The token cache and one channel per service, created once at start and
/// reused by every request.
pub struct Shared {
    pub tokens: Arc<TokenCache>,
    pub identity: Pool,
    /// Answers to POSTs sent with an `Idempotency-Key`.
    pub keys: Keys,
    pub ledger: Pool,
    pub mechanics: Pool,
    pub rewards: Pool,
    pub notifications: Pool,
    /// How long a request may take before it is answered 504.
    pub request_budget: Duration,
    pub limits: Arc<RateLimits>,
    /// Browser origins allowed per tenant.
    pub origins: Arc<Origins>,
}

impl Shared {
    /// The channel to the service that answers `rpc` (`questline.<service>.v1.…`).
    pub fn channel_for(&self, rpc: &str) -> Channel {
        match rpc.split('.').nth(1) {
            Some("ledger") => self.ledger.get(),
            Some("mechanics") => self.mechanics.get(),
            Some("rewards") => self.rewards.get(),
            Some("notifications") => self.notifications.get(),
            _ => self.identity.get(),
        }
    }
}

impl FromRef<Gateway> for Arc<TokenCache> {
    fn from_ref(gateway: &Gateway) -> Arc<TokenCache> {
        gateway.tokens.clone()
    }
}

/// The API routes, each registered with its OpenAPI description, then the
/// document itself (`/openapi.json`), its page (`/docs`) and `/healthz`.
pub fn router(gateway: Gateway) -> Router {
    let (api, mut document) = OpenApiRouter::with_openapi(document::ApiDoc::openapi())
        .routes(routes!(events::track))
        .routes(routes!(events::track_batch))
        .routes(routes!(balances::balances))
        .routes(routes!(redemptions::redeem))
        .routes(routes!(inbox::inbox))
        .routes(routes!(unsubscribe::page, unsubscribe::unsubscribe))
        .split_for_parts();
    let api = crate::resources::router(api);
    let budget = gateway.request_budget;
    // Streams outlive any request budget: added after the deadline layer.
    let (streams, stream_document) = OpenApiRouter::new()
        .routes(routes!(inbox::stream))
        .split_for_parts();
    document.merge(stream_document);
    let api = api
        .route_layer(middleware::from_fn_with_state(
            gateway.clone(),
            idempotency::idempotent,
        ))
        .route_layer(middleware::from_fn_with_state(budget, envelope::deadline))
        .merge(streams)
        .route_layer(middleware::from_fn_with_state(
            gateway.limits.clone(),
            limits::limit,
        ))
        // Only API routes get a span: health probes would drown the traces.
        .route_layer(middleware::from_fn(traced::traced))
        .merge(
            SwaggerUi::new("/docs")
                .external_url_unchecked("/openapi.json", document::finish(document)),
        )
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .with_state(gateway.clone());
    // `/v1/me` is rewritten before the inner router picks a route.
    Router::new()
        .fallback_service(api)
        .layer(middleware::from_fn_with_state(
            gateway.tokens.clone(),
            me::rewrite,
        ))
        .layer(middleware::from_fn_with_state(gateway, cors::cors))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(envelope::request_id))
}

async fn healthz() -> Json<Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no such endpoint")
}

/// The client-chosen id of a write: the body's `field`, or the
/// `Idempotency-Key` header when the body has none.
fn client_id(field: &str, in_body: Option<String>, headers: &HeaderMap) -> Result<String, Problem> {
    if let Some(id) = in_body.filter(|id| !id.is_empty()) {
        return Ok(id);
    }
    headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            Problem::invalid(
                field,
                "is required, in the body or as the Idempotency-Key header",
            )
        })
}

fn rfc3339(text: &str) -> Result<Timestamp, Problem> {
    text.parse().map_err(|_| {
        Problem::invalid(
            "occurred_at",
            "must be an RFC 3339 time, e.g. 2025-05-03T09:30:00Z",
        )
    })
}

#[cfg(test)]
mod tests;
