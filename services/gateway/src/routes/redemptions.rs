//! `POST /v1/redemptions`: a member spends points on a reward.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use http::HeaderMap;
use questline_kit::client::Outgoing;
use questline_proto::rewards::rewards_service_client::RewardsServiceClient;
use questline_proto::rewards::{RedeemRequest, RedemptionStatus};
use serde::{Deserialize, Serialize};

use super::{Gateway, client_id};
use crate::credentials::Credentials;
use crate::problem::Problem;

#[derive(Debug, Deserialize)]
pub(super) struct RedeemBody {
    redemption_id: Option<String>,
    member_id: String,
    reward_id: String,
}

#[derive(Debug, Serialize)]
pub(super) struct Redeemed {
    redemption_id: String,
    status: &'static str,
    voucher_code: String,
    reward_id: String,
    currency: String,
    price: i64,
}

/// `POST /v1/redemptions`: a member spends points on a reward.
pub(super) async fn redeem(
    State(gateway): State<Gateway>,
    partner: Credentials,
    headers: HeaderMap,
    body: Result<Json<RedeemBody>, JsonRejection>,
) -> Result<Json<Redeemed>, Problem> {
    let Json(body) = body?;
    let redemption_id = client_id("redemption_id", body.redemption_id, &headers)?;
    let mut rewards = RewardsServiceClient::with_interceptor(
        gateway.rewards.clone(),
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
