//! `GET /v1/members/{member_id}/balances`: a member's wallets from the ledger.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use questline_kit::client::Outgoing;
use questline_proto::ledger::GetBalancesRequest;
use questline_proto::ledger::ledger_service_client::LedgerServiceClient;
use serde::{Deserialize, Serialize};

use super::Gateway;
use crate::credentials::Credentials;
use crate::problem::Problem;

#[derive(Debug, Serialize)]
pub(super) struct Balances {
    member_id: String,
    balances: Vec<Balance>,
}

#[derive(Debug, Serialize)]
pub(super) struct Balance {
    currency: String,
    total: i64,
    held: i64,
    available: i64,
    /// With `?expiring_within_days=N`: of the total, points that expire
    /// before `expiring_before` (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    expiring: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiring_before: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct BalancesQuery {
    /// 1 to 3660; the ledger checks the range.
    expiring_within_days: Option<i32>,
}

/// `GET /v1/members/{member_id}/balances[?expiring_within_days=N]`: every
/// wallet of a member, and what expires soon when asked.
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
        gateway.ledger.clone(),
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
