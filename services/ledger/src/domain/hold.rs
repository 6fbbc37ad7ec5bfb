//! The life of a hold: pending, then committed, voided or expired — once
//! (see `book::holds`).

use questline_kit::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    Pending,
    Committed,
    Voided,
    Expired,
}

impl HoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Pending => "pending",
            HoldStatus::Committed => "committed",
            HoldStatus::Voided => "voided",
            HoldStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Result<HoldStatus, DomainError> {
        match s {
            "pending" => Ok(HoldStatus::Pending),
            "committed" => Ok(HoldStatus::Committed),
            "voided" => Ok(HoldStatus::Voided),
            "expired" => Ok(HoldStatus::Expired),
            other => Err(DomainError::internal(format!(
                "unknown hold status {other}"
            ))),
        }
    }

    /// The status as of `now`: a pending hold past its expiry has expired.
    pub fn at(self, expires_at: i64, now: i64) -> HoldStatus {
        if self == HoldStatus::Pending && now >= expires_at {
            HoldStatus::Expired
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_as_stored_and_an_unknown_one_is_refused() {
        for status in [
            HoldStatus::Pending,
            HoldStatus::Committed,
            HoldStatus::Voided,
            HoldStatus::Expired,
        ] {
            assert_eq!(HoldStatus::parse(status.as_str()), Ok(status));
        }
        assert!(HoldStatus::parse("held").is_err());
    }

    #[test]
    fn a_pending_hold_past_its_expiry_reads_as_expired_and_an_ended_one_stays() {
        assert_eq!(HoldStatus::Pending.at(100, 99), HoldStatus::Pending);
        assert_eq!(HoldStatus::Pending.at(100, 100), HoldStatus::Expired);
        assert_eq!(HoldStatus::Committed.at(100, 500), HoldStatus::Committed);
        assert_eq!(HoldStatus::Voided.at(100, 500), HoldStatus::Voided);
    }
}
