//! One batch: read what its commands need into a book, apply them in
//! arrival order, write the book's changes, all in one transaction.

use futures::FutureExt;
use questline_kit::DomainError;
use questline_proto::events::Event;
use sea_orm::{DatabaseConnection, DbBackend, TransactionTrait};
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use tokio::sync::mpsc;

use super::committer::{Arrival, Clock, Gathered, Job, LINGER};
use super::load::{self, Commands, Known, Members, Plan};
use super::pipelined::{self, Link, Session};
use super::stepwise::{self, Stepwise};
use super::write::Rows;
use crate::domain::book::{Answer, Book};
use crate::events;

/// A batch that lost a race (a key or an account written by another
/// replica, a deadlock the server broke) is read and carried out again.
const ATTEMPTS: usize = 5;

pub type Answers = Vec<Result<Answer, DomainError>>;

/// Where batches go to the database, one at a time.
pub struct Writer {
    engine: Engine,
    known: Known,
    clock: Clock,
}

enum Engine {
    /// One statement at a time through sea-orm (SQLite).
    Stepwise(DatabaseConnection),
    /// Two flights per batch, on a connection of its own (PostgreSQL);
    /// one when the batch's reads went out behind the last one's COMMIT.
    Pipelined(Box<Link>),
}

/// A batch to carry out: its jobs and, on PostgreSQL, its locked reads
/// when they went out ahead of it.
///
/// While a batch's writes and COMMIT are on their way, the jobs waiting
/// behind it, or the first to arrive before the COMMIT is answered, become
/// the next batch, and its locked reads are sent right behind that COMMIT
/// on the same connection. The server runs them once
/// the COMMIT is done, so they see its balances and keys, and the next
/// batch pays one round trip instead of two. A batch that commits, voids
/// or reverses (whose accounts are known only after a first read) goes
/// the usual way.
pub struct Batch {
    pub jobs: Vec<Job>,
    /// How many requests' arrivals the jobs came in.
    pub arrivals: usize,
    ahead: Option<Ahead>,
}

struct Ahead {
    plan: Plan,
    locked: pipelined::Locked,
}

impl Batch {
    pub fn of(gathered: Gathered) -> Batch {
        Batch {
            jobs: gathered.jobs,
            arrivals: gathered.arrivals,
            ahead: None,
        }
    }
}

impl Writer {
    /// The writer to `db`, opened from `url` (on PostgreSQL it keeps
    /// a connection of its own).
    pub fn open(db: DatabaseConnection, url: &str, clock: Clock) -> anyhow::Result<Writer> {
        let engine = match db.get_database_backend() {
            DbBackend::Postgres => {
                Engine::Pipelined(Box::new(Link::new(url, "ledger", "committer")?))
            }
            _ => Engine::Stepwise(db),
        };
        Ok(Writer {
            engine,
            known: Known::default(),
            clock,
        })
    }

    /// Carries out `batch`; the answers, and whether events were staged.
    /// On PostgreSQL, the jobs in the `queue` behind it may become `next`,
    /// their reads sent ahead.
    pub async fn commit(
        &mut self,
        batch: &mut Batch,
        queue: &mut mpsc::Receiver<Arrival>,
        next: &mut Option<Batch>,
    ) -> Result<(Answers, bool), DomainError> {
        let jobs = &batch.jobs;
        let mut ahead = batch.ahead.take();
        let mut attempt = 1;
        loop {
            let known = &mut self.known;
            let clock = &self.clock;
            let outcome = match &mut self.engine {
                Engine::Stepwise(db) => guarded(stepwise_batch(db, jobs, clock(), known)).await,
                Engine::Pipelined(link) => {
                    let ahead = ahead.take();
                    let batch = pipelined_batch(link, jobs, ahead, known, clock, queue, next);
                    let outcome = guarded(batch).await;
                    if let Err(err) = &outcome {
                        // Their reads went out on a connection about to be
                        // rolled back or dropped: they are read again.
                        if let Some(next) = next.as_mut() {
                            next.ahead = None;
                        }
                        link.abandon(err).await;
                    }
                    outcome
                }
            };
            if outcome.is_err() {
                self.known.raced();
            }
            match outcome {
                Err(DomainError::Aborted(why)) if attempt < ATTEMPTS => {
                    tracing::debug!(%why, attempt, "ledger batch lost a race; carrying it out again");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// A batch that panics (a bug) fails its own callers, not the committer:
/// every later request would otherwise find the ledger gone. Its
/// transaction is dropped unfinished, so the database rolls it back.
async fn guarded(
    batch: impl Future<Output = Result<(Answers, bool), DomainError>>,
) -> Result<(Answers, bool), DomainError> {
    AssertUnwindSafe(batch)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(DomainError::internal(format!(
                "a ledger batch panicked: {why}"
            )))
        })
}

async fn stepwise_batch(
    db: &DatabaseConnection,
    jobs: &[Job],
    now: i64,
    known: &mut Known,
) -> Result<(Answers, bool), DomainError> {
    let txn = db.begin().await?;
    let commands = Commands::of(jobs);
    let (mut book, members) = load::book(&mut Stepwise(&txn), &commands, now, known).await?;
    let (answers, events) = carry_out(&mut book, &members, jobs);
    stepwise::write(&txn, Rows::of(&book, &events)?).await?;
    txn.commit().await?;
    known.opened(&book);
    Ok((answers, !events.is_empty()))
}

async fn pipelined_batch(
    link: &mut Link,
    jobs: &[Job],
    ahead: Option<Ahead>,
    known: &mut Known,
    clock: &Clock,
    queue: &mut mpsc::Receiver<Arrival>,
    next: &mut Option<Batch>,
) -> Result<(Answers, bool), DomainError> {
    let session = link.session().await?;
    // Reads sent on a connection that has since closed and been replaced
    // hold no locks any more, and their transaction is gone: read again.
    let ahead = ahead.filter(|a| a.locked.sent_on(session));
    let (batch, (mut book, members)) = match ahead {
        Some(Ahead { plan, locked }) => {
            let mut batch = pipelined::Batch::resumed(session);
            let found = batch.found(locked).await?;
            (batch, plan.book(found, known)?)
        }
        None => {
            let mut batch = pipelined::Batch::new(session);
            let read = load::book(&mut batch, &Commands::of(jobs), clock(), known).await?;
            (batch, read)
        }
    };
    let (answers, events) = carry_out(&mut book, &members, jobs);
    let rows = Rows::of(&book, &events)?;
    let mut written = pin!(batch.send_write(&rows).await?.answers());
    known.opened(&book);
    let mut sent_ahead = true;
    let mut answered = None;
    if next.is_none() {
        let gathered = behind(queue, &mut written, &mut answered).await;
        if !gathered.jobs.is_empty() {
            // Kept before reading ahead, so a panic there loses no job.
            let behind = next.insert(Batch::of(gathered));
            sent_ahead = read_ahead(session, behind, known, clock()).await;
        }
    }
    let written = match answered {
        Some(done) => done,
        None => written.await,
    };
    if !sent_ahead {
        // Part of the next batch's reads may have gone out, in a
        // transaction of their own: the connection goes, and with it that
        // transaction; the next batch reads afresh.
        link.abandon(&DomainError::internal("reads sent in part"))
            .await;
    }
    written?;
    Ok((answers, !events.is_empty()))
}

/// The arrivals in the `queue` while a batch's writes are on their way:
/// from the first, those that follow within `LINGER` (single requests come
/// in bursts, and half a burst would leave the rest to the batch after),
/// or until the writes are answered (then `answered`).
async fn behind<W: Future + Unpin>(
    queue: &mut mpsc::Receiver<Arrival>,
    written: &mut W,
    answered: &mut Option<W::Output>,
) -> Gathered {
    let mut gathered = Gathered::default();
    let mut deadline = None;
    while answered.is_none() && !gathered.full() {
        let lingered = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            arrival = queue.recv() => {
                let Some(arrival) = arrival else { break };
                gathered.take(arrival, queue);
                deadline.get_or_insert_with(|| tokio::time::Instant::now() + LINGER);
            }
            done = &mut *written => *answered = Some(done),
            () = lingered => break,
        }
    }
    gathered
}

/// Sends the locked reads of `batch` on `session` when it needs no first
/// step; false if sending failed part way.
async fn read_ahead(session: &Session, batch: &mut Batch, known: &Known, now: i64) -> bool {
    let Some(plan) = load::plan_at_once(&Commands::of(&batch.jobs), known, now) else {
        return true;
    };
    match pipelined::Batch::new(session)
        .send_locked(&plan.wanted)
        .await
    {
        Ok(locked) => {
            batch.ahead = Some(Ahead { plan, locked });
            true
        }
        Err(err) => {
            tracing::warn!(%err, "the next ledger batch's reads could not be sent ahead");
            false
        }
    }
}

/// Applies every job to the book in arrival order, unless a member it
/// names is erased or not known yet; the answers, and the events to stage
/// with the batch.
fn carry_out(book: &mut Book, members: &Members, jobs: &[Job]) -> (Answers, Vec<Event>) {
    // What fell due before the batch (expiries) carries no caller's trace.
    let mut events = notices(book, &BTreeMap::new());
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        let refused = job
            .check_members
            .then(|| members.refusal(&job.command))
            .flatten();
        let answer = match refused {
            Some(refused) => Err(refused),
            None => book.apply(&job.command),
        };
        if let (Ok(_), Some(change)) = (&answer, &job.audit) {
            events.push(change.event(events::SOURCE));
        }
        answers.push(answer);
        events.extend(notices(book, &job.trace));
    }
    (answers, events)
}

/// Events for the notices the book gathered since the last call.
fn notices(book: &mut Book, trace: &BTreeMap<String, String>) -> Vec<Event> {
    std::mem::take(&mut book.changes.notices)
        .into_iter()
        .map(|n| {
            let mut event = events::notice(&n);
            event.trace_context = trace.clone().into_iter().collect();
            event
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bug() -> Result<(Answers, bool), DomainError> {
        panic!("an invariant broke")
    }

    #[tokio::test]
    async fn a_batch_that_panics_is_an_internal_error_and_others_pass_through() {
        let outcome = guarded(async { bug() }).await;
        assert!(matches!(outcome, Err(DomainError::Internal(_))));
        let next = guarded(async { Ok((Vec::new(), false)) }).await;
        assert!(matches!(next, Ok((answers, false)) if answers.is_empty()));
    }
}
