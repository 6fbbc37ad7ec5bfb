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

use super::batch::{Batch, Writer};
use crate::domain::book::{Answer, Command};

/// Legs (or other rows) a batch may hold before the next waits its turn.
const MAX_WEIGHT: usize = 512;
const QUEUE: usize = 4096;
/// How long a batch may wait for the callers of the last one to come back,
/// and for the rest of a burst arriving behind a batch being written.
pub(super) const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

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
        let writer = Writer::open(db, url, clock)?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(queue, writer, relay));
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

async fn run(mut queue: mpsc::Receiver<Job>, mut writer: Writer, relay: outbox::Relay) {
    let mut answered = 0;
    let mut next: Option<Batch> = None;
    loop {
        let mut batch = match next.take() {
            Some(batch) => batch,
            None => match next_batch(&mut queue, answered).await {
                Some(jobs) => Batch::of(jobs),
                None => return,
            },
        };
        answered = batch.jobs.len();
        let outcome = writer.commit(&mut batch, &mut queue, &mut next).await;
        match outcome {
            Ok((answers, staged)) => {
                if staged {
                    relay.wake();
                }
                for (job, answer) in batch.jobs.into_iter().zip(answers) {
                    let _ = job.reply.send(answer);
                }
            }
            Err(err) => {
                for job in batch.jobs {
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
    let mut gathered = Gathered::default();
    gathered.take(queue.recv().await?, queue);
    let deadline = tokio::time::Instant::now() + LINGER;
    while gathered.jobs.len() < answered && !gathered.full() {
        match tokio::time::timeout_at(deadline, queue.recv()).await {
            Ok(Some(job)) => gathered.take(job, queue),
            _ => break,
        }
    }
    Some(gathered.jobs)
}

/// The jobs gathered for a batch, and their weight.
#[derive(Default)]
pub(super) struct Gathered {
    pub jobs: Vec<Job>,
    weight: usize,
}

impl Gathered {
    /// Adds `job`, then those already waiting behind it, up to `MAX_WEIGHT`.
    pub fn take(&mut self, job: Job, queue: &mut mpsc::Receiver<Job>) {
        self.add(job);
        while !self.full() {
            let Ok(job) = queue.try_recv() else { break };
            self.add(job);
        }
    }

    pub fn full(&self) -> bool {
        self.weight >= MAX_WEIGHT
    }

    fn add(&mut self, job: Job) {
        self.weight += job.command.weight();
        self.jobs.push(job);
    }
}
