//! What the ledger publishes: `points.credited` when a wallet grows,
//! `points.debited` when it shrinks. It consumes `member.upserted` into its
//! member read model (see `questline_kit::members`).

use questline_proto::events::{Event, PointsCredited, PointsDebited, event::Payload};

use crate::domain::Owner;
use crate::domain::requests::Movement;

pub const SOURCE: &str = "ledger";
/// The ledger's bus consumer and inbox name.
pub const CONSUMER: &str = "ledger";

/// The event for a movement that left `from`: a debit if it left the member.
pub fn movement(m: &Movement, from: &Owner, transfer_id: &str, balance: i64) -> Event {
    let payload = if matches!(from, Owner::Member(_)) {
        Payload::PointsDebited(PointsDebited {
            member_id: m.member_id.clone(),
            currency: m.currency.clone(),
            amount: m.amount,
            transfer_id: transfer_id.into(),
            reason: m.reason.clone(),
            balance,
        })
    } else {
        Payload::PointsCredited(PointsCredited {
            member_id: m.member_id.clone(),
            currency: m.currency.clone(),
            amount: m.amount,
            transfer_id: transfer_id.into(),
            reason: m.reason.clone(),
            balance,
        })
    };
    questline_kit::events::new_event(&m.tenant_id, SOURCE, &m.member_id, payload)
}
