//! The variables more than one room's tests start from, spelled once.

use serde_json::{Value, json};

/// A points credit's variables: 5 stars, 25 after.
pub fn credited() -> Value {
    json!({
        "event_id": "e1",
        "member_id": "m1",
        "currency": "stars",
        "amount": 5,
        "balance": 25,
        "reason": "purchase",
        "transfer_id": "t1",
        "member": {"member_id": "m1", "external_id": "alice", "locale": "en", "attributes": {}},
    })
}

/// A redemption's variables: a pastry.
pub fn redeemed() -> Value {
    json!({
        "event_id": "e2",
        "member_id": "m1",
        "redemption_id": "r1",
        "reward_id": "pastry",
        "reward_name": "Pastry",
        "currency": "stars",
        "price": 20,
        "voucher_code": "PASTRY-7Q2X",
        "member": {"member_id": "m1", "external_id": "alice", "locale": "en", "attributes": {}},
    })
}
