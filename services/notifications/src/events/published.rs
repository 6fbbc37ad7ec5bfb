//! What notifications publishes, staged in the same transaction as the
//! change: `message.dispatched` when a message settles on a channel, and
//! `message_preferences.changed` when a member's preferences change. Never
//! an address or the message's words: analytics and the brand's webhooks
//! learn what happened, not what was said.

use questline_kit::events::new_event;
use questline_proto::events::{
    Event, MessageDispatched, MessagePreferencesChanged, event::Payload,
};

use crate::domain::respect::Preferences;
use crate::store::Delivery;
use crate::store::dispatches::{SENT, SUPPRESSED};
use crate::store::entities::dispatch;

/// The `source` of the events it writes.
pub const SOURCE: &str = "notifications";

/// An email, push or SMS dispatch settled as its row now says.
pub fn dispatch_settled(d: &dispatch::Model) -> Event {
    let payload = Payload::MessageDispatched(MessageDispatched {
        member_id: d.member_id.clone(),
        dispatch_id: d.dispatch_id.clone(),
        channel: d.channel.clone(),
        purpose: d.purpose.clone(),
        topic: d.topic.clone(),
        status: d.status.clone(),
        reason: d.reason.clone(),
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        attempts: d.attempts,
    });
    new_event(&d.tenant_id, SOURCE, &d.member_id, payload)
}

/// An inbox message put: `message_id` is the stored message.
pub fn inbox_put(to: &Delivery<'_>, message_id: &str) -> Event {
    inbox_settled(to, message_id, SENT, "")
}

/// An inbox message held back for `reason`; nothing was stored.
pub fn inbox_held_back(to: &Delivery<'_>, reason: &str) -> Event {
    inbox_settled(to, "", SUPPRESSED, reason)
}

fn inbox_settled(to: &Delivery<'_>, message_id: &str, status: &str, reason: &str) -> Event {
    let payload = Payload::MessageDispatched(MessageDispatched {
        member_id: to.member_id.into(),
        dispatch_id: message_id.into(),
        channel: to.channel.name().into(),
        purpose: to.purpose.name().into(),
        topic: to.topic.into(),
        status: status.into(),
        reason: reason.into(),
        event_id: to.event_id.into(),
        event_type: to.event_type.into(),
        attempts: 0,
    });
    new_event(to.tenant_id, SOURCE, to.member_id, payload)
}

/// How a member's preferences were changed, as the event names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferencesChange {
    /// UpdateMessagePreferences, by the member's app or a backend.
    Api,
    /// One click on an email's unsubscribe link.
    UnsubscribeLink,
}

impl PreferencesChange {
    fn name(self) -> &'static str {
        match self {
            PreferencesChange::Api => "api",
            PreferencesChange::UnsubscribeLink => "unsubscribe_link",
        }
    }
}

/// A member's preferences, as they are after `change` (`version`).
pub fn preferences_changed(
    tenant_id: &str,
    member_id: &str,
    now: &Preferences,
    version: i32,
    change: PreferencesChange,
) -> Event {
    let payload = Payload::MessagePreferencesChanged(MessagePreferencesChanged {
        member_id: member_id.into(),
        channels_off: now.channels_off.iter().map(|c| c.name().into()).collect(),
        topics_off: now.topics_off.clone(),
        version,
        change: change.name().into(),
    });
    new_event(tenant_id, SOURCE, member_id, payload)
}
