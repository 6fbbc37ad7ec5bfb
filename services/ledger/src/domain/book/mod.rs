//! The book: the accounts, lots and holds one batch of commands touches,
//! loaded by the store, changed here in memory, written back by the store in
//! one transaction. Every command is checked in full before it changes
//! anything, so a refused command leaves the book as it found it.

mod accounts;
mod holds;
mod needs;
mod reversals;
mod sweep;
#[cfg(test)]
mod tests;
mod transfers;

use jiff::tz::TimeZone;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::expiry::ExpiryPolicy;
use super::lots::Lot;
use super::requests::{HoldSpec, ReversalSpec, TransferSpec};
use super::{Figures, Owner};
use crate::domain::hold::HoldStatus;

/// A currency's rules, as the book needs them.
#[derive(Debug, Clone)]
pub struct Currency {
    pub expiry: ExpiryPolicy,
    pub zone: TimeZone,
    pub reversals_may_overdraw: bool,
}

/// How commands name an account: a tenant's account in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountKey {
    pub tenant_id: String,
    pub currency: String,
    pub owner: Owner,
}

impl AccountKey {
    pub fn new(tenant_id: &str, currency: &str, owner: Owner) -> AccountKey {
        AccountKey {
            tenant_id: tenant_id.into(),
            currency: currency.into(),
            owner,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub account_id: String,
    pub tenant_id: String,
    pub currency: String,
    pub owner: Owner,
    pub balance: i64,
    /// Points reserved by pending holds; part of `balance`.
    pub held: i64,
    pub may_go_negative: bool,
    pub closed: bool,
    pub created_at: i64,
}

impl Account {
    pub fn key(&self) -> AccountKey {
        AccountKey::new(&self.tenant_id, &self.currency, self.owner.clone())
    }

    pub fn figures(&self) -> Figures {
        Figures {
            total: self.balance,
            held: self.held,
        }
    }
}

/// A recorded leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    pub currency: String,
    pub debit: Owner,
    pub credit: Owner,
    pub amount: i64,
    /// On a reversal: the index of the original's leg this one moves back.
    pub reverses_leg: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub transfer_id: String,
    pub tenant_id: String,
    pub legs: Vec<Leg>,
    pub reason: String,
    pub reference: String,
    pub metadata: String,
    pub idempotency_key: String,
    pub fingerprint: String,
    pub reverses: Option<String>,
    pub created_at: i64,
    /// The first member wallet's figures right after, so a replay answers
    /// as the first time did.
    pub wallet: Figures,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub hold_id: String,
    pub tenant_id: String,
    pub currency: String,
    pub member_id: String,
    pub amount: i64,
    pub status: HoldStatus,
    pub reason: String,
    pub expires_at: i64,
    pub idempotency_key: String,
    pub fingerprint: String,
    pub transfer_id: Option<String>,
    pub committed_amount: i64,
    pub created_at: i64,
}

impl Hold {
    pub fn wallet(&self) -> AccountKey {
        let owner = Owner::Member(self.member_id.clone());
        AccountKey::new(&self.tenant_id, &self.currency, owner)
    }
}

/// What the ledger can be asked to do.
#[derive(Debug, Clone)]
pub enum Command {
    Transfer(TransferSpec),
    Reverse(ReversalSpec),
    CreateHold(HoldSpec),
    /// `amount` `None`: all of it.
    CommitHold {
        tenant_id: String,
        hold_id: String,
        amount: Option<i64>,
    },
    VoidHold {
        tenant_id: String,
        hold_id: String,
    },
    OpenAccount {
        key: AccountKey,
        may_go_negative: bool,
    },
    CloseAccount {
        key: AccountKey,
    },
    /// Expires the wallet's due holds and lots; nothing else.
    Sweep {
        key: AccountKey,
    },
}

#[derive(Debug, Clone)]
pub enum Answer {
    Transfer(Transfer),
    Hold(Hold),
    Account(Account),
    Swept,
}

/// Something members hear about: a wallet grew, shrank or lost expired points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub tenant_id: String,
    pub member_id: String,
    pub currency: String,
    pub kind: NoticeKind,
    pub amount: i64,
    pub transfer_id: String,
    pub reason: String,
    /// The wallet's total right after.
    pub balance: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Credited,
    Debited,
    Expired,
}

/// What the store must write after the batch.
#[derive(Debug, Default)]
pub struct Changes {
    pub opened: BTreeSet<String>,
    pub accounts: BTreeSet<String>,
    /// `(account id, lot id)` of lots made by this batch.
    pub new_lots: BTreeSet<(String, String)>,
    /// `(account id, lot id)` of stored lots whose remainder changed.
    pub lots: BTreeSet<(String, String)>,
    pub new_holds: BTreeSet<String>,
    pub holds: BTreeSet<String>,
    pub transfers: Vec<Transfer>,
    pub notices: Vec<Notice>,
}

#[derive(Default)]
pub struct Book {
    now: i64,
    currencies: HashMap<(String, String), Currency>,
    accounts: BTreeMap<String, Account>,
    /// `(balance, held)` of every account as it was added, so the store can
    /// write a system account as the batch's change rather than a figure.
    loaded: HashMap<String, (i64, i64)>,
    by_key: HashMap<AccountKey, String>,
    /// Lots of the wallets the batch may draw from or credit, in drawing order.
    lots: HashMap<String, Vec<Lot>>,
    holds: HashMap<String, Hold>,
    hold_keys: HashMap<(String, String), String>,
    transfers: HashMap<String, Transfer>,
    transfer_keys: HashMap<(String, String), String>,
    /// Per leg, how much of a transfer has been reversed.
    reversed: HashMap<String, Vec<i64>>,
    pub changes: Changes,
}

impl Book {
    pub fn new(now: i64) -> Book {
        Book {
            now,
            ..Book::default()
        }
    }

    // Loading, by the store.

    pub fn add_currency(&mut self, tenant_id: &str, code: &str, currency: Currency) {
        self.currencies
            .insert((tenant_id.into(), code.into()), currency);
    }

    pub fn add_account(&mut self, account: Account) {
        self.loaded
            .insert(account.account_id.clone(), (account.balance, account.held));
        self.by_key
            .insert(account.key(), account.account_id.clone());
        self.accounts.insert(account.account_id.clone(), account);
    }

    /// The open lots of a wallet the batch may draw from or credit; none
    /// means none left.
    pub fn add_lots(&mut self, account_id: &str, mut lots: Vec<Lot>) {
        super::lots::sort(&mut lots);
        self.lots.insert(account_id.into(), lots);
    }

    pub fn add_hold(&mut self, hold: Hold) {
        self.hold_keys.insert(
            (hold.tenant_id.clone(), hold.idempotency_key.clone()),
            hold.hold_id.clone(),
        );
        self.holds.insert(hold.hold_id.clone(), hold);
    }

    /// A stored transfer, with how much of each leg was reversed so far.
    pub fn add_transfer(&mut self, transfer: Transfer, reversed: Vec<i64>) {
        self.transfer_keys.insert(
            (transfer.tenant_id.clone(), transfer.idempotency_key.clone()),
            transfer.transfer_id.clone(),
        );
        self.reversed.insert(transfer.transfer_id.clone(), reversed);
        self.transfers
            .insert(transfer.transfer_id.clone(), transfer);
    }

    pub fn hold(&self, hold_id: &str) -> Option<&Hold> {
        self.holds.get(hold_id)
    }

    pub fn transfer(&self, transfer_id: &str) -> Option<&Transfer> {
        self.transfers.get(transfer_id)
    }

    pub fn account(&self, key: &AccountKey) -> Option<&Account> {
        self.by_key.get(key).and_then(|id| self.accounts.get(id))
    }

    pub fn account_by_id(&self, account_id: &str) -> Option<&Account> {
        self.accounts.get(account_id)
    }

    /// How much an account's `(balance, held)` moved since it was added.
    pub fn moved(&self, account_id: &str) -> Option<(i64, i64)> {
        let now = self.accounts.get(account_id)?;
        let (balance, held) = self.loaded.get(account_id)?;
        Some((now.balance - balance, now.held - held))
    }

    pub fn lot(&self, account_id: &str, lot_id: &str) -> Option<&Lot> {
        self.lots
            .get(account_id)
            .and_then(|lots| lots.iter().find(|l| l.lot_id == lot_id))
    }

    /// Carries out one command: all of it, or (on an error) none of it.
    pub fn apply(&mut self, command: &Command) -> Result<Answer, questline_kit::DomainError> {
        match command {
            Command::Transfer(spec) => self.transfer_spec(spec).map(Answer::Transfer),
            Command::Reverse(spec) => self.reverse(spec).map(Answer::Transfer),
            Command::CreateHold(spec) => self.create_hold(spec).map(Answer::Hold),
            Command::CommitHold {
                tenant_id,
                hold_id,
                amount,
            } => self
                .commit_hold(tenant_id, hold_id, *amount)
                .map(Answer::Hold),
            Command::VoidHold { tenant_id, hold_id } => {
                self.void_hold(tenant_id, hold_id).map(Answer::Hold)
            }
            Command::OpenAccount {
                key,
                may_go_negative,
            } => self.open(key, *may_go_negative).map(Answer::Account),
            Command::CloseAccount { key } => self.close(key).map(Answer::Account),
            Command::Sweep { .. } => Ok(Answer::Swept),
        }
    }
}
