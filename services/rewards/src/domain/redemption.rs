//! A redemption request, what it asks of the ledger, and its lifecycle status.

use questline_kit::{DomainError, Violations};

/// How long the ledger keeps the points reserved while the voucher is issued.
pub const HOLD_TTL_SECONDS: i64 = 300;

/// A validated Redeem request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeem {
    pub tenant_id: String,
    pub redemption_id: String,
    pub member_id: String,
    pub reward_id: String,
    /// Fingerprint of the whole request, stored with the redemption id.
    pub fingerprint: String,
}

impl Redeem {
    pub fn validate(
        tenant_id: &str,
        redemption_id: &str,
        member_id: &str,
        reward_id: &str,
        fingerprint: String,
    ) -> Result<Redeem, DomainError> {
        Violations::new()
            .id("tenant_id", tenant_id)
            .id("redemption_id", redemption_id)
            .id("member_id", member_id)
            .id("reward_id", reward_id)
            .finish()?;
        Ok(Redeem {
            tenant_id: tenant_id.into(),
            redemption_id: redemption_id.into(),
            member_id: member_id.into(),
            reward_id: reward_id.into(),
            fingerprint,
        })
    }
}

/// One hold per redemption, ever: a resumed redemption finds the hold it created before.
pub fn hold_key(redemption_id: &str) -> String {
    questline_kit::fingerprint::key_of("redeem:", &[redemption_id])
}

/// What the member's history shows for the held points, cut to the ledger's limit.
pub fn hold_reason(reward_name: &str) -> String {
    questline_kit::error::clip(&format!("redeem {reward_name}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Completed,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Result<Status, DomainError> {
        match s {
            "pending" => Ok(Status::Pending),
            "completed" => Ok(Status::Completed),
            "failed" => Ok(Status::Failed),
            other => Err(DomainError::internal(format!(
                "unknown redemption status {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use questline_kit::error::MAX_TEXT;

    fn redeem(redemption_id: &str) -> Result<Redeem, DomainError> {
        Redeem::validate("acme", redemption_id, "m1", "pastry", String::new())
    }

    #[test]
    fn any_valid_redemption_id_gives_a_hold_key_the_ledger_accepts() {
        let longest = "r".repeat(MAX_TEXT);
        assert!(redeem(&longest).is_ok());
        assert!(redeem(&format!("{longest}r")).is_err());
        assert!(hold_key(&longest).len() <= MAX_TEXT);
        assert_eq!(hold_key("r-1"), hold_key("r-1"));
    }

    #[test]
    fn every_id_is_checked() {
        let Err(DomainError::Invalid(v)) = Redeem::validate("", "r 1", "", "", String::new())
        else {
            panic!("expected invalid")
        };
        let fields: Vec<_> = v.into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            ["tenant_id", "redemption_id", "member_id", "reward_id"]
        );
    }

    #[test]
    fn the_hold_reason_fits_the_ledger() {
        assert_eq!(hold_reason("Pizza"), "redeem Pizza");
        assert_eq!(hold_reason(&"é".repeat(MAX_TEXT)).chars().count(), MAX_TEXT);
    }

    #[test]
    fn statuses_round_trip_through_storage() {
        for s in [Status::Pending, Status::Completed, Status::Failed] {
            assert_eq!(Status::parse(s.as_str()), Ok(s));
        }
        assert!(Status::parse("lost").is_err());
    }
}
