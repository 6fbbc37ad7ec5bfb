//! Respect for the member: whether a message may go on a channel, and when.
//!
//! Rules:
//! 1. A member's preferences apply to every message: nothing goes on a
//!    channel they turned off, nor about a topic they turned off.
//! 2. A marketing message by email, push or SMS needs the member's consent
//!    for it (`marketing_email`, `push`, `sms` in their facts); a member
//!    not known here yet has given none. Transactional messages (points,
//!    a voucher code) need no consent and say so. The inbox is the app's
//!    own page: no consent is asked for it.
//! 3. Quiet hours, the programme's, in the member's time zone (else the
//!    programme's), hold a marketing message on the channels they name
//!    until they end, or drop it, by setting. Transactional messages go at
//!    once: they answer what the member just did.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::channels::{Channel, Purpose};

/// What a member turned off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    pub channels_off: Vec<Channel>,
    pub topics_off: Vec<String>,
}

/// Most topics a member may turn off.
pub const MOST_TOPICS_OFF: usize = 100;

/// Why a message was not sent to its member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ChannelOff,
    TopicOff,
    NoConsent,
}

impl Refusal {
    /// The reason recorded on the dispatch.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::ChannelOff => "CHANNEL_OFF",
            Refusal::TopicOff => "TOPIC_OFF",
            Refusal::NoConsent => "NO_CONSENT",
        }
    }
}

/// The consent purpose a marketing message on `channel` needs, if any.
pub fn consent_purpose(channel: Channel) -> Option<&'static str> {
    match channel {
        Channel::Inbox => None,
        Channel::Email => Some("marketing_email"),
        Channel::Push => Some("push"),
        Channel::Sms => Some("sms"),
    }
}

/// Why a message of `purpose` and `topic` may not go to a member with
/// these `facts` and `preferences` on `channel`; None when it may.
pub fn refusal(
    channel: Channel,
    purpose: Purpose,
    topic: &str,
    facts: &Map<String, Value>,
    preferences: &Preferences,
) -> Option<Refusal> {
    if preferences.channels_off.contains(&channel) {
        return Some(Refusal::ChannelOff);
    }
    if !topic.is_empty() && preferences.topics_off.iter().any(|t| t == topic) {
        return Some(Refusal::TopicOff);
    }
    let needed = consent_purpose(channel).filter(|_| purpose == Purpose::Marketing)?;
    let granted = facts
        .get("consent")
        .and_then(|c| c.get(needed))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    (!granted).then_some(Refusal::NoConsent)
}

/// The member's time zone if identity knows one that exists, else the
/// programme's.
pub fn zone_of<'a>(facts: &'a Map<String, Value>, programme_zone: &'a str) -> &'a str {
    facts
        .get("time_zone")
        .and_then(Value::as_str)
        .filter(|z| !z.is_empty() && jiff::tz::TimeZone::get(z).is_ok())
        .unwrap_or(programme_zone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(consent: Value) -> Map<String, Value> {
        json!({"locale": "en", "consent": consent})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn marketing_needs_the_channels_consent_transactional_does_not() {
        let none = facts(json!({"push": false, "sms": true}));
        let refused =
            |channel, purpose| refusal(channel, purpose, "", &none, &Preferences::default());
        assert_eq!(
            refused(Channel::Push, Purpose::Marketing),
            Some(Refusal::NoConsent)
        );
        assert_eq!(
            refused(Channel::Email, Purpose::Marketing),
            Some(Refusal::NoConsent)
        );
        assert_eq!(refused(Channel::Sms, Purpose::Marketing), None);
        assert_eq!(refused(Channel::Inbox, Purpose::Marketing), None);
        assert_eq!(refused(Channel::Push, Purpose::Transactional), None);
        // A member not known here has given nothing.
        let unknown = Map::new();
        let push = refusal(
            Channel::Push,
            Purpose::Marketing,
            "",
            &unknown,
            &Preferences::default(),
        );
        assert_eq!(push, Some(Refusal::NoConsent));
    }

    #[test]
    fn preferences_turn_off_channels_and_topics_whatever_the_purpose() {
        let all = facts(json!({"push": true, "sms": true, "marketing_email": true}));
        let prefs = Preferences {
            channels_off: vec![Channel::Sms],
            topics_off: vec!["offers".into()],
        };
        let refused =
            |channel, topic| refusal(channel, Purpose::Transactional, topic, &all, &prefs);
        assert_eq!(refused(Channel::Sms, "points"), Some(Refusal::ChannelOff));
        assert_eq!(refused(Channel::Push, "offers"), Some(Refusal::TopicOff));
        assert_eq!(refused(Channel::Inbox, "offers"), Some(Refusal::TopicOff));
        assert_eq!(refused(Channel::Push, "points"), None);
        assert_eq!(refused(Channel::Push, ""), None);
    }

    #[test]
    fn the_members_zone_comes_before_the_programmes() {
        let with = json!({"time_zone": "Asia/Singapore"})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(zone_of(&with, "Europe/London"), "Asia/Singapore");
        assert_eq!(zone_of(&Map::new(), "Europe/London"), "Europe/London");
        let made_up = json!({"time_zone": "Mars/Olympus"})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(zone_of(&made_up, "Europe/London"), "Europe/London");
    }
}
