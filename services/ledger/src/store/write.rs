//! What a batch writes, gathered from its book as rows; `stepwise` and
//! `pipelined` carry them to their backend.

use questline_kit::{DomainError, outbox};
use questline_proto::events::Event;
use std::collections::BTreeSet;

use super::entities::{account, hold, leg, lot, transfer};
use super::rows;
use crate::domain::book::{Account, AccountKey, Book};

/// A batch's changes, table by table.
pub struct Rows {
    /// Accounts the batch opened.
    pub accounts_opened: Vec<account::Model>,
    /// Stored wallets and partners' accounts whose figures or flags it changed.
    pub accounts_changed: Vec<account::Model>,
    pub lots_opened: Vec<lot::Model>,
    /// Stored lots drawn from or added to, with points left.
    pub lots_changed: Vec<lot::Model>,
    /// Stored lots drawn empty: deleted.
    pub lots_emptied: Vec<String>,
    pub holds: Vec<hold::Model>,
    pub transfers: Vec<transfer::Model>,
    pub legs: Vec<leg::Model>,
    /// The batch's events, in one parcel (they name members by id only).
    pub outbox: Vec<outbox::entity::Model>,
    /// `(account id, balance change, held change)` of stored system
    /// accounts, in id order: they move by the batch's change, last, so
    /// their rows are locked only from there to the commit and other
    /// batches (other replicas') queue for the issuance account just for
    /// that moment.
    pub system: Vec<(String, i64, i64)>,
}

impl Rows {
    pub fn of(book: &Book, events: &[Event]) -> Result<Rows, DomainError> {
        let ch = &book.changes;
        let (lots_changed, lots_emptied): (Vec<_>, Vec<_>) =
            lot_rows(book, &ch.lots).partition(|l| l.remaining > 0);
        Ok(Rows {
            accounts_opened: ch
                .opened
                .iter()
                .filter_map(|id| book.account_by_id(id))
                .map(rows::account_row)
                .collect(),
            accounts_changed: stored(book)
                .filter(|a| !a.owner.is_system())
                .map(rows::account_row)
                .collect(),
            // A lot opened and drawn empty in the same batch is never written.
            lots_opened: lot_rows(book, &ch.new_lots)
                .filter(|l| l.remaining > 0)
                .collect(),
            lots_changed,
            lots_emptied: lots_emptied.into_iter().map(|l| l.lot_id).collect(),
            holds: hold_rows(book),
            transfers: ch.transfers.iter().map(rows::transfer_row).collect(),
            legs: legs(book)?,
            outbox: outbox::parcel(events).into_iter().collect(),
            system: stored(book)
                .filter(|a| a.owner.is_system())
                .filter_map(|a| {
                    let (balance, held) = book.moved(&a.account_id)?;
                    ((balance, held) != (0, 0)).then(|| (a.account_id.clone(), balance, held))
                })
                .collect(),
        })
    }
}

/// The rows of the lots `ids` (`(account id, lot id)`) as the book has them.
fn lot_rows<'a>(
    book: &'a Book,
    ids: &'a BTreeSet<(String, String)>,
) -> impl Iterator<Item = lot::Model> + 'a {
    ids.iter()
        .filter_map(|(account, id)| book.lot(account, id).map(rows::lot_row))
}

fn hold_rows(book: &Book) -> Vec<hold::Model> {
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

/// Stored accounts (not opened by this batch) whose figures or flags it
/// changed, in id order.
fn stored(book: &Book) -> impl Iterator<Item = &Account> {
    let ch = &book.changes;
    ch.accounts
        .iter()
        .filter(|id| !ch.opened.contains(*id))
        .filter_map(|id| book.account_by_id(id))
}

fn legs(book: &Book) -> Result<Vec<leg::Model>, DomainError> {
    let mut legs = Vec::new();
    for t in &book.changes.transfers {
        for (i, l) in t.legs.iter().enumerate() {
            let id = |owner| {
                book.account(&AccountKey::new(&t.tenant_id, &l.currency, owner))
                    .map(|a| a.account_id.clone())
                    .ok_or_else(|| DomainError::internal("a leg's account is not in the book"))
            };
            let (debit, credit) = (id(l.debit.clone())?, id(l.credit.clone())?);
            legs.push(rows::leg_row(t, i, l, debit, credit));
        }
    }
    Ok(legs)
}
