//! A batch's reads on PostgreSQL, each step in one flight; the first
//! flight opens the transaction.

use questline_kit::DomainError;
use tokio_postgres::Statement;

use super::{Answers, Flight, Param, Sent, Session, decode};
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
    pub(super) fn flight<'a>(&mut self) -> Flight<'a> {
        let mut flight = Flight::default();
        if !std::mem::replace(&mut self.begun, true) {
            flight.add(&self.session.begin, Vec::new());
        }
        flight
    }
}

/// A batch's locked reads, sent and not answered yet: where each
/// statement's rows will be among the answers.
pub struct Locked {
    sent: Sent<'static>,
    currencies: Option<usize>,
    system: Option<usize>,
    accounts: Option<usize>,
    holds: Option<usize>,
    transfers: Option<usize>,
    tallies: (Option<usize>, Option<usize>),
    replays: Option<usize>,
    replayed_holds: Option<usize>,
    lots: Option<usize>,
    due_holds: Option<usize>,
    members: Option<usize>,
}

impl Locked {
    /// Whether the reads went out on `session`.
    pub fn sent_on(&self, session: &Session) -> bool {
        self.sent.sent_on(session)
    }
}

#[async_trait::async_trait]
impl Reads for Batch<'_> {
    async fn referenced(
        &mut self,
        hold_ids: &[String],
        transfer_ids: &[String],
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

    async fn locked(&mut self, wanted: &Wanted) -> Result<Found, DomainError> {
        let locked = self.send_locked(wanted).await?;
        self.found(locked).await
    }
}

impl<'s> Batch<'s> {
    /// A batch whose locked reads went out earlier (`send_locked`), in
    /// the transaction they opened.
    pub fn resumed(session: &'s Session) -> Batch<'s> {
        Batch {
            session,
            begun: true,
        }
    }

    /// Sends the locked reads, without waiting for their answers.
    pub async fn send_locked(&mut self, w: &Wanted) -> Result<Locked, DomainError> {
        let session = self.session;
        let sql = &session.sql;
        let mut f = self.flight();
        let currencies = add_if(&mut f, &sql.currencies, &w.currencies, || {
            pairs(&w.currencies)
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
        Ok(Locked {
            sent: f.start(session).await?,
            currencies,
            system,
            accounts,
            holds,
            transfers,
            tallies,
            replays,
            replayed_holds,
            lots,
            due_holds,
            members,
        })
    }

    /// What the locked reads found, once answered.
    pub async fn found(&mut self, locked: Locked) -> Result<Found, DomainError> {
        let l = locked;
        let mut answers = l.sent.answers().await?;
        let replays = answers.rows(l.replays, decode::transfer)?;
        Ok(Found {
            currencies: answers.rows(l.currencies, decode::currency)?,
            system: answers.rows(l.system, decode::account)?,
            accounts: answers.rows(l.accounts, decode::account)?,
            referenced: referenced(&mut answers, l.holds, l.transfers, l.tallies)?,
            replays: self.tallied(replays).await?,
            replayed_holds: answers.rows(l.replayed_holds, decode::hold)?,
            lots: answers.rows(l.lots, decode::lot)?,
            due_holds: answers.rows(l.due_holds, decode::hold)?,
            members: answers.rows(l.members, decode::member)?,
        })
    }

    /// Replayed transfers with their legs and reversal tallies: one more
    /// flight, only for a batch that holds replays.
    async fn tallied(&mut self, found: Vec<transfer::Model>) -> Result<Tallied, DomainError> {
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let session = self.session;
        let ids: Vec<String> = found.iter().map(|t| t.transfer_id.clone()).collect();
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
    statement: &Statement,
    wanted: &[T],
    params: impl FnOnce() -> Vec<Param<'a>>,
) -> Option<usize> {
    (!wanted.is_empty()).then(|| flight.add(statement, params()))
}

/// Where the legs of `transfer_ids` and of their reversals will be answered.
fn add_tallies(
    flight: &mut Flight<'_>,
    session: &Session,
    transfer_ids: &[String],
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

// Parameters own their values: a batch's reads may be answered after the
// batch that planned them has moved on (`Locked`).

fn ids(ids: &[String]) -> Vec<Param<'static>> {
    vec![Box::new(ids.to_vec())]
}

/// `(tenants, currencies, owners)` columns of account keys.
fn keys(keys: &[AccountKey]) -> Vec<Param<'static>> {
    let tenants: Vec<String> = keys.iter().map(|k| k.tenant_id.clone()).collect();
    let currencies: Vec<String> = keys.iter().map(|k| k.currency.clone()).collect();
    let owners: Vec<String> = keys.iter().map(|k| k.owner.key()).collect();
    vec![Box::new(tenants), Box::new(currencies), Box::new(owners)]
}

/// `(tenants, codes)`, `(tenants, idempotency keys)` or `(tenants, members)` columns.
fn pairs(pairs: &[(String, String)]) -> Vec<Param<'static>> {
    let (tenants, keys): (Vec<String>, Vec<String>) = pairs.iter().cloned().unzip();
    vec![Box::new(tenants), Box::new(keys)]
}
