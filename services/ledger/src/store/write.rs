//! Writes a book's changes: a few multi-row statements per batch, however
//! many commands it held; the system accounts last (`system_accounts`).

use questline_kit::{DomainError, outbox};
use questline_proto::events::Event;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::entities::{account, hold, leg, lot, transfer};
use super::rows;
use crate::domain::book::{Book, Changes};

/// Rows per statement: far inside every backend's parameter limit.
const CHUNK: usize = 400;

/// What an upsert of a stored account, lot or hold may change.
const ACCOUNT_CHANGES: [account::Column; 4] = [
    account::Column::Balance,
    account::Column::Held,
    account::Column::AllowNegative,
    account::Column::Closed,
];
const LOT_CHANGES: [lot::Column; 1] = [lot::Column::Remaining];
const HOLD_CHANGES: [hold::Column; 3] = [
    hold::Column::Status,
    hold::Column::TransferId,
    hold::Column::CommittedAmount,
];

/// The rows a batch writes, by table.
struct Rows {
    accounts: Vec<account::ActiveModel>,
    lots: Vec<lot::ActiveModel>,
    holds: Vec<hold::ActiveModel>,
    transfers: Vec<transfer::ActiveModel>,
    legs: Vec<leg::ActiveModel>,
}

pub async fn changes<C: ConnectionTrait>(
    c: &C,
    book: &Book,
    events: &[Event],
) -> Result<(), DomainError> {
    let rows = Rows::of(book)?;
    insert(
        c,
        rows.accounts,
        upsert(account::Column::AccountId, &ACCOUNT_CHANGES),
    )
    .await?;
    insert(c, rows.lots, upsert(lot::Column::LotId, &LOT_CHANGES)).await?;
    insert(c, rows.holds, upsert(hold::Column::HoldId, &HOLD_CHANGES)).await?;
    insert(c, rows.transfers, None).await?;
    insert(c, rows.legs, None).await?;
    outbox::stage_all(c, events).await?;
    system_accounts(c, book, &book.changes).await
}

impl Rows {
    fn of(book: &Book) -> Result<Rows, DomainError> {
        let ch = &book.changes;
        Ok(Rows {
            accounts: accounts(book, ch),
            lots: ch
                .new_lots
                .iter()
                .chain(&ch.lots)
                .filter_map(|(account, id)| book.lot(account, id).map(rows::lot_row))
                .collect(),
            holds: ch
                .new_holds
                .iter()
                .chain(ch.holds.iter().filter(|id| !ch.new_holds.contains(*id)))
                .filter_map(|id| {
                    let h = book.hold(id)?;
                    let wallet = book.account(&h.wallet())?;
                    Some(rows::hold_row(h, &wallet.account_id))
                })
                .collect(),
            transfers: ch.transfers.iter().map(rows::transfer_row).collect(),
            legs: legs(book, ch)?,
        })
    }
}

/// Accounts opened by the batch, and the wallets and partners' it changed
/// (system accounts that were already stored move in `system_accounts`).
fn accounts(book: &Book, ch: &Changes) -> Vec<account::ActiveModel> {
    let opened = ch.opened.iter().filter_map(|id| book.account_by_id(id));
    let changed = ch
        .accounts
        .iter()
        .filter(|id| !ch.opened.contains(*id))
        .filter_map(|id| book.account_by_id(id))
        .filter(|a| !a.owner.is_system());
    opened.chain(changed).map(rows::account_row).collect()
}

fn legs(book: &Book, ch: &Changes) -> Result<Vec<leg::ActiveModel>, DomainError> {
    let mut legs = Vec::new();
    for t in &ch.transfers {
        for (i, l) in t.legs.iter().enumerate() {
            let id = |owner| {
                book.account(&(t.tenant_id.clone(), l.currency.clone(), owner))
                    .map(|a| a.account_id.clone())
                    .ok_or_else(|| DomainError::internal("a leg's account is not in the book"))
            };
            let (debit, credit) = (id(l.debit.clone())?, id(l.credit.clone())?);
            legs.push(rows::leg_row(t, i, l, debit, credit));
        }
    }
    Ok(legs)
}

/// System accounts move by the batch's change, in id order, last: their
/// rows are locked only from here to the commit, so other batches (other
/// replicas') queue for the issuance account just for that moment.
async fn system_accounts<C: ConnectionTrait>(
    c: &C,
    book: &Book,
    ch: &Changes,
) -> Result<(), DomainError> {
    for id in &ch.accounts {
        let Some(a) = book.account_by_id(id) else {
            continue;
        };
        if !a.owner.is_system() || ch.opened.contains(id) {
            continue;
        }
        let Some((balance, held)) = book.moved(id).filter(|m| *m != (0, 0)) else {
            continue;
        };
        account::Entity::update_many()
            .col_expr(
                account::Column::Balance,
                Expr::col(account::Column::Balance).add(balance),
            )
            .col_expr(
                account::Column::Held,
                Expr::col(account::Column::Held).add(held),
            )
            .filter(account::Column::AccountId.eq(id.as_str()))
            .exec(c)
            .await?;
    }
    Ok(())
}

fn upsert<C: sea_orm::sea_query::IntoIden + Copy>(key: C, set: &[C]) -> Option<OnConflict> {
    Some(
        OnConflict::column(key)
            .update_columns(set.iter().copied())
            .to_owned(),
    )
}

/// Inserts `rows` in chunks; with `on_conflict`, an upsert of stored rows.
async fn insert<A, C>(
    c: &C,
    rows: Vec<A>,
    on_conflict: Option<OnConflict>,
) -> Result<(), DomainError>
where
    A: ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(CHUNK).collect();
        let mut statement = A::Entity::insert_many(chunk);
        if let Some(conflict) = on_conflict.clone() {
            statement = statement.on_conflict(conflict);
        }
        statement.exec_without_returning(c).await?;
    }
    Ok(())
}
