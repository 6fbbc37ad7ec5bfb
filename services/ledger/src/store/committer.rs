//! Group commit: one task takes every write in arrival order and carries
//! out as many as are waiting in one database transaction (a batch, see
//! `batch`). Concurrent requests then share the transaction's round trips
//! and its fsync, and the issuance account, touched by every credit, is
//! written once per batch.

use questline_kit::audit::Change;
use questline_kit::{DomainError, outbox};
use sea_orm::DatabaseConnection;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use super::batch::Writer;
use crate::domain::book::{Answer, Command};

/// Legs (or other rows) a batch may hold before the next waits its turn.
const MAX_WEIGHT: usize = 512;
const QUEUE: usize = 4096;
/// How long a batch may wait for the callers of the last one to come back.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;
type Reply = oneshot::Sender<Result<Answer, DomainError>>;

pub struct Job {
    pub command: Command,
    /// Staged as `audit.recorded` when the command succeeds.
    pub audit: Option<Change>,
    pub trace: BTreeMap<String, String>,
    /// Refused unless every member it names is in the member read model
    /// (see `load::Members`); a store's own callers (tools, tests) vouch
    /// for their members themselves.
    pub check_members: bool,
    reply: Reply,
}

/// Where requests hand their commands to the committing task.
#[derive(Clone)]
pub struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the task; it ends once every `Committer` clone is dropped.
    /// `url` is `db`'s, for the task's own connection on PostgreSQL.
    pub fn start(
        db: DatabaseConnection,
        url: &str,
        relay: outbox::Relay,
        clock: Clock,
    ) -> anyhow::Result<Committer> {
        let writer = Writer::open(db, url)?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(queue, writer, relay, clock));
        Ok(Committer { jobs })
    }

    pub async fn submit(
        &self,
        command: Command,
        audit: Option<Change>,
        check_members: bool,
    ) -> Result<Answer, DomainError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            command,
            audit,
            trace: questline_kit::telemetry::current_context(),
            check_members,
            reply,
        };
        let gone = || DomainError::Unavailable("the ledger is shutting down".into());
        self.jobs.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(
    mut queue: mpsc::Receiver<Job>,
    mut writer: Writer,
    relay: outbox::Relay,
    clock: Clock,
) {
    let mut answered = 0;
    while let Some(jobs) = next_batch(&mut queue, answered).await {
        answered = jobs.len();
        match writer.commit(&jobs, clock()).await {
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
