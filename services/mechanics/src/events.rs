//! What the rules engine publishes — `rule.changed` for every rule change,
//! `rule.message` for each "emit message" action, and audit entries — and
//! what it consumes: `member.upserted`, into its member read model (see
//! `questline_kit::members`).

use questline_kit::events::new_event;
use questline_proto::events::{Event, RuleChanged, RuleMessage, event::Payload};

use crate::domain::track::Track;
use crate::store::entities::rule;

/// The `source` of the events it writes.
pub const SOURCE: &str = "mechanics";

/// The inbox name of this service's consumers.
pub const CONSUMER: &str = "mechanics";

/// `action` is the audited gRPC method; the event names its last part.
pub fn rule_changed(head: &rule::Model, action: &str) -> Event {
    let change = action.rsplit('/').next().unwrap_or(action);
    let payload = Payload::RuleChanged(RuleChanged {
        rule_id: head.rule_id.clone(),
        version: head.version,
        status: head.status.clone(),
        change: change.into(),
    });
    new_event(&head.tenant_id, SOURCE, "", payload)
}

pub fn rule_message(t: &Track, rule_id: &str, rule_version: i32, message_type: &str) -> Event {
    let payload = Payload::RuleMessage(RuleMessage {
        member_id: t.member_id.clone(),
        message_type: message_type.into(),
        rule_id: rule_id.into(),
        rule_version,
        event_id: t.event_id.clone(),
        event_type: t.event_type.clone(),
        attributes: Some(questline_kit::structs::from_json(&t.attributes)),
    });
    new_event(&t.tenant_id, SOURCE, &t.member_id, payload)
}
