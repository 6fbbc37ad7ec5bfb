//! One batch: read what its commands need into a book, apply them in
//! arrival order, write the book's changes, all in one transaction.

use futures::FutureExt;
use questline_kit::DomainError;
use questline_proto::events::Event;
use sea_orm::{DatabaseConnection, DbBackend, TransactionTrait};
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;

use super::committer::Job;
use super::load::{self, Commands, Known, Members};
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
}

enum Engine {
    /// One statement at a time through sea-orm (SQLite).
    Stepwise(DatabaseConnection),
    /// Two flights per batch, on a connection of its own (PostgreSQL).
    Pipelined(Box<Link>),
}

impl Writer {
    /// The writer to `db`, opened from `url` (on PostgreSQL it keeps
    /// a connection of its own).
    pub fn open(db: DatabaseConnection, url: &str) -> anyhow::Result<Writer> {
        let engine = match db.get_database_backend() {
            DbBackend::Postgres => {
                Engine::Pipelined(Box::new(Link::new(url, "ledger", "committer")?))
            }
            _ => Engine::Stepwise(db),
        };
        Ok(Writer {
            engine,
            known: Known::default(),
        })
    }

    /// Carries out `jobs`; the answers, and whether events were staged.
    pub async fn commit(&mut self, jobs: &[Job], now: i64) -> Result<(Answers, bool), DomainError> {
        let mut attempt = 1;
        loop {
            let known = &mut self.known;
            let outcome = match &mut self.engine {
                Engine::Stepwise(db) => guarded(stepwise_batch(db, jobs, now, known)).await,
                Engine::Pipelined(link) => {
                    let batch = async |session: &Session| {
                        guarded(pipelined_batch(session, jobs, now, known)).await
                    };
                    link.carry(batch).await
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
    session: &Session,
    jobs: &[Job],
    now: i64,
    known: &mut Known,
) -> Result<(Answers, bool), DomainError> {
    let mut batch = pipelined::Batch::new(session);
    let commands = Commands::of(jobs);
    let (mut book, members) = load::book(&mut batch, &commands, now, known).await?;
    let (answers, events) = carry_out(&mut book, &members, jobs);
    batch.write(&Rows::of(&book, &events)?).await?;
    known.opened(&book);
    Ok((answers, !events.is_empty()))
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
