//! What the ledger publishes: `points.credited` when a wallet grows,
//! `points.debited` when it shrinks, `points.expired` when points reach their
//! expiry. It consumes `member.upserted` into its member read model (see
//! `questline_kit::members`).

use questline_proto::events::{
    Event, PointsCredited, PointsDebited, PointsExpired, event::Payload,
};

use crate::domain::book::{Notice, NoticeKind};

pub const SOURCE: &str = "ledger";
/// The ledger's bus consumer and inbox name.
pub const CONSUMER: &str = "ledger";

/// `points.credited` and `points.debited` carry the same fields.
macro_rules! moved {
    ($event:ident, $n:expr) => {
        $event {
            member_id: $n.member_id.clone(),
            currency: $n.currency.clone(),
            amount: $n.amount,
            transfer_id: $n.transfer_id.clone(),
            reason: $n.reason.clone(),
            balance: $n.balance,
        }
    };
}

pub fn notice(n: &Notice) -> Event {
    let payload = match n.kind {
        NoticeKind::Credited => Payload::PointsCredited(moved!(PointsCredited, n)),
        NoticeKind::Debited => Payload::PointsDebited(moved!(PointsDebited, n)),
        NoticeKind::Expired => Payload::PointsExpired(PointsExpired {
            member_id: n.member_id.clone(),
            currency: n.currency.clone(),
            amount: n.amount,
            transfer_id: n.transfer_id.clone(),
            balance: n.balance,
        }),
    };
    questline_kit::events::new_event(&n.tenant_id, SOURCE, &n.member_id, payload)
}
