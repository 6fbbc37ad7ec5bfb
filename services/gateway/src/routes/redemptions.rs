//! `POST /v1/redemptions`: a member spends points on a reward.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use http::HeaderMap;
use questline_kit::client::Outgoing;
use questline_proto::rewards::rewards_service_client::RewardsServiceClient;
use questline_proto::rewards::{RedeemRequest, RedemptionStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::document::PROBLEM;
use super::{Gateway, client_id};
use crate::credentials::Credentials;
use crate::problem::Problem;

/// A member spending points on a reward.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "redemption_id": "treat-1",
    "member_id": "01a242f4-01fb-7258-b9d0-ad0d26758434",
    "reward_id": "pastry"
}))]
#[serde(deny_unknown_fields)]
pub(super) struct RedeemBody {
    /// The redemption's id, chosen by the partner: the same id again is the
    /// same redemption. May be given as the `Idempotency-Key` header instead.
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9._:-]{1,256}$")]
    redemption_id: Option<String>,
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,256}$")]
    member_id: String,
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,256}$")]
    reward_id: String,
}

/// A redemption and its voucher.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "redemption_id": "treat-1", "status": "completed", "voucher_code": "QL-THT6-CWW4-JCTZ",
    "reward_id": "pastry", "currency": "stars", "price": 20
}))]
pub(super) struct Redeemed {
    redemption_id: String,
    /// `pending`, `completed` or `failed`.
    #[schema(value_type = String)]
    status: &'static str,
    voucher_code: String,
    reward_id: String,
    currency: String,
    price: i64,
}

/// Redeem a reward: stock reserved, points held, voucher issued, points
/// spent — or, on any failure, every step undone.
#[utoipa::path(
    post,
    path = "/v1/redemptions",
    tag = "redemptions",
    operation_id = "redeemReward",
    request_body = RedeemBody,
    responses(
        (status = 200, description = "The redemption, completed, with its voucher", body = Redeemed),
        (status = 400, description = "Invalid fields, each named in `errors`", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such member or reward", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Refused as things stand (`reason`: INSUFFICIENT_FUNDS, OUT_OF_STOCK, …)", body = Problem, content_type = PROBLEM),
    )
)]
pub(super) async fn redeem(
    State(gateway): State<Gateway>,
    partner: Credentials,
    headers: HeaderMap,
    body: Result<Json<RedeemBody>, JsonRejection>,
) -> Result<Json<Redeemed>, Problem> {
    let Json(body) = body?;
    let redemption_id = client_id("redemption_id", body.redemption_id, &headers)?;
    let mut rewards = RewardsServiceClient::with_interceptor(
        gateway.rewards.get(),
        Outgoing::bearer(&partner.token),
    );
    let redemption = rewards
        .redeem(RedeemRequest {
            tenant_id: partner.tenant_id,
            redemption_id,
            member_id: body.member_id,
            reward_id: body.reward_id,
        })
        .await?
        .into_inner()
        .redemption
        .ok_or_else(|| {
            tracing::error!("rewards answered Redeem without a redemption");
            Problem::internal()
        })?;
    Ok(Json(Redeemed {
        status: redemption_status(redemption.status),
        redemption_id: redemption.redemption_id,
        voucher_code: redemption.voucher_code,
        reward_id: redemption.reward_id,
        currency: redemption.currency,
        price: redemption.price,
    }))
}

fn redemption_status(status: i32) -> &'static str {
    match RedemptionStatus::try_from(status) {
        Ok(RedemptionStatus::Pending) => "pending",
        Ok(RedemptionStatus::Completed) => "completed",
        Ok(RedemptionStatus::Failed) => "failed",
        Ok(RedemptionStatus::Unspecified) | Err(_) => "unspecified",
    }
}
