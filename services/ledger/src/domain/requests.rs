//! Validated requests: what the store may act on without checking again.

use questline_kit::{DomainError, Violations};

/// The largest single movement: keeps every sum far from `i64` overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
/// Transfers that commit a hold are keyed `hold:<hold id>`; callers may not
/// use the prefix, so their keys can never block a commit.
pub const HOLD_KEY_PREFIX: &str = "hold:";
pub const DEFAULT_HOLD_TTL_SECONDS: i64 = 300;
pub const MAX_HOLD_TTL_SECONDS: i64 = 86_400;

/// A credit, debit or hold of `amount` points for one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub tenant_id: String,
    pub member_id: String,
    pub currency: String,
    pub amount: i64,
    pub reason: String,
    pub idempotency_key: String,
    /// Fingerprint of the whole request, stored with the key.
    pub fingerprint: String,
}

impl Movement {
    #[allow(clippy::too_many_arguments)]
    pub fn validate(
        tenant_id: &str,
        member_id: &str,
        currency: &str,
        amount: i64,
        reason: &str,
        idempotency_key: &str,
        fingerprint: String,
    ) -> Result<Movement, DomainError> {
        Violations::new()
            .id("tenant_id", tenant_id)
            .id("member_id", member_id)
            .id("currency", currency)
            .positive("amount", amount)
            .check(amount <= MAX_AMOUNT, "amount", "must be at most 10^12")
            .optional_text("reason", reason)
            .text("idempotency_key", idempotency_key)
            .check(
                !idempotency_key.starts_with(HOLD_KEY_PREFIX),
                "idempotency_key",
                "must not start with the reserved prefix 'hold:'",
            )
            .finish()?;
        Ok(Movement {
            tenant_id: tenant_id.into(),
            member_id: member_id.into(),
            currency: currency.into(),
            amount,
            reason: reason.into(),
            idempotency_key: idempotency_key.into(),
            fingerprint,
        })
    }
}

/// The hold's lifetime in seconds: 0 means the default.
pub fn hold_ttl(ttl_seconds: i64) -> Result<i64, DomainError> {
    match ttl_seconds {
        0 => Ok(DEFAULT_HOLD_TTL_SECONDS),
        t if (1..=MAX_HOLD_TTL_SECONDS).contains(&t) => Ok(t),
        _ => Err(DomainError::invalid(
            "ttl_seconds",
            format!("must be between 1 and {MAX_HOLD_TTL_SECONDS}, or 0 for the default"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movement(amount: i64, key: &str) -> Result<Movement, DomainError> {
        Movement::validate("acme", "m1", "stars", amount, "", key, String::new())
    }

    #[test]
    fn amounts_must_be_positive_and_bounded() {
        assert!(movement(0, "k").is_err());
        assert!(movement(-5, "k").is_err());
        assert!(movement(MAX_AMOUNT + 1, "k").is_err());
        assert!(movement(5, "k").is_ok());
    }

    #[test]
    fn every_write_needs_an_idempotency_key() {
        let Err(DomainError::Invalid(v)) = movement(5, "") else {
            panic!("expected invalid")
        };
        assert_eq!(v[0].field, "idempotency_key");
    }

    #[test]
    fn the_commit_key_prefix_is_reserved() {
        assert!(movement(5, "hold:01a2").is_err());
        assert!(movement(5, "order-hold:1").is_ok());
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(movement(5, "k\u{0}").is_err());
        assert!(
            Movement::validate("acme", "m1", "stars", 5, "nul\u{0}", "k", String::new()).is_err()
        );
    }

    #[test]
    fn hold_ttl_has_a_default_and_bounds() {
        assert_eq!(hold_ttl(0), Ok(DEFAULT_HOLD_TTL_SECONDS));
        assert!(hold_ttl(-1).is_err());
        assert!(hold_ttl(MAX_HOLD_TTL_SECONDS + 1).is_err());
    }
}
