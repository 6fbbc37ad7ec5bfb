//! The catalogue's and the redemptions' answers as protobuf.

use questline_kit::time::to_timestamp;
use questline_proto::rewards as pb;

use crate::domain::redemption::Status;
use crate::domain::reward::VoucherSource;
use crate::store::Listing;
use crate::store::entities::redemption as redemption_row;

pub fn reward(l: Listing) -> pb::Reward {
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

pub fn redemption(r: redemption_row::Model) -> pb::Redemption {
    let status = match Status::parse(&r.status) {
        Ok(Status::Pending) => pb::RedemptionStatus::Pending,
        Ok(Status::Completed) => pb::RedemptionStatus::Completed,
        Ok(Status::Failed) => pb::RedemptionStatus::Failed,
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
