//! The ledger's rules, free of I/O.
//!
//! Invariants (checked by the store in one transaction per movement):
//! 1. Every movement is a transfer: one account debited, one credited, same amount.
//!    The sum of all balances of a currency is therefore always zero.
//! 2. Member wallets never go below zero and never spend held points:
//!    a debit or hold needs `available = balance - held >= amount`.
//!    System accounts (issuance, redemption) may go negative: issuance is the
//!    mirror image of every point ever given out.
//! 3. An idempotency key names one request forever: the same key and the same
//!    request return the first answer; the same key with another request is refused.
//! 4. A hold is pending until committed, voided, or past its expiry; only a
//!    pending, unexpired hold can be committed.

pub mod currency;
pub mod expiry;
pub mod hold;
pub mod requests;

/// Whose account it is. Owners are stored as `member:<id>` or `system:<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Member(String),
    /// Where points come from when they are given out.
    Issuance,
    /// Where points go when they are spent.
    Redemption,
}

impl Owner {
    pub fn key(&self) -> String {
        match self {
            Owner::Member(id) => format!("member:{id}"),
            Owner::Issuance => "system:issuance".into(),
            Owner::Redemption => "system:redemption".into(),
        }
    }

    /// System accounts mirror member balances and may be negative.
    pub fn allows_negative(&self) -> bool {
        !matches!(self, Owner::Member(_))
    }
}

/// A wallet's figures as a member sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Figures {
    pub total: i64,
    pub held: i64,
}

impl Figures {
    pub fn available(self) -> i64 {
        self.total - self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_member_wallets_refuse_to_go_negative() {
        assert!(!Owner::Member("m1".into()).allows_negative());
        assert!(Owner::Issuance.allows_negative());
        assert_eq!(Owner::Member("m1".into()).key(), "member:m1");
    }

    #[test]
    fn held_points_are_not_available() {
        let f = Figures {
            total: 100,
            held: 30,
        };
        assert_eq!(f.available(), 70);
    }
}
