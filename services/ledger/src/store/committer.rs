//! Group commit: one task takes every write in arrival order and carries
//! out as many as are waiting in one database transaction. Concurrent
//! requests then share the transaction's round trips and its fsync, and the
//! issuance account, touched by every credit, is written once per batch.

use questline_kit::audit::Change;
use questline_kit::{DomainError, outbox};
use questline_proto::events::Event;
use sea_orm::{DatabaseConnection, TransactionTrait};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use super::load::{self, Currencies};
use super::write;
use crate::domain::book::{Answer, Book, Command};
use crate::events;

/// Legs (or other rows) a batch may hold before the next waits its turn.
const MAX_WEIGHT: usize = 512;
const QUEUE: usize = 4096;
/// A batch that lost a race (a key or an account written by another
/// replica) is read and carried out again.
const ATTEMPTS: usize = 5;

pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;
type Reply = oneshot::Sender<Result<Answer, DomainError>>;

struct Job {
    command: Command,
    /// Staged as `audit.recorded` when the command succeeds.
    audit: Option<Change>,
    trace: BTreeMap<String, String>,
    reply: Reply,
}

/// Where requests hand their commands to the committing task.
#[derive(Clone)]
pub struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the task; it ends once every `Committer` clone is dropped.
    pub fn start(db: DatabaseConnection, relay: outbox::Relay, clock: Clock) -> Committer {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(queue, db, relay, clock));
        Committer { jobs }
    }

    pub async fn submit(
        &self,
        command: Command,
        audit: Option<Change>,
    ) -> Result<Answer, DomainError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            command,
            audit,
            trace: questline_kit::telemetry::current_context(),
            reply,
        };
        let gone = || DomainError::Unavailable("the ledger is shutting down".into());
        self.jobs.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(
    mut queue: mpsc::Receiver<Job>,
    db: DatabaseConnection,
    relay: outbox::Relay,
    clock: Clock,
) {
    let mut currencies = Currencies::new();
    while let Some(first) = queue.recv().await {
        let mut weight = first.command.weight();
        let mut jobs = vec![first];
        while weight < MAX_WEIGHT {
            let Ok(job) = queue.try_recv() else { break };
            weight += job.command.weight();
            jobs.push(job);
        }
        let answers = commit(&db, &jobs, clock(), &mut currencies).await;
        match answers {
            Ok((answers, staged)) => {
                if staged {
                    relay.wake();
                }
                for (job, answer) in jobs.into_iter().zip(answers) {
                    let _ = job.reply.send(answer);
                }
            }
            Err(err) => {
                for job in jobs {
                    let _ = job.reply.send(Err(err.clone()));
                }
            }
        }
    }
}

type Answers = Vec<Result<Answer, DomainError>>;

async fn commit(
    db: &DatabaseConnection,
    jobs: &[Job],
    now: i64,
    currencies: &mut Currencies,
) -> Result<(Answers, bool), DomainError> {
    let mut attempt = 1;
    loop {
        match attempt_batch(db, jobs, now, currencies).await {
            Err(DomainError::Aborted(why)) if attempt < ATTEMPTS => {
                tracing::debug!(%why, attempt, "ledger batch lost a race; carrying it out again");
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn attempt_batch(
    db: &DatabaseConnection,
    jobs: &[Job],
    now: i64,
    currencies: &mut Currencies,
) -> Result<(Answers, bool), DomainError> {
    let txn = db.begin().await?;
    let commands: Vec<&Command> = jobs.iter().map(|j| &j.command).collect();
    let mut book = load::book(&txn, &commands, now, currencies).await?;
    // What fell due before the batch (expiries) carries no caller's trace.
    let mut events = notices(&mut book, &BTreeMap::new());
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        let answer = book.apply(&job.command);
        if let (Ok(_), Some(change)) = (&answer, &job.audit) {
            events.push(change.event(events::SOURCE));
        }
        answers.push(answer);
        events.extend(notices(&mut book, &job.trace));
    }
    write::changes(&txn, &book, &events).await?;
    txn.commit().await?;
    Ok((answers, !events.is_empty()))
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
