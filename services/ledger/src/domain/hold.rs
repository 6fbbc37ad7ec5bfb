//! The life of a hold: pending, then committed, voided or expired — once.

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

/// What to do with a hold on commit or void.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Move the held points: release the hold and transfer them.
    Commit,
    /// Release the hold; nothing moves.
    Release(HoldStatus),
    /// Already in the asked-for state: answer as before.
    Nothing,
}

/// Commit is allowed on a pending hold; a second commit answers as the first.
pub fn commit(stored: HoldStatus, expires_at: i64, now: i64) -> Result<Step, DomainError> {
    match stored.at(expires_at, now) {
        HoldStatus::Pending => Ok(Step::Commit),
        HoldStatus::Committed => Ok(Step::Nothing),
        HoldStatus::Expired if stored == HoldStatus::Pending => {
            Ok(Step::Release(HoldStatus::Expired))
        }
        HoldStatus::Expired => Err(DomainError::precondition(
            "HOLD_EXPIRED",
            "hold",
            "the hold expired before it was committed",
        )),
        HoldStatus::Voided => Err(DomainError::precondition(
            "HOLD_NOT_PENDING",
            "hold",
            "the hold was voided",
        )),
    }
}

/// Void is allowed on anything not committed; voiding twice is harmless.
pub fn void(stored: HoldStatus, expires_at: i64, now: i64) -> Result<Step, DomainError> {
    match stored.at(expires_at, now) {
        HoldStatus::Pending => Ok(Step::Release(HoldStatus::Voided)),
        HoldStatus::Expired if stored == HoldStatus::Pending => {
            Ok(Step::Release(HoldStatus::Expired))
        }
        HoldStatus::Voided | HoldStatus::Expired => Ok(Step::Nothing),
        HoldStatus::Committed => Err(DomainError::precondition(
            "HOLD_NOT_PENDING",
            "hold",
            "the hold was already committed",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_hold_commits_once() {
        assert_eq!(commit(HoldStatus::Pending, 100, 50), Ok(Step::Commit));
        assert_eq!(commit(HoldStatus::Committed, 100, 50), Ok(Step::Nothing));
    }

    #[test]
    fn an_expired_hold_is_released_not_committed() {
        assert_eq!(
            commit(HoldStatus::Pending, 100, 100),
            Ok(Step::Release(HoldStatus::Expired))
        );
        assert!(commit(HoldStatus::Expired, 100, 200).is_err());
    }

    #[test]
    fn void_is_idempotent_but_cannot_undo_a_commit() {
        assert_eq!(
            void(HoldStatus::Pending, 100, 50),
            Ok(Step::Release(HoldStatus::Voided))
        );
        assert_eq!(void(HoldStatus::Voided, 100, 50), Ok(Step::Nothing));
        assert!(void(HoldStatus::Committed, 100, 50).is_err());
        assert!(commit(HoldStatus::Voided, 100, 50).is_err());
    }
}
