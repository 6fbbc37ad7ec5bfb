//! `questline.rewards.v1.RewardsService`: decode, authenticate, validate,
//! authorise, call the store or the redemption flow, encode the answer.

mod decode;
mod encode;

use questline_kit::DomainError;
use questline_kit::audit::Change;
use questline_kit::auth::{Caller, Scope, TokenVerifier};
use questline_proto::rewards as pb;
use questline_proto::rewards::rewards_service_server::{RewardsService, SERVICE_NAME};
use std::sync::Arc;
use tonic::{Request, Response};

use crate::flow::Redemptions;
use crate::store::{Store, Upload};

pub struct RewardsApi {
    store: Store,
    redemptions: Arc<Redemptions>,
    auth: Arc<TokenVerifier>,
}

impl RewardsApi {
    pub fn new(
        store: Store,
        redemptions: Arc<Redemptions>,
        auth: Arc<TokenVerifier>,
    ) -> RewardsApi {
        RewardsApi {
            store,
            redemptions,
            auth,
        }
    }
}

/// The audit entry for `method` on one reward.
fn audited(caller: &Caller, tenant_id: &str, method: &str, reward_id: &str) -> Change {
    let resource = format!("rewards/{reward_id}");
    Change::by(caller, tenant_id, SERVICE_NAME, method, resource)
}

#[tonic::async_trait]
impl RewardsService for RewardsApi {
    // Rewards: the catalogue and its voucher pools.

    async fn create_reward(
        &self,
        request: Request<pb::CreateRewardRequest>,
    ) -> tonic::Result<Response<pb::CreateRewardResponse>> {
        let caller = self.auth.caller(&request).await?;
        let r = decode::new_reward(request.get_ref())?;
        caller.require_admin(&r.tenant_id)?;
        let change = audited(&caller, &r.tenant_id, "CreateReward", &r.reward_id)
            .with("name", r.name.as_str())
            .with("currency", r.currency.as_str())
            .with("price", r.price)
            .with("stock", r.stock);
        let listing = self.store.create_reward(&r, &change).await?;
        Ok(Response::new(pb::CreateRewardResponse {
            reward: Some(encode::reward(listing)),
        }))
    }

    async fn get_reward(
        &self,
        request: Request<pb::GetRewardRequest>,
    ) -> tonic::Result<Response<pb::GetRewardResponse>> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        decode::reward_ref(&req.tenant_id, &req.reward_id)?;
        // The catalogue is the tenant's shop window: member apps read it too.
        caller.require(
            &req.tenant_id,
            &[Scope::Server, Scope::Admin, Scope::Member],
        )?;
        let listing = self.store.reward(&req.tenant_id, &req.reward_id).await?;
        Ok(Response::new(pb::GetRewardResponse {
            reward: Some(encode::reward(listing)),
        }))
    }

    async fn list_rewards(
        &self,
        request: Request<pb::ListRewardsRequest>,
    ) -> tonic::Result<Response<pb::ListRewardsResponse>> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let page = decode::listing(&req)?;
        caller.require(
            &req.tenant_id,
            &[Scope::Server, Scope::Admin, Scope::Member],
        )?;
        let (listings, next_page_token) = self.store.rewards(&req.tenant_id, &page).await?;
        Ok(Response::new(pb::ListRewardsResponse {
            rewards: listings.into_iter().map(encode::reward).collect(),
            next_page_token,
        }))
    }

    async fn add_voucher_codes(
        &self,
        request: Request<pb::AddVoucherCodesRequest>,
    ) -> tonic::Result<Response<pb::AddVoucherCodesResponse>> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let codes = decode::voucher_codes(&req)?;
        caller.require_admin(&req.tenant_id)?;
        let change = audited(&caller, &req.tenant_id, "AddVoucherCodes", &req.reward_id);
        let Upload {
            added,
            codes_available,
        } = self
            .store
            .add_voucher_codes(&req.tenant_id, &req.reward_id, &codes, &change)
            .await?;
        Ok(Response::new(pb::AddVoucherCodesResponse {
            added,
            codes_available,
        }))
    }

    // Redemptions: the flow over the ledger.

    async fn redeem(
        &self,
        request: Request<pb::RedeemRequest>,
    ) -> tonic::Result<Response<pb::RedeemResponse>> {
        let caller = self.auth.caller(&request).await?;
        let r = decode::redeem(request.get_ref())?;
        caller.require_member_access(&r.tenant_id, &r.member_id)?;
        let row = self.redemptions.redeem(&caller.token, &r).await?;
        Ok(Response::new(pb::RedeemResponse {
            redemption: Some(encode::redemption(row)),
        }))
    }

    async fn get_redemption(
        &self,
        request: Request<pb::GetRedemptionRequest>,
    ) -> tonic::Result<Response<pb::GetRedemptionResponse>> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        decode::redemption_ref(&req)?;
        caller.require(
            &req.tenant_id,
            &[Scope::Server, Scope::Admin, Scope::Member],
        )?;
        let not_found =
            || DomainError::NotFound(format!("redemption {} not found", req.redemption_id));
        let row = self
            .store
            .redemption(&req.tenant_id, &req.redemption_id)
            .await?
            .ok_or_else(not_found)?;
        // Another member's redemption is not there for a member app.
        if caller
            .require_member_access(&req.tenant_id, &row.member_id)
            .is_err()
        {
            return Err(not_found().into());
        }
        Ok(Response::new(pb::GetRedemptionResponse {
            redemption: Some(encode::redemption(row)),
        }))
    }

    // Members: what rewards holds about one.

    async fn export_member(
        &self,
        request: Request<pb::ExportMemberRequest>,
    ) -> tonic::Result<Response<pb::ExportMemberResponse>> {
        let members = self.redemptions.members();
        questline_kit::export::handle(&self.auth, members, request, async |t, m| {
            self.store.export_member(t, m).await
        })
        .await
    }
}
