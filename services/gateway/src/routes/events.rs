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

use super::{Gateway, client_id, rfc3339};
use crate::credentials::Credentials;
use crate::problem::Problem;

#[derive(Debug, Deserialize)]
pub(super) struct TrackBody {
    event_id: Option<String>,
    member_id: String,
    #[serde(rename = "type")]
    event_type: String,
    occurred_at: Option<String>,
    attributes: Option<Map<String, Value>>,
}

#[derive(Debug, Serialize)]
pub(super) struct Tracked {
    event_id: String,
    awards: Vec<Award>,
}

#[derive(Debug, Serialize)]
pub(super) struct Award {
    rule_id: String,
    currency: String,
    points: i64,
    transfer_id: String,
}

/// Where mechanics names a field after its protobuf request, not our JSON.
const TRACK_FIELDS: &[(&str, &str)] = &[("event_type", "type"), ("occur_time", "occurred_at")];

/// `POST /v1/events`: a customer action, evaluated by the rules.
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
