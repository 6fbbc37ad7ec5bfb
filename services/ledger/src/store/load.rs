//! Reads what a batch needs into a book. Accounts are locked in id order
//! (`SELECT … ORDER BY account_id FOR UPDATE`), so two batches on different
//! ledger replicas wait for each other instead of deadlocking; holds and
//! reversal tallies are read again after the lock, since they only change
//! under their accounts' locks.

use questline_kit::DomainError;
use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{BTreeSet, HashMap};

use super::entities::{account, currency, hold, leg, lot, transfer};
use super::{arrays, rows};
use crate::domain::book::{Account, AccountKey, Book, Command, Currency, Transfer};
use crate::domain::hold::HoldStatus;

/// What a committer keeps between batches: currencies never change once
/// defined, and system accounts are never closed nor checked, so their ids
/// and flags are all a batch needs of them (their figures are written as
/// the batch's change, see `write::system_accounts`).
#[derive(Default)]
pub struct Known {
    currencies: HashMap<(String, String), Currency>,
    system: HashMap<AccountKey, Account>,
}

/// A book holding everything `commands` need, accounts locked.
pub async fn book<C: ConnectionTrait>(
    c: &C,
    commands: &[&Command],
    now: i64,
    known: &mut Known,
) -> Result<Book, DomainError> {
    let mut book = Book::new(now);
    // First what names further accounts: held wallets and reversed transfers.
    referenced(c, &mut book, commands).await?;
    let keys: BTreeSet<AccountKey> = commands.iter().flat_map(|c| c.accounts(&book)).collect();
    let drawn: BTreeSet<AccountKey> = commands.iter().flat_map(|c| c.drawn(&book)).collect();
    let mut book = Book::new(now);
    add_currencies(c, &mut book, &keys, &mut known.currencies).await?;
    let (system, others): (BTreeSet<_>, BTreeSet<_>) = keys
        .into_iter()
        .partition(|(_, _, owner)| owner.is_system());
    for account in lock_accounts(c, &others).await? {
        book.add_account(account);
    }
    for account in system_accounts(c, &system, &mut known.system).await? {
        book.add_account(account);
    }
    referenced(c, &mut book, commands).await?;
    replays(c, &mut book, commands).await?;
    // Credited wallets too: their points join the open lot of their expiry.
    let wallets = account_ids(&book, others.iter().filter(|(_, _, o)| o.is_wallet()));
    // Only a wallet with points held has pending holds.
    let holding = drawn
        .iter()
        .filter(|k| book.account(k).is_some_and(|a| a.held > 0));
    let holding = account_ids(&book, holding);
    add_lots(c, &mut book, &wallets).await?;
    add_due_holds(c, &mut book, &holding, now).await?;
    book.sweep(&drawn.into_iter().collect::<Vec<_>>());
    Ok(book)
}

/// The ids of the accounts among `keys` that exist.
fn account_ids<'a>(book: &Book, keys: impl Iterator<Item = &'a AccountKey>) -> Vec<String> {
    keys.filter_map(|k| book.account(k).map(|a| a.account_id.clone()))
        .collect()
}

/// Holds to commit or void and transfers to reverse.
async fn referenced<C: ConnectionTrait>(
    c: &C,
    book: &mut Book,
    commands: &[&Command],
) -> Result<(), DomainError> {
    let hold_ids: Vec<&str> = commands.iter().filter_map(|c| c.hold_id()).collect();
    if !hold_ids.is_empty() {
        let found = hold::Entity::find()
            .filter(hold::Column::HoldId.is_in(hold_ids))
            .all(c)
            .await?;
        for row in found {
            book.add_hold(rows::hold(row)?);
        }
    }
    let ids: Vec<&str> = commands
        .iter()
        .filter_map(|c| c.reversed_transfer().map(|(_, id)| id))
        .collect();
    if !ids.is_empty() {
        let found = transfer::Entity::find()
            .filter(transfer::Column::TransferId.is_in(ids))
            .all(c)
            .await?;
        add_transfers(c, book, found).await?;
    }
    Ok(())
}

/// Earlier writes under the keys of this batch's writes.
async fn replays<C: ConnectionTrait>(
    c: &C,
    book: &mut Book,
    commands: &[&Command],
) -> Result<(), DomainError> {
    let keys: BTreeSet<_> = commands.iter().filter_map(|c| c.transfer_key()).collect();
    let found = by_key::<transfer::Entity, _>(
        c,
        &keys,
        transfer::Column::TenantId,
        transfer::Column::IdempotencyKey,
    )
    .await?;
    add_transfers(c, book, found).await?;
    let keys: BTreeSet<_> = commands.iter().filter_map(|c| c.hold_key()).collect();
    let found = by_key::<hold::Entity, _>(
        c,
        &keys,
        hold::Column::TenantId,
        hold::Column::IdempotencyKey,
    )
    .await?;
    for row in found {
        book.add_hold(rows::hold(row)?);
    }
    Ok(())
}

/// Rows of `E` stored under `(tenant, key)` pairs, found by its unique index.
async fn by_key<E: EntityTrait, C: ConnectionTrait>(
    c: &C,
    keys: &BTreeSet<(&str, &str)>,
    tenant: E::Column,
    key: E::Column,
) -> Result<Vec<E::Model>, DomainError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(if postgres(c) {
        arrays::by_key::<E>(keys).all(c).await?
    } else {
        E::find().filter(pairs_in(tenant, key, keys)).all(c).await?
    })
}

fn postgres<C: ConnectionTrait>(c: &C) -> bool {
    c.get_database_backend() == DbBackend::Postgres
}

/// `(a, b) IN ((…), …)`: row values, so the planner looks every pair up in
/// the unique index, whatever statistics it has (an `IN` on the second
/// column alone may end up a filter over all the tenant's rows).
fn pairs_in<A: IntoColumnRef, B: IntoColumnRef>(
    a: A,
    b: B,
    pairs: &BTreeSet<(&str, &str)>,
) -> Expr {
    Expr::tuple([Expr::col(a), Expr::col(b)]).is_in(
        pairs
            .iter()
            .map(|(x, y)| Expr::tuple([Expr::val(*x), Expr::val(*y)])),
    )
}

/// Adds transfers with their legs and how much of each leg was reversed.
async fn add_transfers<C: ConnectionTrait>(
    c: &C,
    book: &mut Book,
    found: Vec<transfer::Model>,
) -> Result<(), DomainError> {
    for (transfer, reversed) in transfers(c, found).await? {
        book.add_transfer(transfer, reversed);
    }
    Ok(())
}

/// Transfers with their legs and, per leg, how much was reversed so far.
pub async fn transfers<C: ConnectionTrait>(
    c: &C,
    found: Vec<transfer::Model>,
) -> Result<Vec<(Transfer, Vec<i64>)>, DomainError> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = found.iter().map(|t| t.transfer_id.clone()).collect();
    let mut legs = legs_of(c, &ids).await?;
    let mut tally = reversed(c, ids).await?;
    let mut out = Vec::with_capacity(found.len());
    for row in found {
        let id = row.transfer_id.clone();
        let transfer = rows::transfer(row, legs.remove(&id).unwrap_or_default())?;
        let mut done = tally.remove(&id).unwrap_or_default();
        done.resize(transfer.legs.len(), 0);
        out.push((transfer, done));
    }
    Ok(out)
}

/// Per original transfer among `ids`, how much of each leg its reversals moved back.
async fn reversed<C: ConnectionTrait>(
    c: &C,
    ids: Vec<String>,
) -> Result<HashMap<String, Vec<i64>>, DomainError> {
    let reversals = transfer::Entity::find()
        .filter(transfer::Column::Reverses.is_in(ids))
        .all(c)
        .await?;
    let reversal_ids: Vec<String> = reversals.iter().map(|t| t.transfer_id.clone()).collect();
    let reversal_of: HashMap<String, String> = reversals
        .into_iter()
        .filter_map(|t| t.reverses.map(|r| (t.transfer_id, r)))
        .collect();
    let mut tally: HashMap<String, Vec<i64>> = HashMap::new();
    for (reversal_id, reversal_legs) in legs_of(c, &reversal_ids).await? {
        let Some(original) = reversal_of.get(&reversal_id) else {
            continue;
        };
        let done = tally.entry(original.clone()).or_default();
        for l in reversal_legs {
            let Some(i) = l.reverses_leg.map(|i| i as usize) else {
                continue;
            };
            if done.len() <= i {
                done.resize(i + 1, 0);
            }
            done[i] += l.amount;
        }
    }
    Ok(tally)
}

/// The legs of `ids`, by transfer, in leg order.
async fn legs_of<C: ConnectionTrait>(
    c: &C,
    ids: &[String],
) -> Result<HashMap<String, Vec<leg::Model>>, DomainError> {
    let mut out: HashMap<String, Vec<leg::Model>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let found = leg::Entity::find()
        .filter(leg::Column::TransferId.is_in(ids.iter().map(String::as_str)))
        .order_by_asc(leg::Column::TransferId)
        .order_by_asc(leg::Column::Leg)
        .all(c)
        .await?;
    for l in found {
        out.entry(l.transfer_id.clone()).or_default().push(l);
    }
    Ok(out)
}

async fn add_currencies<C: ConnectionTrait>(
    c: &C,
    book: &mut Book,
    keys: &BTreeSet<AccountKey>,
    known: &mut HashMap<(String, String), Currency>,
) -> Result<(), DomainError> {
    let wanted: BTreeSet<(String, String)> = keys
        .iter()
        .map(|(t, cur, _)| (t.clone(), cur.clone()))
        .collect();
    let missing: Vec<&(String, String)> =
        wanted.iter().filter(|k| !known.contains_key(*k)).collect();
    if !missing.is_empty() {
        let (tenants, codes): (BTreeSet<&str>, BTreeSet<&str>) = missing
            .iter()
            .map(|(t, c)| (t.as_str(), c.as_str()))
            .unzip();
        let found = currency::Entity::find()
            .filter(currency::Column::TenantId.is_in(tenants))
            .filter(currency::Column::Code.is_in(codes))
            .all(c)
            .await?;
        for row in found {
            known.insert(
                (row.tenant_id.clone(), row.code.clone()),
                rows::currency(&row)?,
            );
        }
    }
    for (tenant, code) in wanted {
        if let Some(currency) = known.get(&(tenant.clone(), code.clone())) {
            book.add_currency(&tenant, &code, currency.clone());
        }
    }
    Ok(())
}

/// The accounts among `keys` that exist, locked, in id order.
async fn lock_accounts<C: ConnectionTrait>(
    c: &C,
    keys: &BTreeSet<AccountKey>,
) -> Result<Vec<Account>, DomainError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let found = if postgres(c) {
        arrays::lock_accounts(keys).all(c).await?
    } else {
        accounts_among(keys)
            .order_by_asc(account::Column::AccountId)
            .lock_exclusive()
            .all(c)
            .await?
    };
    found.into_iter().map(rows::account).collect()
}

/// The system accounts among `keys` that exist, unlocked, read once per
/// committer.
async fn system_accounts<C: ConnectionTrait>(
    c: &C,
    keys: &BTreeSet<AccountKey>,
    known: &mut HashMap<AccountKey, Account>,
) -> Result<Vec<Account>, DomainError> {
    let missing: BTreeSet<AccountKey> = keys
        .iter()
        .filter(|k| !known.contains_key(*k))
        .cloned()
        .collect();
    if !missing.is_empty() {
        for row in accounts_among(&missing).all(c).await? {
            let account = rows::account(row)?;
            known.insert(account.key(), account);
        }
    }
    Ok(keys.iter().filter_map(|k| known.get(k).cloned()).collect())
}

/// Each key is one row value, looked up exactly in the `accounts_owner` index.
fn accounts_among(keys: &BTreeSet<AccountKey>) -> sea_orm::Select<account::Entity> {
    let cols = Expr::tuple([
        Expr::col(account::Column::TenantId),
        Expr::col(account::Column::Currency),
        Expr::col(account::Column::Owner),
    ]);
    let rows = keys.iter().map(|(tenant, currency, owner)| {
        Expr::tuple([
            Expr::val(tenant.as_str()),
            Expr::val(currency.as_str()),
            Expr::val(owner.key()),
        ])
    });
    account::Entity::find().filter(cols.is_in(rows))
}

/// The open lots of `wallets`.
async fn add_lots<C: ConnectionTrait>(
    c: &C,
    book: &mut Book,
    wallets: &[String],
) -> Result<(), DomainError> {
    if wallets.is_empty() {
        return Ok(());
    }
    let found = if postgres(c) {
        arrays::open_lots(wallets).all(c).await?
    } else {
        lot::Entity::find()
            .filter(lot::Column::AccountId.is_in(wallets.iter().map(String::as_str)))
            .filter(lot::Column::Remaining.gt(0))
            .all(c)
            .await?
    };
    let mut by_account: HashMap<String, Vec<_>> =
        wallets.iter().map(|id| (id.clone(), Vec::new())).collect();
    for row in found {
        by_account
            .entry(row.account_id.clone())
            .or_default()
            .push(rows::lot(row));
    }
    for (account_id, lots) in by_account {
        book.add_lots(&account_id, lots);
    }
    Ok(())
}

/// The pending holds of drawn wallets already past due.
async fn add_due_holds<C: ConnectionTrait>(
    c: &C,
    book: &mut Book,
    drawn: &[String],
    now: i64,
) -> Result<(), DomainError> {
    if drawn.is_empty() {
        return Ok(());
    }
    let due = if postgres(c) {
        arrays::due_holds(drawn, now).all(c).await?
    } else {
        hold::Entity::find()
            .filter(hold::Column::AccountId.is_in(drawn.iter().map(String::as_str)))
            .filter(hold::Column::Status.eq(HoldStatus::Pending.as_str()))
            .filter(hold::Column::ExpiresAt.lte(now))
            .all(c)
            .await?
    };
    for row in due {
        if book.hold(&row.hold_id).is_none() {
            book.add_hold(rows::hold(row)?);
        }
    }
    Ok(())
}
