//! Writes a book's changes: a few multi-row statements per batch, however
//! many commands it held; the system accounts last (`system_accounts`).

use questline_kit::{DomainError, outbox};
use questline_proto::events::Event;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::entities::{account, hold, leg, lot};
use super::rows;
use crate::domain::book::{Account, Book};

/// Rows per statement: far inside every backend's parameter limit.
const CHUNK: usize = 400;

/// What an upsert of a stored account, lot or hold may change.
const ACCOUNT_CHANGES: [account::Column; 4] = [
    account::Column::Balance,
    account::Column::Held,
    account::Column::AllowNegative,
    account::Column::Closed,
];
const LOT_CHANGES: [lot::Column; 2] = [lot::Column::Amount, lot::Column::Remaining];
const HOLD_CHANGES: [hold::Column; 3] = [
    hold::Column::Status,
    hold::Column::TransferId,
    hold::Column::CommittedAmount,
];

pub async fn changes<C: ConnectionTrait>(
    c: &C,
    book: &Book,
    events: &[Event],
) -> Result<(), DomainError> {
    let accounts = upsert(account::Column::AccountId, &ACCOUNT_CHANGES);
    insert(c, account_rows(book), accounts).await?;
    insert(c, lot_rows(book), upsert(lot::Column::LotId, &LOT_CHANGES)).await?;
    insert(
        c,
        hold_rows(book),
        upsert(hold::Column::HoldId, &HOLD_CHANGES),
    )
    .await?;
    let transfers = book.changes.transfers.iter().map(rows::transfer_row);
    insert(c, transfers.collect(), None).await?;
    insert(c, legs(book)?, None).await?;
    outbox::stage_all(c, events).await?;
    system_accounts(c, book).await
}

/// Accounts opened by the batch, and the stored wallets and partners' it
/// changed (stored system accounts move in `system_accounts`).
fn account_rows(book: &Book) -> Vec<account::ActiveModel> {
    let opened = book.changes.opened.iter();
    opened
        .filter_map(|id| book.account_by_id(id))
        .chain(stored(book).filter(|a| !a.owner.is_system()))
        .map(rows::account_row)
        .collect()
}

fn lot_rows(book: &Book) -> Vec<lot::ActiveModel> {
    let ch = &book.changes;
    ch.new_lots
        .iter()
        .chain(&ch.lots)
        .filter_map(|(account, id)| book.lot(account, id).map(rows::lot_row))
        .collect()
}

fn hold_rows(book: &Book) -> Vec<hold::ActiveModel> {
    let ch = &book.changes;
    let changed = ch.holds.iter().filter(|id| !ch.new_holds.contains(*id));
    ch.new_holds
        .iter()
        .chain(changed)
        .filter_map(|id| {
            let h = book.hold(id)?;
            let wallet = book.account(&h.wallet())?;
            Some(rows::hold_row(h, &wallet.account_id))
        })
        .collect()
}

/// Stored accounts (not opened by this batch) whose figures or flags it changed.
fn stored(book: &Book) -> impl Iterator<Item = &Account> {
    let ch = &book.changes;
    ch.accounts
        .iter()
        .filter(|id| !ch.opened.contains(*id))
        .filter_map(|id| book.account_by_id(id))
}

fn legs(book: &Book) -> Result<Vec<leg::ActiveModel>, DomainError> {
    let mut legs = Vec::new();
    for t in &book.changes.transfers {
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
async fn system_accounts<C: ConnectionTrait>(c: &C, book: &Book) -> Result<(), DomainError> {
    for a in stored(book).filter(|a| a.owner.is_system()) {
        let id = &a.account_id;
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
