//! Writes a book's changes: a handful of multi-row statements per batch,
//! however many commands it held.

use questline_kit::{DomainError, outbox};
use questline_proto::events::Event;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait};

use super::entities::{account, hold, leg, lot};
use super::rows;
use crate::domain::book::{Book, Changes};

/// Rows per statement: far inside every backend's parameter limit.
const CHUNK: usize = 400;

pub async fn changes<C: ConnectionTrait>(
    c: &C,
    book: &Book,
    events: &[Event],
) -> Result<(), DomainError> {
    let ch = &book.changes;
    accounts(c, book, ch).await?;
    lots(c, book, ch).await?;
    holds(c, book, ch).await?;
    transfers(c, book, ch).await?;
    outbox::stage_all(c, events).await?;
    Ok(())
}

async fn accounts<C: ConnectionTrait>(c: &C, book: &Book, ch: &Changes) -> Result<(), DomainError> {
    let row = |id: &String| book.account_by_id(id).map(rows::account_row);
    let opened = ch.opened.iter().filter_map(row).collect();
    insert(c, opened, None).await?;
    let changed = ch
        .accounts
        .iter()
        .filter(|id| !ch.opened.contains(*id))
        .filter_map(row)
        .collect();
    let update = OnConflict::column(account::Column::AccountId)
        .update_columns([
            account::Column::Balance,
            account::Column::Held,
            account::Column::AllowNegative,
            account::Column::Closed,
        ])
        .to_owned();
    insert(c, changed, Some(update)).await
}

async fn lots<C: ConnectionTrait>(c: &C, book: &Book, ch: &Changes) -> Result<(), DomainError> {
    let row = |(account, id): &(String, String)| book.lot(account, id).map(rows::lot_row);
    insert(c, ch.new_lots.iter().filter_map(row).collect(), None).await?;
    let update = OnConflict::column(lot::Column::LotId)
        .update_column(lot::Column::Remaining)
        .to_owned();
    insert(c, ch.lots.iter().filter_map(row).collect(), Some(update)).await
}

async fn holds<C: ConnectionTrait>(c: &C, book: &Book, ch: &Changes) -> Result<(), DomainError> {
    let row = |id: &String| {
        let h = book.hold(id)?;
        let wallet = book.account(&h.wallet())?;
        Some(rows::hold_row(h, &wallet.account_id))
    };
    insert(c, ch.new_holds.iter().filter_map(row).collect(), None).await?;
    let changed = ch
        .holds
        .iter()
        .filter(|id| !ch.new_holds.contains(*id))
        .filter_map(row)
        .collect();
    let update = OnConflict::column(hold::Column::HoldId)
        .update_columns([
            hold::Column::Status,
            hold::Column::TransferId,
            hold::Column::CommittedAmount,
        ])
        .to_owned();
    insert(c, changed, Some(update)).await
}

async fn transfers<C: ConnectionTrait>(
    c: &C,
    book: &Book,
    ch: &Changes,
) -> Result<(), DomainError> {
    let heads = ch.transfers.iter().map(rows::transfer_row).collect();
    insert(c, heads, None).await?;
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
    insert::<leg::ActiveModel, _>(c, legs, None).await
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
