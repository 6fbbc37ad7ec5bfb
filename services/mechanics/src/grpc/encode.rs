//! The rules engine's answers as protobuf.

use questline_kit::time::to_timestamp;
use questline_proto::mechanics as pb;

use crate::store::Tracked;
use crate::store::entities::rule;

pub fn rule(r: rule::Model) -> pb::Rule {
    pb::Rule {
        rule_id: r.rule_id,
        tenant_id: r.tenant_id,
        name: r.name,
        event_type: r.event_type,
        condition: r.condition,
        points: r.points,
        currency: r.currency,
        active: r.active,
        create_time: Some(to_timestamp(r.created_at)),
    }
}

/// The answer to Track, the same for the first call and every replay: the
/// event's awards with the ledger transfer that carried each.
pub fn tracked(tracked: Tracked) -> pb::TrackResponse {
    pb::TrackResponse {
        event_id: tracked.event.event_id,
        awards: tracked
            .awards
            .into_iter()
            .map(|a| pb::Award {
                rule_id: a.rule_id,
                currency: a.currency,
                points: a.points,
                transfer_id: a.transfer_id.unwrap_or_default(),
            })
            .collect(),
    }
}
