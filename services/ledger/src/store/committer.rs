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

/// The jobs of one request, handed over together: a batch takes them
/// whole (only a request heavier than `MAX_WEIGHT` comes in parts).
pub(super) type Arrival = Vec<Job>;

/// Where requests hand their commands to the committing task.
#[derive(Clone)]
pub struct Committer {
    jobs: mpsc::Sender<Arrival>,
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
        let trace = questline_kit::telemetry::current_context();
        let (job, answer) = Job::new(command, audit, trace, check_members);
        self.hand_over(vec![job]).await?;
        answer.await.map_err(|_| gone())?
    }

    /// Hands one request's commands over together, each with the trace it
    /// belongs to: they are batched as one arrival (see `next_batch`), and
    /// each is answered on its own, in order — `UNAVAILABLE` for those the
    /// committer, once gone, never took.
    pub async fn submit_together(
        &self,
        commands: Vec<(Command, BTreeMap<String, String>)>,
        check_members: bool,
    ) -> Vec<Result<Answer, DomainError>> {
        let mut answers = Vec::with_capacity(commands.len());
        let jobs = commands.into_iter().map(|(command, trace)| {
            let (job, answer) = Job::new(command, None, trace, check_members);
            answers.push(answer);
            job
        });
        for arrival in arrivals(jobs) {
            if self.hand_over(arrival).await.is_err() {
                // The rest are dropped: their answers say the ledger is gone.
                break;
            }
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(answer.await.unwrap_or_else(|_| Err(gone())));
        }
        results
    }

    async fn hand_over(&self, arrival: Arrival) -> Result<(), DomainError> {
        self.jobs.send(arrival).await.map_err(|_| gone())
    }
}

/// `jobs` cut into arrivals of at most `MAX_WEIGHT` (a heavier job alone),
/// since a batch takes whole arrivals.
fn arrivals(jobs: impl Iterator<Item = Job>) -> Vec<Arrival> {
    let mut cut: Vec<Arrival> = Vec::new();
    let mut weight = 0;
    for job in jobs {
        let w = job.command.weight();
        match cut.last_mut() {
            Some(last) if weight + w <= MAX_WEIGHT => last.push(job),
            _ => {
                cut.push(vec![job]);
                weight = 0;
            }
        }
        weight += w;
    }
    cut
}

fn gone() -> DomainError {
    DomainError::Unavailable("the ledger is shutting down".into())
}

impl Job {
    fn new(
        command: Command,
        audit: Option<Change>,
        trace: BTreeMap<String, String>,
        check_members: bool,
    ) -> (Job, oneshot::Receiver<Result<Answer, DomainError>>) {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            command,
            audit,
            trace,
            check_members,
            reply,
        };
        (job, answer)
    }
}

async fn run(mut queue: mpsc::Receiver<Arrival>, mut writer: Writer, relay: outbox::Relay) {
    let mut answered = 0;
    let mut next: Option<Batch> = None;
    loop {
        let mut batch = match next.take() {
            Some(batch) => batch,
            None => match next_batch(&mut queue, answered).await {
                Some(gathered) => Batch::of(gathered),
                None => return,
            },
        };
        answered = batch.arrivals;
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

/// The next waiting arrivals, up to `MAX_WEIGHT` (passed by at most one
/// arrival); `None` once the queue closed. Callers just answered tend to
/// send their next request at once: while fewer than `answered` arrivals
/// are waiting, it lingers up to `LINGER` for them. Without it a busy ledger alternates a batch of one
/// with a batch of all the rest, paying a whole transaction for the one.
/// Counted in arrivals, not jobs: a caller sending its credits together
/// (`CreditBatch`) sends nothing more until they are answered.
async fn next_batch(queue: &mut mpsc::Receiver<Arrival>, answered: usize) -> Option<Gathered> {
    let mut gathered = Gathered::default();
    gathered.take(queue.recv().await?, queue);
    let deadline = tokio::time::Instant::now() + LINGER;
    while gathered.arrivals < answered && !gathered.full() {
        match tokio::time::timeout_at(deadline, queue.recv()).await {
            Ok(Some(arrival)) => gathered.take(arrival, queue),
            _ => break,
        }
    }
    Some(gathered)
}

/// The arrivals gathered for a batch: their jobs, how many, their weight.
#[derive(Default)]
pub(super) struct Gathered {
    pub jobs: Vec<Job>,
    pub arrivals: usize,
    weight: usize,
}

impl Gathered {
    /// Adds `arrival`, then those already waiting behind it, up to
    /// `MAX_WEIGHT`.
    pub fn take(&mut self, arrival: Arrival, queue: &mut mpsc::Receiver<Arrival>) {
        self.add(arrival);
        while !self.full() {
            let Ok(arrival) = queue.try_recv() else { break };
            self.add(arrival);
        }
    }

    pub fn full(&self) -> bool {
        self.weight >= MAX_WEIGHT
    }

    fn add(&mut self, arrival: Arrival) {
        self.arrivals += 1;
        self.weight += arrival.iter().map(|j| j.command.weight()).sum::<usize>();
        self.jobs.extend(arrival);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    fn arrival(jobs: usize) -> Arrival {
        (0..jobs)
            .map(|i| {
                let command = Command::VoidHold {
                    tenant_id: "t".into(),
                    hold_id: format!("h{i}"),
                };
                Job::new(command, None, BTreeMap::new(), false).0
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_sent_together_is_one_arrival_and_waits_for_no_other() {
        let (jobs, mut queue) = mpsc::channel(QUEUE);
        jobs.send(arrival(10)).await.unwrap();
        let last = next_batch(&mut queue, 0).await.unwrap();
        // Its caller comes back with fewer commands than it was answered
        // for: one arrival, as many as the last batch answered.
        jobs.send(arrival(5)).await.unwrap();
        let started = Instant::now();
        let gathered = next_batch(&mut queue, last.arrivals).await.unwrap();
        assert_eq!((gathered.arrivals, gathered.jobs.len()), (1, 5));
        assert_eq!(Instant::now(), started, "no linger");
    }

    #[test]
    fn a_heavy_request_is_cut_into_arrivals_no_heavier_than_a_batch() {
        let cut = arrivals(arrival(MAX_WEIGHT * 2 + 1).into_iter());
        let sizes: Vec<usize> = cut.iter().map(Vec::len).collect();
        assert_eq!(sizes, [MAX_WEIGHT, MAX_WEIGHT, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn fewer_arrivals_than_the_last_batch_answered_linger_for_the_rest() {
        let (jobs, mut queue) = mpsc::channel(QUEUE);
        jobs.send(arrival(10)).await.unwrap();
        let late = jobs.clone();
        tokio::spawn(async move { late.send(arrival(1)).await.unwrap() });
        let started = Instant::now();
        let gathered = next_batch(&mut queue, 3).await.unwrap();
        assert_eq!((gathered.arrivals, gathered.jobs.len()), (2, 11));
        assert_eq!(Instant::now() - started, LINGER, "lingered its whole time");
    }
}
