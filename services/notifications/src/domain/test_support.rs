//! The notices more than one room's tests start from, spelled once: the
//! templates render them, and the consumer's tests build their events from them.

use super::Notice;

pub fn credited() -> Notice {
    Notice::PointsCredited {
        member_id: "m1".into(),
        currency: "stars".into(),
        amount: 5,
        balance: 25,
        reason: "purchase".into(),
    }
}

pub fn redeemed() -> Notice {
    Notice::RewardRedeemed {
        member_id: "m1".into(),
        redemption_id: "r1".into(),
        reward_id: "pastry".into(),
        reward_name: "Pastry".into(),
        currency: "stars".into(),
        price: 20,
        voucher_code: "PASTRY-7Q2X".into(),
    }
}
