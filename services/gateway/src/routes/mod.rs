//! The REST endpoints: decode JSON, resolve credentials, call one service over
//! gRPC as the partner, answer JSON — or a problem. One file per resource;
//! this one holds the router and what every resource shares.

mod balances;
mod events;
mod inbox;
mod redemptions;
mod traced;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::middleware;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, StatusCode};
use prost_types::Timestamp;
use questline_kit::client::Channel;
use serde_json::Value;
use std::sync::Arc;

use crate::credentials::TokenCache;
use crate::problem::Problem;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// What every handler shares: the token cache and one channel per service,
/// created once at start and reused by every request.
#[derive(Clone)]
pub struct Gateway {
    pub tokens: Arc<TokenCache>,
    pub ledger: Channel,
    pub mechanics: Channel,
    pub rewards: Channel,
    pub notifications: Channel,
}

impl FromRef<Gateway> for Arc<TokenCache> {
    fn from_ref(gateway: &Gateway) -> Arc<TokenCache> {
        gateway.tokens.clone()
    }
}

pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/v1/events", post(events::track))
        .route("/v1/members/{member_id}/balances", get(balances::balances))
        .route("/v1/redemptions", post(redemptions::redeem))
        .route("/v1/members/{member_id}/inbox", get(inbox::inbox))
        // Only API routes get a span: health probes would drown the traces.
        .route_layer(middleware::from_fn(traced::traced))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(gateway)
}

async fn healthz() -> Json<Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no such endpoint")
}

/// The client-chosen id of a write: the body's `field`, or the
/// `Idempotency-Key` header when the body has none. Both, differing, is refused.
fn client_id(field: &str, in_body: Option<String>, headers: &HeaderMap) -> Result<String, Problem> {
    let header = headers
        .get(IDEMPOTENCY_KEY)
        .map(|v| {
            v.to_str()
                .map(str::trim)
                .map_err(|_| Problem::invalid("Idempotency-Key", "must be visible ASCII"))
        })
        .transpose()?
        .filter(|key| !key.is_empty());
    match (in_body.filter(|id| !id.is_empty()), header) {
        (Some(id), Some(key)) if id != key => Err(Problem::invalid(
            "Idempotency-Key",
            format!("differs from {field} in the body"),
        )),
        (Some(id), _) => Ok(id),
        (None, Some(key)) => Ok(key.to_string()),
        (None, None) => Err(Problem::invalid(
            field,
            "is required, in the body or as the Idempotency-Key header",
        )),
    }
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
