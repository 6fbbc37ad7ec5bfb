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
        let key = |tenant: &str, currency: &str, owner: &Owner| {
            (tenant.to_string(), currency.to_string(), owner.clone())
        };
        let mut keys = match self {
            Command::Transfer(spec) => spec
                .legs
                .iter()
                .flat_map(|l| {
                    [
                        key(&spec.tenant_id, &l.currency, &l.debit),
                        key(&spec.tenant_id, &l.currency, &l.credit),
                    ]
                })
                .collect(),
            Command::Reverse(spec) => book
                .transfer(&spec.transfer_id)
                .map(|t| {
                    t.legs
                        .iter()
                        .flat_map(|l| {
                            [
                                key(&t.tenant_id, &l.currency, &l.debit),
                                key(&t.tenant_id, &l.currency, &l.credit),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Command::CreateHold(spec) => vec![key(
                &spec.tenant_id,
                &spec.currency,
                &Owner::Member(spec.member_id.clone()),
            )],
            Command::CommitHold { hold_id, .. } | Command::VoidHold { hold_id, .. } => book
                .hold(hold_id)
                .map(|h| {
                    vec![
                        h.wallet(),
                        key(&h.tenant_id, &h.currency, &Owner::REDEMPTION),
                    ]
                })
                .unwrap_or_default(),
            Command::OpenAccount { key, .. }
            | Command::CloseAccount { key }
            | Command::Sweep { key } => vec![key.clone()],
        };
        // Expiring drawn wallets moves points to breakage.
        for (tenant, currency, _) in self.drawn(book) {
            keys.push((tenant, currency, Owner::BREAKAGE));
        }
        keys
    }

    /// The wallets it may take points from: their lots and due holds are
    /// loaded, and what is due on them expires before the batch runs.
    pub fn drawn(&self, book: &Book) -> Vec<AccountKey> {
        let wallets = |keys: Vec<AccountKey>| {
            keys.into_iter()
                .filter(|(_, _, owner)| owner.is_wallet())
                .collect()
        };
        match self {
            Command::Transfer(spec) => wallets(
                spec.legs
                    .iter()
                    .map(|l| (spec.tenant_id.clone(), l.currency.clone(), l.debit.clone()))
                    .collect(),
            ),
            Command::Reverse(spec) => wallets(
                book.transfer(&spec.transfer_id)
                    .map(|t| {
                        t.legs
                            .iter()
                            .map(|l| (t.tenant_id.clone(), l.currency.clone(), l.credit.clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            Command::CreateHold(spec) => vec![(
                spec.tenant_id.clone(),
                spec.currency.clone(),
                Owner::Member(spec.member_id.clone()),
            )],
            Command::CommitHold { hold_id, .. } | Command::VoidHold { hold_id, .. } => book
                .hold(hold_id)
                .map(|h| vec![h.wallet()])
                .unwrap_or_default(),
            Command::OpenAccount { .. } => Vec::new(),
            Command::CloseAccount { key } | Command::Sweep { key } => wallets(vec![key.clone()]),
        }
    }
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
