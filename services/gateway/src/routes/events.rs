//! `POST /v1/events`: customer actions, evaluated by mechanics' rules.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use http::HeaderMap;
use questline_kit::client::Outgoing;
use questline_kit::{Violations, structs};
use questline_proto::mechanics::mechanics_service_client::MechanicsServiceClient;
use questline_proto::mechanics::{TrackBatchRequest, TrackRequest, TrackResponse};
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
    "attributes": {"amount": 250, "store": "paris-01"}
}))]
#[serde(deny_unknown_fields)]
pub(super) struct TrackBody {
    /// The event's id, chosen by the partner: the same id again is the same
    /// event. (A single event may name it as the `Idempotency-Key` header
    /// instead.)
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9._:-]{1,256}$")]
    event_id: Option<String>,
    /// The member's id; or name them by `external_id` instead (exactly one).
    #[schema(value_type = String, required = false, pattern = "^[A-Za-z0-9._:-]{1,256}$")]
    member_id: Option<String>,
    /// The brand's own id for the member (as `PUT
    /// /v1/members/by-external-id/{external_id}` set it), instead of
    /// `member_id`.
    #[schema(value_type = String, required = false, pattern = "^[A-Za-z0-9._:@+-]{1,256}$")]
    external_id: Option<String>,
    /// The event type the rules match, e.g. `purchase`.
    #[serde(rename = "type")]
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,256}$")]
    event_type: String,
    /// When it happened (RFC 3339); now when absent. At most 5 minutes
    /// ahead of the engine's clock and 7 days back (the lateness window): a
    /// late event is judged by the rules in force when it happened.
    #[schema(value_type = Option<String>, format = DateTime)]
    occurred_at: Option<String>,
    /// Anything the rules may read: amount, currency, sku, store, …
    #[schema(value_type = Option<Object>)]
    attributes: Option<Map<String, Value>>,
}

/// What an event earned.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "event_id": "order-1001",
    "member_id": "01a242f4-01fb-7258-b9d0-ad0d26758434",
    "awards": [{"rule_id": "stars-per-purchase", "currency": "stars", "points": 25,
                "transfer_id": "01a242f4-091d-763e-a4de-796395e15fd7"}]
}))]
pub(super) struct Tracked {
    event_id: String,
    /// The member it was tracked for (the external id's, when given).
    member_id: String,
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
    let event_id = client_id("event_id", body.event_id.clone(), &headers)?;
    let request = track_request(&partner.tenant_id, event_id, body)?;
    let mut mechanics = MechanicsServiceClient::with_interceptor(
        gateway.mechanics.get(),
        Outgoing::bearer(&partner.token),
    );
    let tracked = mechanics
        .track(request)
        .await
        .map_err(|status| Problem::from(status).renamed(TRACK_FIELDS))?
        .into_inner();
    Ok(Json(Tracked::from(tracked)))
}

fn track_request(
    tenant_id: &str,
    event_id: String,
    body: TrackBody,
) -> Result<TrackRequest, Problem> {
    let occur_time = body.occurred_at.as_deref().map(rfc3339).transpose()?;
    Ok(TrackRequest {
        tenant_id: tenant_id.to_string(),
        event_id,
        member_id: body.member_id.unwrap_or_default(),
        external_id: body.external_id.unwrap_or_default(),
        event_type: body.event_type,
        occur_time,
        attributes: body.attributes.as_ref().map(structs::from_json),
    })
}

impl From<TrackResponse> for Tracked {
    fn from(tracked: TrackResponse) -> Tracked {
        Tracked {
            event_id: tracked.event_id,
            member_id: tracked.member_id,
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
        }
    }
}

/// Up to 1,000 customer actions at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"events": [
    {"event_id": "order-1001", "member_id": "01a242f4-01fb-7258-b9d0-ad0d26758434",
     "type": "purchase", "attributes": {"amount": 250}},
    {"event_id": "order-1002", "member_id": "01a242f4-01fb-7258-b9d0-ad0d26758434",
     "type": "purchase", "attributes": {"amount": 80}}
]}))]
pub(super) struct BatchBody {
    /// Each with its own `event_id` (required here: a batch has no header
    /// to stand in).
    #[schema(min_items = 1, max_items = 1000)]
    events: Vec<TrackBody>,
}

/// A batch the document would refuse is refused whole, every mistake named
/// (`events[2].type`); what only the services can judge (an unknown
/// member) is answered per event.
fn well_formed(events: &[TrackBody]) -> Result<(), Problem> {
    let mut v = Violations::new();
    v.check(
        (1..=1000).contains(&events.len()),
        "events",
        "must hold 1 to 1000 events",
    );
    for (i, event) in events.iter().enumerate() {
        let event_id = event.event_id.as_deref().unwrap_or_default();
        v.id(&format!("events[{i}].event_id"), event_id)
            .id(&format!("events[{i}].type"), &event.event_type);
        let member = (event.member_id.as_deref(), event.external_id.as_deref());
        match member {
            (Some(member_id), None) => {
                v.id(&format!("events[{i}].member_id"), member_id);
            }
            (None, Some(external_id)) => {
                v.text(&format!("events[{i}].external_id"), external_id);
            }
            (None, None) => {
                v.add(&format!("events[{i}].member_id"), "is required");
            }
            (Some(_), Some(_)) => {
                v.add(
                    &format!("events[{i}].external_id"),
                    "must be absent when member_id is given",
                );
            }
        }
    }
    v.finish().map_err(Problem::from)
}

/// Each event's outcome, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BatchTracked {
    outcomes: Vec<Outcome>,
}

/// What one event earned, or why it was refused (`error`: a gRPC code's
/// name and why). A refused event may be sent again.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Outcome {
    event_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tracked: Option<Tracked>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<OutcomeError>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OutcomeError {
    /// E.g. `INVALID_ARGUMENT`, `NOT_FOUND`.
    code: String,
    message: String,
}

/// Track up to 1,000 customer actions in one request: each is evaluated on
/// its own, as `POST /v1/events` would, and answered in the order sent.
#[utoipa::path(
    post,
    path = "/v1/events/batch",
    tag = "events",
    operation_id = "trackEvents",
    request_body = BatchBody,
    responses(
        (status = 200, description = "Each event's outcome, in order", body = BatchTracked),
        (status = 400, description = "Not a batch of 1 to 1,000 events", body = Problem, content_type = PROBLEM),
    )
)]
pub(super) async fn track_batch(
    State(gateway): State<Gateway>,
    partner: Credentials,
    body: Result<Json<BatchBody>, JsonRejection>,
) -> Result<Json<BatchTracked>, Problem> {
    let Json(body) = body?;
    well_formed(&body.events)?;
    let mut events = Vec::with_capacity(body.events.len());
    for event in body.events {
        let event_id = event.event_id.clone().unwrap_or_default();
        events.push(track_request("", event_id, event)?);
    }
    let mut mechanics = MechanicsServiceClient::with_interceptor(
        gateway.mechanics.get(),
        Outgoing::bearer(&partner.token),
    );
    let answer = mechanics
        .track_batch(TrackBatchRequest {
            tenant_id: partner.tenant_id,
            events,
        })
        .await?
        .into_inner();
    let outcomes = answer
        .outcomes
        .into_iter()
        .map(|o| Outcome {
            event_id: o.event_id,
            tracked: o.tracked.map(Tracked::from),
            error: o.error.map(|e| OutcomeError {
                code: e.code,
                message: e.message,
            }),
        })
        .collect();
    Ok(Json(BatchTracked { outcomes }))
}
