//! `POST /v1/events`: customer actions, evaluated by mechanics' rules.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use http::HeaderMap;
use questline_kit::client::Outgoing;
use questline_kit::structs;
use questline_proto::mechanics::TrackRequest;
use questline_proto::mechanics::mechanics_service_client::MechanicsServiceClient;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::document::PROBLEM;
use super::{Gateway, client_id, rfc3339};
use crate::credentials::Credentials;
use crate::problem::Problem;

/// A customer action.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "event_id": "order-1001",
    "member_id": "01a242f4-01fb-7258-b9d0-ad0d26758434",
    "type": "purchase",
    "occurred_at": "2026-05-02T09:30:00Z",
    "attributes": {"amount": 250, "store": "paris-01"}
}))]
pub(super) struct TrackBody {
    /// The event's id, chosen by the partner: the same id again is the same
    /// event. May be given as the `Idempotency-Key` header instead.
    event_id: Option<String>,
    /// The member's id.
    member_id: String,
    /// The event type the rules match, e.g. `purchase`.
    #[serde(rename = "type")]
    event_type: String,
    /// When it happened (RFC 3339); now when absent.
    occurred_at: Option<String>,
    /// Anything the rules may read: amount, currency, sku, store, …
    #[schema(value_type = Option<Object>)]
    attributes: Option<Map<String, Value>>,
}

/// What an event earned.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "event_id": "order-1001",
    "awards": [{"rule_id": "stars-per-purchase", "currency": "stars", "points": 25,
                "transfer_id": "01a242f4-091d-763e-a4de-796395e15fd7"}]
}))]
pub(super) struct Tracked {
    event_id: String,
    awards: Vec<Award>,
}

/// Points one rule awarded, and the ledger transfer that carried them.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Award {
    rule_id: String,
    currency: String,
    /// In the currency's minor unit.
    points: i64,
    transfer_id: String,
}

/// Where mechanics names a field after its protobuf request, not our JSON.
const TRACK_FIELDS: &[(&str, &str)] = &[("event_type", "type"), ("occur_time", "occurred_at")];

/// Track a customer action: the rules evaluate it and award what it earns.
/// The same `event_id` again answers the first answer and awards nothing more.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    operation_id = "trackEvent",
    request_body = TrackBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Stands in for `event_id` when the body has none")),
    responses(
        (status = 200, description = "What the event earned", body = Tracked),
        (status = 400, description = "Invalid fields, each named in `errors`", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such member", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The event id was used for another event", body = Problem, content_type = PROBLEM),
    )
)]
pub(super) async fn track(
    State(gateway): State<Gateway>,
    partner: Credentials,
    headers: HeaderMap,
    body: Result<Json<TrackBody>, JsonRejection>,
) -> Result<Json<Tracked>, Problem> {
    let Json(body) = body?;
    let event_id = client_id("event_id", body.event_id, &headers)?;
    let occur_time = body.occurred_at.as_deref().map(rfc3339).transpose()?;
    let mut mechanics = MechanicsServiceClient::with_interceptor(
        gateway.mechanics.clone(),
        Outgoing::bearer(&partner.token),
    );
    let tracked = mechanics
        .track(TrackRequest {
            tenant_id: partner.tenant_id,
            event_id,
            member_id: body.member_id,
            event_type: body.event_type,
            occur_time,
            attributes: body.attributes.as_ref().map(structs::from_json),
        })
        .await
        .map_err(|status| Problem::from(status).renamed(TRACK_FIELDS))?
        .into_inner();
    Ok(Json(Tracked {
        event_id: tracked.event_id,
        awards: tracked
            .awards
            .into_iter()
            .map(|a| Award {
                rule_id: a.rule_id,
                currency: a.currency,
                points: a.points,
                transfer_id: a.transfer_id,
            })
            .collect(),
    }))
}
