//! The ledger's rules, free of I/O.
//!
//! Invariants (kept by `book`, written by the store in one transaction per batch):
//! 1. Every movement is a transfer of balanced legs: each leg debits one
//!    account and credits another of the same currency by the same amount.
//!    The balances of a currency therefore always sum to zero.
//! 2. Wallets and partner accounts never go below zero and never spend held
//!    points: a debit or hold needs `available = balance - held >= amount`.
//!    System accounts may go negative: issuance is the mirror image of every
//!    point given out. The one exception is a reversal of spent points in a
//!    currency whose `reversals_may_overdraw` says so.
//! 3. A wallet's lots hold exactly its positive balance: the sum of their
//!    remainders is `max(balance, 0)`. Debits draw the lots that expire first.
//! 4. An idempotency key names one request forever: the same key and the
//!    same request return the first answer; another request is refused,
//!    naming the first field that differs.
//! 5. A hold is pending until committed (all or part), voided, or past its
//!    expiry — once. Held points stay on the wallet and do not expire while
//!    the hold is pending.
//! 6. Transfers never change. A reversal is a new transfer, and no leg is
//!    ever reversed by more than its amount.

pub mod book;
pub mod currency;
pub mod expiry;
pub mod hold;
pub mod lots;
pub mod owner;
pub mod requests;
pub mod totals;

pub use owner::{Owner, SystemAccount};
pub use totals::Totals;

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
    fn held_points_are_not_available() {
        let f = Figures {
            total: 100,
            held: 30,
        };
        assert_eq!(f.available(), 70);
    }
}
