//! What the rules engine publishes — `rule.changed` for every rule change,
//! `rule.message` for each "emit message" action, and audit entries — and
//! what it consumes: `member.*` events, into its member read model (see
//! `questline_kit::members`); `member.erased` also makes the store forget
//! the member; `segment.changed`, the segments rules read as
//! `member.segments`.

use async_trait::async_trait;
use questline_kit::DomainError;
use questline_kit::bus::EventHandler;
use questline_kit::events::new_event;
use questline_kit::members::MemberDirectory;
use questline_kit::time::from_timestamp;
use questline_proto::events::{Event, RuleChanged, RuleMessage, event::Payload};

use crate::domain::track::Track;
use crate::store::Store;
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

/// The bus consumer: the member read model, erasure, and segments.
pub struct Members {
    pub directory: MemberDirectory,
    pub store: Store,
}

#[async_trait]
impl EventHandler for Members {
    fn wants(&self, event: &Event) -> bool {
        // The read model's events include `member.erased`.
        matches!(event.payload, Some(Payload::SegmentChanged(_))) || self.directory.wants(event)
    }

    async fn handle(&self, event: &Event) -> Result<(), DomainError> {
        // Forgotten before the read model marks the erasure, so whoever
        // sees the member erased finds nothing of them left here.
        match &event.payload {
            Some(Payload::MemberErased(erased)) => {
                self.store
                    .forget(&event.tenant_id, &erased.member_id)
                    .await?;
            }
            Some(Payload::SegmentChanged(s)) => {
                let at = event.time.as_ref().map(from_timestamp).unwrap_or_default();
                let store = &self.store;
                return store
                    .keep_segment(&event.tenant_id, &s.segment_id, &s.predicate, s.deleted, at)
                    .await;
            }
            _ => {}
        }
        self.directory.handle(event).await
    }
}
