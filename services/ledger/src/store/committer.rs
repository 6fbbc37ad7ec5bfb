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

use super::load::{self, Known};
use super::write;
use crate::domain::book::{Answer, Book, Command};
use crate::events;

/// Legs (or other rows) a batch may hold before the next waits its turn.
const MAX_WEIGHT: usize = 512;
const QUEUE: usize = 4096;
/// How long a batch may wait for the callers of the last one to come back.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);
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
    let mut known = Known::default();
    let mut answered = 0;
    while let Some(jobs) = next_batch(&mut queue, answered).await {
        answered = jobs.len();
        let answers = commit(&db, &jobs, clock(), &mut known).await;
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

/// The next waiting jobs, up to `MAX_WEIGHT`; `None` once the queue closed.
/// Callers just answered tend to send their next request at once: while
/// fewer than `answered` are waiting, it lingers up to `LINGER` for them.
/// Without it a busy ledger alternates a batch of one with a batch of all
/// the rest, paying a whole transaction for the one.
async fn next_batch(queue: &mut mpsc::Receiver<Job>, answered: usize) -> Option<Vec<Job>> {
    let first = queue.recv().await?;
    let deadline = tokio::time::Instant::now() + LINGER;
    let mut weight = first.command.weight();
    let mut jobs = vec![first];
    while weight < MAX_WEIGHT {
        let job = match queue.try_recv() {
            Ok(job) => job,
            Err(_) if jobs.len() < answered => {
                match tokio::time::timeout_at(deadline, queue.recv()).await {
                    Ok(Some(job)) => job,
                    _ => break,
                }
            }
            Err(_) => break,
        };
        weight += job.command.weight();
        jobs.push(job);
    }
    Some(jobs)
}

type Answers = Vec<Result<Answer, DomainError>>;

async fn commit(
    db: &DatabaseConnection,
    jobs: &[Job],
    now: i64,
    known: &mut Known,
) -> Result<(Answers, bool), DomainError> {
    let mut attempt = 1;
    loop {
        match attempt_batch(db, jobs, now, known).await {
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
    known: &mut Known,
) -> Result<(Answers, bool), DomainError> {
    let txn = db.begin().await?;
    let commands: Vec<&Command> = jobs.iter().map(|j| &j.command).collect();
    let mut book = load::book(&txn, &commands, now, known).await?;
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
