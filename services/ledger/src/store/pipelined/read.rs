//! A batch's reads on PostgreSQL, each step in one flight; the first
//! flight opens the transaction.

use questline_kit::DomainError;
use tokio_postgres::Statement;

use super::{Answers, Flight, Param, Session, decode};
use crate::domain::book::AccountKey;
use crate::store::load::{Found, Reads, Referenced, Tallied, Wanted};
use crate::store::{entities::transfer, rows};

/// One batch's transaction on the committer's session.
pub struct Batch<'s> {
    pub(super) session: &'s Session,
    /// Whether BEGIN went out with an earlier flight.
    begun: bool,
}

impl<'s> Batch<'s> {
    pub fn new(session: &'s Session) -> Batch<'s> {
        Batch {
            session,
            begun: false,
        }
    }

    /// A flight that opens the transaction if no flight did yet.
    pub(super) fn flight(&mut self) -> Flight<'s> {
        let mut flight = Flight::default();
        if !std::mem::replace(&mut self.begun, true) {
            flight.add(&self.session.begin, Vec::new());
        }
        flight
    }
}

#[async_trait::async_trait]
impl Reads for Batch<'_> {
    async fn referenced(
        &mut self,
        hold_ids: &[&str],
        transfer_ids: &[&str],
    ) -> Result<Referenced, DomainError> {
        let session = self.session;
        let mut flight = self.flight();
        let holds = add_if(&mut flight, &session.sql.holds_by_id, hold_ids, || {
            ids(hold_ids)
        });
        let transfers = add_if(
            &mut flight,
            &session.sql.transfers_by_id,
            transfer_ids,
            || ids(transfer_ids),
        );
        let tallies = add_tallies(&mut flight, session, transfer_ids);
        let mut answers = flight.send(session).await?;
        referenced(&mut answers, holds, transfers, tallies)
    }

    async fn locked(&mut self, w: &Wanted<'_>) -> Result<Found, DomainError> {
        let session = self.session;
        let sql = &session.sql;
        let mut f = self.flight();
        let currencies = add_if(&mut f, &sql.currencies, &w.currencies, || {
            let (t, c): (Vec<&str>, Vec<&str>) = w
                .currencies
                .iter()
                .map(|(t, c)| (t.as_str(), c.as_str()))
                .unzip();
            vec![Box::new(t), Box::new(c)]
        });
        let system = add_if(&mut f, &sql.accounts, &w.system, || keys(&w.system));
        let accounts = add_if(&mut f, &sql.lock_accounts, &w.locked, || keys(&w.locked));
        let holds = add_if(&mut f, &sql.holds_by_id, &w.hold_ids, || ids(&w.hold_ids));
        let transfers = add_if(&mut f, &sql.transfers_by_id, &w.transfer_ids, || {
            ids(&w.transfer_ids)
        });
        let tallies = add_tallies(&mut f, session, &w.transfer_ids);
        let replays = add_if(&mut f, &sql.transfers_by_key, &w.transfer_keys, || {
            pairs(&w.transfer_keys)
        });
        let replayed_holds = add_if(&mut f, &sql.holds_by_key, &w.hold_keys, || {
            pairs(&w.hold_keys)
        });
        let lots = add_if(&mut f, &sql.open_lots, &w.wallets, || keys(&w.wallets));
        let due_holds = add_if(&mut f, &sql.due_holds, &w.drawn, || {
            let mut params = keys(&w.drawn);
            params.push(Box::new(w.now));
            params
        });
        let members = add_if(&mut f, &sql.members, &w.members, || pairs(&w.members));
        let mut answers = f.send(session).await?;
        let replays = answers.rows(replays, decode::transfer)?;
        Ok(Found {
            currencies: answers.rows(currencies, decode::currency)?,
            system: answers.rows(system, decode::account)?,
            accounts: answers.rows(accounts, decode::account)?,
            referenced: referenced(&mut answers, holds, transfers, tallies)?,
            replays: self.tallied(replays).await?,
            replayed_holds: answers.rows(replayed_holds, decode::hold)?,
            lots: answers.rows(lots, decode::lot)?,
            due_holds: answers.rows(due_holds, decode::hold)?,
            members: answers.rows(members, decode::member)?,
        })
    }
}

impl Batch<'_> {
    /// Replayed transfers with their legs and reversal tallies: one more
    /// flight, only for a batch that holds replays.
    async fn tallied(&mut self, found: Vec<transfer::Model>) -> Result<Tallied, DomainError> {
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let session = self.session;
        let ids: Vec<&str> = found.iter().map(|t| t.transfer_id.as_str()).collect();
        let mut flight = self.flight();
        let (legs, reversal_legs) = add_tallies(&mut flight, session, &ids);
        let mut answers = flight.send(session).await?;
        let legs = answers.rows(legs, decode::leg)?;
        let reversal_legs = answers.rows(reversal_legs, decode::reversal_leg)?;
        rows::tallied(found, rows::by_transfer(legs), reversal_legs)
    }
}

/// Adds `statement` when there is something to look up; returns its place.
fn add_if<'a, T>(
    flight: &mut Flight<'a>,
    statement: &'a Statement,
    wanted: &[T],
    params: impl FnOnce() -> Vec<Param<'a>>,
) -> Option<usize> {
    (!wanted.is_empty()).then(|| flight.add(statement, params()))
}

/// Where the legs of `transfer_ids` and of their reversals will be answered.
fn add_tallies<'a>(
    flight: &mut Flight<'a>,
    session: &'a Session,
    transfer_ids: &[&'a str],
) -> (Option<usize>, Option<usize>) {
    let sql = &session.sql;
    let legs = add_if(flight, &sql.legs_by_id, transfer_ids, || ids(transfer_ids));
    let reversals = add_if(flight, &sql.reversal_legs, transfer_ids, || {
        ids(transfer_ids)
    });
    (legs, reversals)
}

fn referenced(
    answers: &mut Answers,
    holds: Option<usize>,
    transfers: Option<usize>,
    (legs, reversal_legs): (Option<usize>, Option<usize>),
) -> Result<Referenced, DomainError> {
    let found = answers.rows(transfers, decode::transfer)?;
    let legs = answers.rows(legs, decode::leg)?;
    let reversal_legs = answers.rows(reversal_legs, decode::reversal_leg)?;
    Ok(Referenced {
        holds: answers.rows(holds, decode::hold)?,
        transfers: rows::tallied(found, rows::by_transfer(legs), reversal_legs)?,
    })
}

fn ids<'a>(ids: &[&'a str]) -> Vec<Param<'a>> {
    vec![Box::new(ids.to_vec())]
}

/// `(tenants, currencies, owners)` columns of account keys.
fn keys(keys: &[AccountKey]) -> Vec<Param<'_>> {
    let tenants: Vec<&str> = keys.iter().map(|k| k.tenant_id.as_str()).collect();
    let currencies: Vec<&str> = keys.iter().map(|k| k.currency.as_str()).collect();
    let owners: Vec<String> = keys.iter().map(|k| k.owner.key()).collect();
    vec![Box::new(tenants), Box::new(currencies), Box::new(owners)]
}

/// `(tenants, idempotency keys)` or `(tenants, members)` columns.
fn pairs<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<Param<'a>> {
    let (tenants, keys): (Vec<&str>, Vec<&str>) = pairs.iter().copied().unzip();
    vec![Box::new(tenants), Box::new(keys)]
}
