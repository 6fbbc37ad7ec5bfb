//! Triggers: which events message a member, on which channels.
//!
//! Rules:
//! 1. Only an event about one member can trigger: points credited, debited
//!    or expired, a reward redeemed, and a rule's "emit message" action
//!    (named `rule.message.<message_type>`).
//! 2. A programme starts with the built-in triggers; its own trigger for an
//!    event type replaces the built-in one (a disabled one silences it).
//! 3. A trigger names at least one channel, each once, and only channels
//!    the installation can send on.

use questline_kit::{DomainError, Violations};

use super::channels::{Channel, Purpose};

/// The event types about one member that may trigger a message.
pub const MEMBER_EVENTS: &[&str] = &[
    "points.credited",
    "points.debited",
    "points.expired",
    "reward.redeemed",
];

/// A rule's message is triggered as this prefix and its `message_type`.
pub const RULE_MESSAGE: &str = "rule.message.";

/// What an event type sends, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub event_type: String,
    pub channels: Vec<Channel>,
    pub purpose: Purpose,
    /// What members may opt out of; empty: none.
    pub topic: String,
    pub enabled: bool,
}

impl Trigger {
    pub fn sends_on(&self, channel: Channel) -> bool {
        self.enabled && self.channels.contains(&channel)
    }
}

/// The triggers every programme starts with.
pub fn builtin() -> Vec<Trigger> {
    [
        ("points.credited", "points"),
        ("points.expired", "points"),
        ("reward.redeemed", "rewards"),
    ]
    .into_iter()
    .map(|(event_type, topic)| Trigger {
        event_type: event_type.into(),
        channels: vec![Channel::Inbox],
        purpose: Purpose::Transactional,
        topic: topic.into(),
        enabled: true,
    })
    .collect()
}

/// The built-in trigger of `event_type`, if there is one.
pub fn builtin_for(event_type: &str) -> Option<Trigger> {
    builtin().into_iter().find(|t| t.event_type == event_type)
}

/// Whether `event_type` names something that can trigger a message.
pub fn triggerable(event_type: &str) -> bool {
    if let Some(message_type) = event_type.strip_prefix(RULE_MESSAGE) {
        return is_message_type(message_type);
    }
    MEMBER_EVENTS.contains(&event_type)
}

/// A rule's message type as mechanics takes it, short enough to name:
/// 1 to 200 of letters, digits, '-', '_', '.', ':'.
fn is_message_type(name: &str) -> bool {
    (1..=200).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
}

/// Adds a violation unless `event_type` can trigger a message.
pub fn check_event_type(v: &mut Violations, field: &str, event_type: &str) {
    if event_type.is_empty() {
        v.add(field, "is required");
    } else if !triggerable(event_type) {
        v.add(
            field,
            format!(
                "must be one of {} or {RULE_MESSAGE}<message_type>",
                MEMBER_EVENTS.join(", ")
            ),
        );
    }
}

/// A trigger from a request, checked; `configured` are the channels the
/// installation can send on.
pub fn spec(mut trigger: Trigger, configured: &[Channel]) -> Result<Trigger, DomainError> {
    let mut v = Violations::new();
    check_event_type(&mut v, "event_type", &trigger.event_type);
    v.check(
        !trigger.channels.is_empty(),
        "channels",
        "must name at least one channel",
    );
    let mut seen = trigger.channels.clone();
    seen.sort();
    seen.dedup();
    v.check(
        seen.len() == trigger.channels.len(),
        "channels",
        "must name each channel once",
    );
    if !trigger.topic.is_empty() {
        v.id("topic", &trigger.topic);
    }
    v.finish()?;
    if let Some(missing) = trigger.channels.iter().find(|c| !configured.contains(c)) {
        return Err(DomainError::precondition(
            "CHANNEL_NOT_CONFIGURED",
            missing.name(),
            format!(
                "this installation has no {} provider configured",
                missing.name()
            ),
        ));
    }
    trigger.channels = seen;
    Ok(trigger)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(event_type: &str, channels: Vec<Channel>) -> Trigger {
        Trigger {
            event_type: event_type.into(),
            channels,
            purpose: Purpose::Marketing,
            topic: "birthdays".into(),
            enabled: true,
        }
    }

    #[test]
    fn member_events_and_rule_messages_trigger_nothing_else_does() {
        for ok in [
            "points.credited",
            "reward.redeemed",
            "rule.message.birthday_greeting",
        ] {
            assert!(triggerable(ok), "{ok}");
        }
        for no in [
            "member.erased",
            "rule.message.",
            "rule.message.a/b",
            "audit.recorded",
            "",
        ] {
            assert!(!triggerable(no), "{no}");
        }
    }

    #[test]
    fn a_trigger_names_configured_channels_each_once() {
        let inbox = [Channel::Inbox];
        let ok = spec(trigger("rule.message.hello", vec![Channel::Inbox]), &inbox);
        assert_eq!(ok.unwrap().channels, [Channel::Inbox]);
        let twice = spec(trigger("points.credited", vec![Channel::Inbox; 2]), &inbox);
        assert!(matches!(twice, Err(DomainError::Invalid(_))));
        let none = spec(trigger("points.credited", vec![]), &inbox);
        assert!(matches!(none, Err(DomainError::Invalid(_))));
        let email = spec(trigger("points.credited", vec![Channel::Email]), &inbox);
        assert!(matches!(
            email,
            Err(DomainError::FailedPrecondition {
                kind: "CHANNEL_NOT_CONFIGURED",
                ..
            })
        ));
        let unknown = spec(trigger("member.erased", vec![Channel::Inbox]), &inbox);
        assert!(matches!(unknown, Err(DomainError::Invalid(_))));
    }

    #[test]
    fn builtin_triggers_send_to_the_inbox() {
        let credited = builtin_for("points.credited").unwrap();
        assert!(credited.sends_on(Channel::Inbox));
        assert!(!credited.sends_on(Channel::Email));
        assert_eq!(builtin_for("points.debited"), None);
    }
}
