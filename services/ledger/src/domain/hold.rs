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
