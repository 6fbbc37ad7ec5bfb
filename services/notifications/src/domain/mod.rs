//! What notifies a member, and the words it uses. Pure: no I/O.
//!
//! Rules:
//! 1. Only the events a member cares about notify: points credited to them,
//!    points of theirs that expired, and rewards they redeemed. Every other
//!    event is left alone.
//! 2. One event gives at most one inbox message (the store enforces it).
//! 3. A template that cannot render is an error, never a half-filled message:
//!    a missing variable fails instead of printing nothing.

pub mod templates;
#[cfg(test)]
pub(crate) mod test_support;
pub mod webhooks;

use serde::Serialize;

/// The locale used when the member's own has no template.
pub const DEFAULT_LOCALE: &str = "en";

/// An event worth telling the member about, with what its templates may say.
/// Its fields are the template variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Notice {
    PointsCredited {
        member_id: String,
        currency: String,
        amount: i64,
        /// The wallet total after the credit.
        balance: i64,
        reason: String,
    },
    PointsExpired {
        member_id: String,
        currency: String,
        amount: i64,
        /// The wallet total after the expiry.
        balance: i64,
    },
    RewardRedeemed {
        member_id: String,
        redemption_id: String,
        reward_id: String,
        reward_name: String,
        currency: String,
        price: i64,
        voucher_code: String,
    },
}

impl Notice {
    /// The domain event type it comes from; templates are chosen by it.
    pub fn event_type(&self) -> &'static str {
        match self {
            Notice::PointsCredited { .. } => "points.credited",
            Notice::PointsExpired { .. } => "points.expired",
            Notice::RewardRedeemed { .. } => "reward.redeemed",
        }
    }

    /// Whose inbox it goes to.
    pub fn member_id(&self) -> &str {
        match self {
            Notice::PointsCredited { member_id, .. }
            | Notice::PointsExpired { member_id, .. }
            | Notice::RewardRedeemed { member_id, .. } => member_id,
        }
    }
}

/// A rendered message, ready for the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub title: String,
    pub body: String,
}
