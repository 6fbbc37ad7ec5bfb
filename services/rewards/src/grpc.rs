//! `questline.rewards.v1.RewardsService`: decode, authenticate, validate,
//! authorise, call the store or the saga, map the answer.

use questline_kit::audit::Change;
use questline_kit::auth::{Caller, Scope, TokenVerifier};
use questline_kit::time::to_timestamp;
use questline_kit::{Violations, fingerprint};
use questline_proto::rewards::rewards_service_server::{RewardsService, SERVICE_NAME};
use questline_proto::rewards::{self as pb};
use std::sync::Arc;
use tonic::{Request, Response, Status};

use crate::domain::redemption::{self, Redeem};
use crate::domain::reward::{NewReward, VoucherSource};
use crate::domain::voucher::pool_upload;
use crate::saga::Redemptions;
use crate::store::entities::redemption as redemption_row;
use crate::store::{Listing, Store, Upload};

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

type Answer<T> = Result<Response<T>, Status>;

/// The audit entry for `method` on one reward.
fn audited(caller: &Caller, tenant_id: &str, method: &str, reward_id: &str) -> Change {
    let resource = format!("rewards/{reward_id}");
    Change::by(caller, tenant_id, SERVICE_NAME, method, resource)
}

#[tonic::async_trait]
impl RewardsService for RewardsApi {
    async fn create_reward(
        &self,
        request: Request<pb::CreateRewardRequest>,
    ) -> Answer<pb::CreateRewardResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let r = NewReward::validate(
            &req.tenant_id,
            &req.reward_id,
            &req.name,
            &req.currency,
            req.price,
            req.stock,
            voucher_source(req.voucher_source),
            fingerprint::of(&req),
        )?;
        caller.require_admin(&r.tenant_id)?;
        let change = audited(&caller, &r.tenant_id, "CreateReward", &r.reward_id)
            .with("name", r.name.as_str())
            .with("currency", r.currency.as_str())
            .with("price", r.price)
            .with("stock", r.stock);
        let listing = self.store.create_reward(&r, &change).await?;
        Ok(Response::new(pb::CreateRewardResponse {
            reward: Some(reward_pb(listing)),
        }))
    }

    async fn get_reward(
        &self,
        request: Request<pb::GetRewardRequest>,
    ) -> Answer<pb::GetRewardResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        reward_ref(&req.tenant_id, &req.reward_id)?;
        // The catalogue is the tenant's shop window: member apps read it too.
        caller.require(
            &req.tenant_id,
            &[Scope::Server, Scope::Admin, Scope::Member],
        )?;
        let listing = self.store.reward(&req.tenant_id, &req.reward_id).await?;
        Ok(Response::new(pb::GetRewardResponse {
            reward: Some(reward_pb(listing)),
        }))
    }

    async fn add_voucher_codes(
        &self,
        request: Request<pb::AddVoucherCodesRequest>,
    ) -> Answer<pb::AddVoucherCodesResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        reward_ref(&req.tenant_id, &req.reward_id)?;
        let codes = pool_upload(&req.codes)?;
        caller.require_admin(&req.tenant_id)?;
        let Upload {
            added,
            codes_available,
        } = self
            .store
            .add_voucher_codes(
                &req.tenant_id,
                &req.reward_id,
                &codes,
                &audited(&caller, &req.tenant_id, "AddVoucherCodes", &req.reward_id),
            )
            .await?;
        Ok(Response::new(pb::AddVoucherCodesResponse {
            added,
            codes_available,
        }))
    }

    async fn redeem(&self, request: Request<pb::RedeemRequest>) -> Answer<pb::RedeemResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let r = Redeem::validate(
            &req.tenant_id,
            &req.redemption_id,
            &req.member_id,
            &req.reward_id,
            fingerprint::of(&req),
        )?;
        caller.require_member_access(&r.tenant_id, &r.member_id)?;
        let row = self.redemptions.redeem(&caller.token, &r).await?;
        Ok(Response::new(pb::RedeemResponse {
            redemption: Some(redemption_pb(row)),
        }))
    }

    async fn export_member(
        &self,
        request: Request<pb::ExportMemberRequest>,
    ) -> Answer<pb::ExportMemberResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let (tenant_id, member_id) = (&req.tenant_id, &req.member_id);
        questline_kit::export::authorise(&caller, self.redemptions.members(), tenant_id, member_id)
            .await?;
        let data = self.store.export_member(tenant_id, member_id).await?;
        Ok(Response::new(pb::ExportMemberResponse {
            data: Some(data.into_struct()),
        }))
    }
}

fn reward_ref(tenant_id: &str, reward_id: &str) -> Result<(), Status> {
    Ok(Violations::new()
        .id("tenant_id", tenant_id)
        .id("reward_id", reward_id)
        .finish()?)
}

/// `None` for UNSPECIFIED or a value this version does not know.
fn voucher_source(value: i32) -> Option<VoucherSource> {
    match pb::VoucherSource::try_from(value) {
        Ok(pb::VoucherSource::Generated) => Some(VoucherSource::Generated),
        Ok(pb::VoucherSource::Pool) => Some(VoucherSource::Pool),
        Ok(pb::VoucherSource::Unspecified) | Err(_) => None,
    }
}

fn reward_pb(l: Listing) -> pb::Reward {
    let r = l.reward;
    let source = match VoucherSource::parse(&r.voucher_source) {
        Ok(VoucherSource::Generated) => pb::VoucherSource::Generated,
        Ok(VoucherSource::Pool) => pb::VoucherSource::Pool,
        Err(_) => pb::VoucherSource::Unspecified,
    };
    pb::Reward {
        reward_id: r.reward_id,
        tenant_id: r.tenant_id,
        name: r.name,
        currency: r.currency,
        price: r.price,
        stock: r.stock,
        voucher_source: source as i32,
        codes_available: l.codes_available,
        create_time: Some(to_timestamp(r.created_at)),
    }
}

fn redemption_pb(r: redemption_row::Model) -> pb::Redemption {
    let status = match redemption::Status::parse(&r.status) {
        Ok(redemption::Status::Pending) => pb::RedemptionStatus::Pending,
        Ok(redemption::Status::Completed) => pb::RedemptionStatus::Completed,
        Ok(redemption::Status::Failed) => pb::RedemptionStatus::Failed,
        Err(_) => pb::RedemptionStatus::Unspecified,
    };
    pb::Redemption {
        redemption_id: r.redemption_id,
        tenant_id: r.tenant_id,
        member_id: r.member_id,
        reward_id: r.reward_id,
        currency: r.currency,
        price: r.price,
        status: status as i32,
        voucher_code: r.voucher_code.unwrap_or_default(),
        create_time: Some(to_timestamp(r.created_at)),
    }
}
