//! What a batch reads into its book, whichever backend reads it.
//!
//! Two steps. First the holds a batch commits or voids and the transfers
//! it reverses: they name further accounts. Then, under the accounts'
//! locks (taken in id order, so two batches on different ledger replicas
//! wait for each other instead of deadlocking), everything else: the same
//! holds and transfers again (they only change under those locks), earlier
//! writes under the batch's keys, open lots and due holds, and the members
//! its transfers name as the member read model holds them (see `Members`).
//!
//! `stepwise` reads one statement at a time (SQLite); `pipelined` sends
//! each step to PostgreSQL in one flight.

use questline_kit::DomainError;
use std::collections::{BTreeSet, HashMap, HashSet};

use super::committer::Job;
use super::entities::{account, currency, hold, lot};
use super::rows;
use crate::domain::book::{Account, AccountKey, Book, Command, Currency, Transfer};

/// What a committer keeps between batches: currencies never change once
/// defined, and system accounts are never closed nor checked, so their ids
/// and flags are all a batch needs of them (their figures are written as
/// the batch's change, see `write::Rows::system`).
///
/// It also remembers the system accounts it looked for and did not find
/// (breakage, until the first expiry): a batch that opens one tells it
/// (`opened`), and a batch that lost a race forgets them all (`raced`) —
/// another replica may have opened one.
#[derive(Default)]
pub struct Known {
    currencies: HashMap<(String, String), Currency>,
    system: HashMap<AccountKey, Account>,
    absent: HashSet<AccountKey>,
}

/// Stored transfers with, per leg, how much their reversals moved back.
pub type Tallied = Vec<(Transfer, Vec<i64>)>;

/// Holds and transfers named by id.
#[derive(Default)]
pub struct Referenced {
    pub holds: Vec<hold::Model>,
    pub transfers: Tallied,
}

/// Everything the second step reads; every list names each thing once.
/// It owns what it names: a batch's reads may go out while the batch
/// before it commits, and be answered after (`batch::Batch`).
pub struct Wanted {
    /// `(tenant, code)` of currencies this committer has not seen yet.
    pub currencies: Vec<(String, String)>,
    /// System accounts this committer has not seen yet; read unlocked.
    pub system: Vec<AccountKey>,
    /// Every other account, locked.
    pub locked: Vec<AccountKey>,
    /// Wallets among `locked` whose open lots the batch needs.
    pub wallets: Vec<AccountKey>,
    /// Wallets the batch may draw from: their due pending holds, if any
    /// points are held.
    pub drawn: Vec<AccountKey>,
    pub hold_ids: Vec<String>,
    pub transfer_ids: Vec<String>,
    /// `(tenant, idempotency key)` of transfers and of holds.
    pub transfer_keys: Vec<(String, String)>,
    pub hold_keys: Vec<(String, String)>,
    /// `(tenant, member)` of every member a transfer names.
    pub members: Vec<(String, String)>,
    pub now: i64,
}

/// What the second step found.
#[derive(Default)]
pub struct Found {
    pub currencies: Vec<currency::Model>,
    pub system: Vec<account::Model>,
    pub accounts: Vec<account::Model>,
    pub referenced: Referenced,
    /// Transfers and holds stored under the batch's keys.
    pub replays: Tallied,
    pub replayed_holds: Vec<hold::Model>,
    pub lots: Vec<lot::Model>,
    pub due_holds: Vec<hold::Model>,
    /// `(tenant, member, erased)` of the named members the read model holds.
    pub members: Vec<(String, String, bool)>,
}

/// The members a batch's transfers name, as the member read model held
/// them under the batch's locks: whether each was erased. A member missing
/// here has not reached the read model yet (its sign-up event is on its
/// way); the caller asks identity and tries once more.
#[derive(Default)]
pub struct Members(HashMap<(String, String), bool>);

impl Members {
    /// Why `command` may not be carried out for one of its members, if so.
    pub fn refusal(&self, command: &Command) -> Option<DomainError> {
        named_members(command).find_map(|(tenant, member)| {
            match self.0.get(&(tenant.to_string(), member.to_string())) {
                None => Some(unseen(member)),
                Some(true) => Some(DomainError::NotFound(format!("member {member} not found"))),
                Some(false) => None,
            }
        })
    }
}

/// The refusal of a member the read model does not hold yet.
const UNSEEN: &str = "MEMBER_NOT_SEEN";

fn unseen(member: &str) -> DomainError {
    DomainError::FailedPrecondition {
        kind: UNSEEN,
        subject: member.to_string(),
        message: format!("member {member} is not known to the ledger yet"),
    }
}

/// Whether `err` refused a member the read model does not hold yet.
pub fn is_unseen(err: &DomainError) -> bool {
    matches!(err, DomainError::FailedPrecondition { kind, .. } if *kind == UNSEEN)
}

/// `(tenant, member)` of each member `command` names (transfers only:
/// holds check their member before they reach the committer).
fn named_members(command: &Command) -> impl Iterator<Item = (&str, &str)> {
    let spec = match command {
        Command::Transfer(spec) => Some(spec),
        _ => None,
    };
    spec.into_iter().flat_map(|spec| {
        spec.members()
            .map(|member| (spec.tenant_id.as_str(), member))
    })
}

/// How a backend carries out the two steps, in the batch's transaction.
#[async_trait::async_trait]
pub trait Reads: Send {
    async fn referenced(
        &mut self,
        hold_ids: &[String],
        transfer_ids: &[String],
    ) -> Result<Referenced, DomainError>;

    async fn locked(&mut self, wanted: &Wanted) -> Result<Found, DomainError>;
}

/// A batch's commands, and those among them whose members are checked.
pub struct Commands<'a> {
    pub all: Vec<&'a Command>,
    pub checking_members: Vec<&'a Command>,
}

impl<'a> Commands<'a> {
    pub fn of(jobs: &'a [Job]) -> Commands<'a> {
        Commands {
            all: jobs.iter().map(|j| &j.command).collect(),
            checking_members: jobs
                .iter()
                .filter(|j| j.check_members)
                .map(|j| &j.command)
                .collect(),
        }
    }
}

/// A book holding everything the `batch` needs, accounts locked, and the
/// members named by the commands that check them.
pub async fn book<R: Reads>(
    reads: &mut R,
    batch: &Commands<'_>,
    now: i64,
    known: &mut Known,
) -> Result<(Book, Members), DomainError> {
    let (hold_ids, transfer_ids) = referenced_ids(batch);
    let mut first = Book::new(now);
    if !hold_ids.is_empty() || !transfer_ids.is_empty() {
        add_referenced(
            &mut first,
            reads.referenced(&hold_ids, &transfer_ids).await?,
        )?;
    }
    let plan = plan(batch, &first, known, hold_ids, transfer_ids, now);
    let found = reads.locked(&plan.wanted).await?;
    plan.book(found, known)
}

/// The plan of a batch that commits, voids and reverses nothing: it needs
/// no first step, so its locked reads may go out at once. `None` for any
/// other batch.
pub fn plan_at_once(batch: &Commands<'_>, known: &Known, now: i64) -> Option<Plan> {
    let (hold_ids, transfer_ids) = referenced_ids(batch);
    let at_once = hold_ids.is_empty() && transfer_ids.is_empty();
    at_once.then(|| plan(batch, &Book::new(now), known, hold_ids, transfer_ids, now))
}

/// The holds and the reversed transfers a batch names, each once: a retry
/// may share its first try's batch, and a lookup of a key twice would find
/// its transfer twice.
fn referenced_ids(batch: &Commands<'_>) -> (Vec<String>, Vec<String>) {
    let commands = &batch.all;
    let hold_ids = distinct(commands.iter().filter_map(|c| c.hold_id()));
    let transfer_ids = distinct(
        commands
            .iter()
            .filter_map(|c| c.reversed_transfer().map(|(_, id)| id)),
    );
    (owned(hold_ids), owned(transfer_ids))
}

/// A batch's second step: what it reads under its locks, and the
/// currencies and system accounts it touches, known or not.
pub struct Plan {
    pub wanted: Wanted,
    touched: Touched,
}

impl Plan {
    /// The batch's book from what its second step `found`.
    pub fn book(
        &self,
        mut found: Found,
        known: &mut Known,
    ) -> Result<(Book, Members), DomainError> {
        known.learn(&found, &self.wanted.system)?;
        let members = std::mem::take(&mut found.members)
            .into_iter()
            .map(|(tenant, member, erased)| ((tenant, member), erased))
            .collect();
        let book = filled(found, &self.wanted, &self.touched, known)?;
        Ok((book, Members(members)))
    }
}

/// The currencies and system accounts a batch touches, known or not.
struct Touched {
    currencies: BTreeSet<(String, String)>,
    system: Vec<AccountKey>,
}

/// What the second step reads for the `batch`, once the holds and
/// transfers they name are in `first`.
fn plan(
    batch: &Commands<'_>,
    first: &Book,
    known: &Known,
    hold_ids: Vec<String>,
    transfer_ids: Vec<String>,
    now: i64,
) -> Plan {
    let commands = &batch.all;
    let keys: BTreeSet<AccountKey> = commands.iter().flat_map(|c| c.accounts(first)).collect();
    let drawn: Vec<AccountKey> = distinct(commands.iter().flat_map(|c| c.drawn(first)));
    let (system, locked): (Vec<_>, Vec<_>) = keys.into_iter().partition(|k| k.owner.is_system());
    let currencies: BTreeSet<(String, String)> = system
        .iter()
        .chain(&locked)
        .map(|k| (k.tenant_id.clone(), k.currency.clone()))
        .collect();
    let wanted = Wanted {
        currencies: currencies
            .iter()
            .filter(|k| !known.currencies.contains_key(*k))
            .cloned()
            .collect(),
        system: system
            .iter()
            .filter(|k| !known.system.contains_key(*k) && !known.absent.contains(*k))
            .cloned()
            .collect(),
        // Credited wallets too: their points join the open lot of their expiry.
        wallets: locked
            .iter()
            .filter(|k| k.owner.is_wallet())
            .cloned()
            .collect(),
        locked,
        drawn,
        hold_ids,
        transfer_ids,
        transfer_keys: owned_pairs(distinct(commands.iter().filter_map(|c| c.transfer_key()))),
        hold_keys: owned_pairs(distinct(commands.iter().filter_map(|c| c.hold_key()))),
        members: owned_pairs(distinct(
            batch
                .checking_members
                .iter()
                .flat_map(|&c| named_members(c)),
        )),
        now,
    };
    Plan {
        wanted,
        touched: Touched { currencies, system },
    }
}

/// The batch's book from what the second step `found` and what the
/// committer `known` already.
fn filled(
    found: Found,
    wanted: &Wanted,
    touched: &Touched,
    known: &Known,
) -> Result<Book, DomainError> {
    let mut book = Book::new(wanted.now);
    for key in &touched.currencies {
        let (tenant, code) = key;
        if let Some(currency) = known.currencies.get(key) {
            book.add_currency(tenant, code, currency.clone());
        }
    }
    for account in found.accounts {
        book.add_account(rows::account(account)?);
    }
    for key in &touched.system {
        if let Some(account) = known.system.get(key) {
            book.add_account(account.clone());
        }
    }
    fill(
        &mut book,
        found.referenced,
        found.replays,
        found.replayed_holds,
    )?;
    add_lots(&mut book, &wanted.wallets, found.lots);
    for row in found.due_holds {
        if book.hold(&row.hold_id).is_none() {
            book.add_hold(rows::hold(row)?);
        }
    }
    book.sweep(&wanted.drawn);
    Ok(book)
}

impl Known {
    fn learn(&mut self, found: &Found, looked_for: &[AccountKey]) -> Result<(), DomainError> {
        for row in &found.currencies {
            let key = (row.tenant_id.clone(), row.code.clone());
            self.currencies.insert(key, rows::currency(row)?);
        }
        self.absent.extend(looked_for.iter().cloned());
        for row in &found.system {
            let account = rows::account(row.clone())?;
            self.absent.remove(&account.key());
            self.system.insert(account.key(), account);
        }
        Ok(())
    }

    /// After a batch committed: the system accounts it opened exist now.
    pub fn opened(&mut self, book: &Book) {
        for id in &book.changes.opened {
            if let Some(account) = book.account_by_id(id) {
                self.absent.remove(&account.key());
            }
        }
    }

    /// After a batch failed: what it did not find may exist by now.
    pub fn raced(&mut self) {
        self.absent.clear();
    }
}

fn add_referenced(book: &mut Book, referenced: Referenced) -> Result<(), DomainError> {
    fill(book, referenced, Vec::new(), Vec::new())
}

fn distinct<T: Ord>(items: impl Iterator<Item = T>) -> Vec<T> {
    items.collect::<BTreeSet<T>>().into_iter().collect()
}

fn owned(ids: Vec<&str>) -> Vec<String> {
    ids.into_iter().map(str::to_string).collect()
}

fn owned_pairs(pairs: Vec<(&str, &str)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn fill(
    book: &mut Book,
    referenced: Referenced,
    replays: Tallied,
    replayed_holds: Vec<hold::Model>,
) -> Result<(), DomainError> {
    for row in referenced.holds.into_iter().chain(replayed_holds) {
        book.add_hold(rows::hold(row)?);
    }
    for (transfer, reversed) in referenced.transfers.into_iter().chain(replays) {
        book.add_transfer(transfer, reversed);
    }
    Ok(())
}

/// The open lots of the stored wallets among `wallets` (none found: none left).
fn add_lots(book: &mut Book, wallets: &[AccountKey], found: Vec<lot::Model>) {
    let mut by_account: HashMap<String, Vec<_>> = wallets
        .iter()
        .filter_map(|k| book.account(k).map(|a| (a.account_id.clone(), Vec::new())))
        .collect();
    for row in found {
        by_account
            .entry(row.account_id.clone())
            .or_default()
            .push(rows::lot(row));
    }
    for (account_id, lots) in by_account {
        book.add_lots(&account_id, lots);
    }
}
