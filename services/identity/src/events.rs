//! What identity publishes: `member.upserted`, so other services keep their
//! own read model of members instead of calling identity on the hot path.

use questline_proto::events::{Event, MemberUpserted, event::Payload};
use std::collections::BTreeMap;

use crate::store::entities::member;

pub const SOURCE: &str = "identity";

pub fn member_upserted(row: &member::Model, profile: &BTreeMap<String, String>) -> Event {
    let payload = Payload::MemberUpserted(MemberUpserted {
        member_id: row.member_id.clone(),
        external_id: row.external_id.clone(),
        profile: profile.clone(),
    });
    questline_kit::events::new_event(&row.tenant_id, SOURCE, &row.member_id, payload)
}
