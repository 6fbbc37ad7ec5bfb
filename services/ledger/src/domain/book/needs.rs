//! What a command needs loaded before the book can carry it out.

use super::{AccountKey, Book, Command};
use crate::domain::Owner;

impl Command {
    /// The hold it acts on, loaded first: its wallet is only known after.
    pub fn hold_id(&self) -> Option<&str> {
        match self {
            Command::CommitHold { hold_id, .. } | Command::VoidHold { hold_id, .. } => {
                Some(hold_id)
            }
            _ => None,
        }
    }

    /// The transfer it reverses, loaded first for the same reason.
    pub fn reversed_transfer(&self) -> Option<(&str, &str)> {
        match self {
            Command::Reverse(spec) => Some((&spec.tenant_id, &spec.transfer_id)),
            _ => None,
        }
    }

    /// `(tenant, key)` of a write that may be a replay.
    pub fn transfer_key(&self) -> Option<(&str, &str)> {
        match self {
            Command::Transfer(spec) => Some((&spec.tenant_id, &spec.idempotency_key)),
            Command::Reverse(spec) => Some((&spec.tenant_id, &spec.idempotency_key)),
            _ => None,
        }
    }

    pub fn hold_key(&self) -> Option<(&str, &str)> {
        match self {
            Command::CreateHold(spec) => Some((&spec.tenant_id, &spec.idempotency_key)),
            _ => None,
        }
    }

    /// Every account it may touch, once its hold or original transfer is
    /// in `book`.
    pub fn accounts(&self, book: &Book) -> Vec<AccountKey> {
        let mut keys = match self {
            Command::Transfer(spec) => {
                let legs = spec.legs.iter();
                both_sides(
                    &spec.tenant_id,
                    legs.map(|l| (&l.currency, &l.debit, &l.credit)),
                )
            }
            Command::Reverse(spec) => book
                .transfer(&spec.transfer_id)
                .map(|t| {
                    let legs = t.legs.iter();
                    both_sides(
                        &t.tenant_id,
                        legs.map(|l| (&l.currency, &l.debit, &l.credit)),
                    )
                })
                .unwrap_or_default(),
            Command::CreateHold(spec) => vec![spec.wallet()],
            Command::CommitHold { hold_id, .. } | Command::VoidHold { hold_id, .. } => book
                .hold(hold_id)
                .map(|h| {
                    let redemption = AccountKey::new(&h.tenant_id, &h.currency, Owner::REDEMPTION);
                    vec![h.wallet(), redemption]
                })
                .unwrap_or_default(),
            Command::OpenAccount { key, .. }
            | Command::CloseAccount { key }
            | Command::Sweep { key } => vec![key.clone()],
        };
        // Expiring drawn wallets moves points to breakage.
        for wallet in self.drawn(book) {
            keys.push(AccountKey {
                owner: Owner::BREAKAGE,
                ..wallet
            });
        }
        keys
    }

    /// The wallets it may take points from: their lots and due holds are
    /// loaded, and what is due on them expires before the batch runs.
    pub fn drawn(&self, book: &Book) -> Vec<AccountKey> {
        let keys = match self {
            Command::Transfer(spec) => spec
                .legs
                .iter()
                .map(|l| AccountKey::new(&spec.tenant_id, &l.currency, l.debit.clone()))
                .collect(),
            Command::Reverse(spec) => book
                .transfer(&spec.transfer_id)
                .map(|t| {
                    t.legs
                        .iter()
                        .map(|l| AccountKey::new(&t.tenant_id, &l.currency, l.credit.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            Command::CreateHold(spec) => vec![spec.wallet()],
            Command::CommitHold { hold_id, .. } | Command::VoidHold { hold_id, .. } => book
                .hold(hold_id)
                .map(|h| vec![h.wallet()])
                .unwrap_or_default(),
            Command::OpenAccount { .. } => Vec::new(),
            Command::CloseAccount { key } | Command::Sweep { key } => vec![key.clone()],
        };
        keys.into_iter().filter(|k| k.owner.is_wallet()).collect()
    }
}

/// Both accounts of every `(currency, debit, credit)` leg.
fn both_sides<'a>(
    tenant_id: &str,
    legs: impl Iterator<Item = (&'a String, &'a Owner, &'a Owner)>,
) -> Vec<AccountKey> {
    legs.flat_map(|(currency, debit, credit)| {
        [
            AccountKey::new(tenant_id, currency, debit.clone()),
            AccountKey::new(tenant_id, currency, credit.clone()),
        ]
    })
    .collect()
}

impl Command {
    /// Its share of a batch: the rows it may write.
    pub fn weight(&self) -> usize {
        match self {
            Command::Transfer(spec) => spec.legs.len(),
            _ => 1,
        }
    }
}
