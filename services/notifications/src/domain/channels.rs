//! Where a message goes, and why it is sent.

use serde::{Deserialize, Serialize};

/// A channel a member is messaged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Inbox,
    Email,
    Push,
    Sms,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Channel::Inbox, Channel::Email, Channel::Push, Channel::Sms];

    /// The name stored and shown, e.g. "inbox".
    pub fn name(self) -> &'static str {
        match self {
            Channel::Inbox => "inbox",
            Channel::Email => "email",
            Channel::Push => "push",
            Channel::Sms => "sms",
        }
    }

    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether a template's `subject` means something here (SMS has none).
    pub fn has_subject(self) -> bool {
        self != Channel::Sms
    }

    /// Whether a template may carry an HTML part.
    pub fn has_html(self) -> bool {
        self == Channel::Email
    }
}

/// Why a message is sent: marketing needs the member's consent for the
/// channel; a transactional message (points, vouchers) goes regardless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    Transactional,
    Marketing,
}

impl Purpose {
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Transactional => "transactional",
            Purpose::Marketing => "marketing",
        }
    }

    pub fn parse(name: &str) -> Option<Purpose> {
        [Purpose::Transactional, Purpose::Marketing]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.name()), Some(channel));
        }
        assert_eq!(Purpose::parse("marketing"), Some(Purpose::Marketing));
        assert_eq!(Channel::parse("fax"), None);
    }
}
