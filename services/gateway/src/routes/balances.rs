//! `GET /v1/members/{member_id}/balances`: a member's wallets from the ledger.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use questline_kit::client::Outgoing;
use questline_proto::ledger::GetBalancesRequest;
use questline_proto::ledger::ledger_service_client::LedgerServiceClient;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Gateway;
use super::document::PROBLEM;
use crate::credentials::Credentials;
use crate::problem::Problem;

/// A member's wallets.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "member_id": "01a242f4-01fb-7258-b9d0-ad0d26758434",
    "balances": [{"currency": "stars", "total": 25, "held": 0, "available": 25}]
}))]
pub(super) struct Balances {
    member_id: String,
    balances: Vec<Balance>,
}

/// One wallet, in the currency's minor unit.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Balance {
    currency: String,
    total: i64,
    /// Reserved by pending holds (a redemption under way).
    held: i64,
    /// What may be spent now: total minus held.
    available: i64,
    /// With `?expiring_within_days=N`: of the total, points that expire
    /// before `expiring_before` (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    expiring: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiring_before: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct BalancesQuery {
    /// Also answer what expires within this many days (1 to 3660; 0 or
    /// absent: not asked).
    #[param(minimum = 0, maximum = 3660)]
    expiring_within_days: Option<i32>,
}

/// Every wallet of a member, and what expires soon when asked.
#[utoipa::path(
    get,
    path = "/v1/members/{member_id}/balances",
    tag = "members",
    operation_id = "getBalances",
    params(("member_id" = String, Path, description = "The member's id"), BalancesQuery),
    responses(
        (status = 200, description = "The member's wallets", body = Balances),
        (status = 400, description = "Invalid parameters, each named in `errors`", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such member", body = Problem, content_type = PROBLEM),
    )
)]
pub(super) async fn balances(
    State(gateway): State<Gateway>,
    partner: Credentials,
    member_id: Result<Path<String>, PathRejection>,
    query: Result<Query<BalancesQuery>, QueryRejection>,
) -> Result<Json<Balances>, Problem> {
    let Path(member_id) = member_id?;
    let Query(query) = query?;
    let asked = query.expiring_within_days.is_some();
    let mut ledger = LedgerServiceClient::with_interceptor(
        gateway.ledger.get(),
        Outgoing::bearer(&partner.token),
    );
    let found = ledger
        .get_balances(GetBalancesRequest {
            tenant_id: partner.tenant_id,
            member_id: member_id.clone(),
            expiring_within_days: query.expiring_within_days.unwrap_or_default(),
        })
        .await?
        .into_inner();
    Ok(Json(Balances {
        member_id,
        balances: found
            .balances
            .into_iter()
            .map(|b| Balance {
                currency: b.currency,
                total: b.total,
                held: b.held,
                available: b.available,
                expiring: asked.then_some(b.expiring),
                expiring_before: b.expiring_before.filter(|_| asked).map(|t| t.to_string()),
            })
            .collect(),
    }))
}
