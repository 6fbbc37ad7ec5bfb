//! What rewards publishes: `reward.redeemed` when a redemption completes. It
//! consumes `member.upserted` through the kit's member directory, as `CONSUMER`.

use questline_proto::events::{Event, RewardRedeemed, event::Payload};

use crate::store::entities::redemption;

pub const SOURCE: &str = "rewards";
/// The durable consumer on the bus, also the inbox's consumer key.
pub const CONSUMER: &str = "rewards";

/// The event for a redemption that just completed.
pub fn redeemed(r: &redemption::Model) -> Event {
    let payload = Payload::RewardRedeemed(RewardRedeemed {
        redemption_id: r.redemption_id.clone(),
        member_id: r.member_id.clone(),
        reward_id: r.reward_id.clone(),
        reward_name: r.reward_name.clone(),
        currency: r.currency.clone(),
        price: r.price,
        voucher_code: r.voucher_code.clone().unwrap_or_default(),
    });
    questline_kit::events::new_event(&r.tenant_id, SOURCE, &r.member_id, payload)
}
