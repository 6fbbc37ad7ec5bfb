//! Rewards requests as domain values: every field is checked at once, and
//! what is wrong comes back as field violations.

use questline_kit::paging::{self, Page};
use questline_kit::{DomainError, Violations, fingerprint};
use questline_proto::rewards as pb;

use crate::domain::redemption::Redeem;
use crate::domain::reward::{NewReward, VoucherSource};
use crate::domain::voucher::pool_upload;

/// A reward's two ids, checked.
pub fn reward_ref(tenant_id: &str, reward_id: &str) -> Result<(), DomainError> {
    Violations::new()
        .id("tenant_id", tenant_id)
        .id("reward_id", reward_id)
        .finish()
}

/// A page of the catalogue.
pub fn listing(req: &pb::ListRewardsRequest) -> Result<Page, DomainError> {
    Violations::new().id("tenant_id", &req.tenant_id).finish()?;
    paging::parse(req.page_size, &req.page_token)
}

/// A redemption's two ids, checked.
pub fn redemption_ref(req: &pb::GetRedemptionRequest) -> Result<(), DomainError> {
    Violations::new()
        .id("tenant_id", &req.tenant_id)
        .id("redemption_id", &req.redemption_id)
        .finish()
}

pub fn new_reward(req: &pb::CreateRewardRequest) -> Result<NewReward, DomainError> {
    NewReward::validate(
        &req.tenant_id,
        &req.reward_id,
        &req.name,
        &req.currency,
        req.price,
        req.stock,
        voucher_source(req.voucher_source),
        fingerprint::of(req),
    )
}

/// The cleaned codes of an upload to the pool of a well-named reward.
pub fn voucher_codes(req: &pb::AddVoucherCodesRequest) -> Result<Vec<String>, DomainError> {
    reward_ref(&req.tenant_id, &req.reward_id)?;
    pool_upload(&req.codes)
}

pub fn redeem(req: &pb::RedeemRequest) -> Result<Redeem, DomainError> {
    Redeem::validate(
        &req.tenant_id,
        &req.redemption_id,
        &req.member_id,
        &req.reward_id,
        fingerprint::of(req),
    )
}

/// `None` for UNSPECIFIED or a value this version does not know.
fn voucher_source(value: i32) -> Option<VoucherSource> {
    match pb::VoucherSource::try_from(value) {
        Ok(pb::VoucherSource::Generated) => Some(VoucherSource::Generated),
        Ok(pb::VoucherSource::Pool) => Some(VoucherSource::Pool),
        Ok(pb::VoucherSource::Unspecified) | Err(_) => None,
    }
}
