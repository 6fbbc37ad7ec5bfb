//! Group commit: concurrent callers hand their writes to one task, which
//! carries out every write waiting in one database transaction. They then
//! share its round trips and its fsync instead of paying for their own.
//!
//! Invariant: every job submitted gets exactly one answer — the batch's for
//! it, or `UNAVAILABLE` when the task is gone. A job handed over is carried
//! out at most once, and nobody hears how it went: only work that is done
//! again later when it is lost may be handed over.

use async_trait::async_trait;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use crate::DomainError;

/// How many jobs may wait for the task before `submit` waits its turn.
const QUEUE: usize = 4096;

/// What the task does with a batch: one answer per job, in their order.
#[async_trait]
pub trait Batch: Send + 'static {
    type Job: Send + 'static;
    type Answer: Send + 'static;

    async fn carry_out(&mut self, jobs: Vec<Self::Job>) -> Vec<Result<Self::Answer, DomainError>>;
}

struct Queued<J, A> {
    job: J,
    /// None: handed over, nobody waits for the answer.
    reply: Option<oneshot::Sender<Result<A, DomainError>>>,
}

/// Where callers hand their jobs to the committing task.
pub struct Group<B: Batch> {
    jobs: mpsc::Sender<Queued<B::Job, B::Answer>>,
}

impl<B: Batch> Clone for Group<B> {
    fn clone(&self) -> Self {
        Group {
            jobs: self.jobs.clone(),
        }
    }
}

impl<B: Batch> Group<B> {
    /// Starts the task, which takes up to `most` waiting jobs a batch; it
    /// ends once every `Group` clone is dropped.
    pub fn start(batch: B, most: usize) -> Group<B> {
        Group::start_gathering(batch, most, Duration::ZERO)
    }

    /// As `start`, but a batch gathers jobs for `gather` after its first
    /// before it is carried out: larger batches for work nobody waits on.
    pub fn start_gathering(batch: B, most: usize, gather: Duration) -> Group<B> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(queue, batch, most.max(1), gather));
        Group { jobs }
    }

    pub async fn submit(&self, job: B::Job) -> Result<B::Answer, DomainError> {
        let (reply, answer) = oneshot::channel();
        self.queue(job, Some(reply)).await?;
        answer.await.map_err(|_| gone())?
    }

    /// Queues `job` without waiting for its answer (see the invariant).
    pub async fn hand_over(&self, job: B::Job) -> Result<(), DomainError> {
        self.queue(job, None).await
    }

    async fn queue(
        &self,
        job: B::Job,
        reply: Option<oneshot::Sender<Result<B::Answer, DomainError>>>,
    ) -> Result<(), DomainError> {
        let queued = Queued { job, reply };
        self.jobs.send(queued).await.map_err(|_| gone())
    }
}

fn gone() -> DomainError {
    DomainError::Unavailable("the service is shutting down".into())
}

async fn run<B: Batch>(
    mut queue: mpsc::Receiver<Queued<B::Job, B::Answer>>,
    mut batch: B,
    most: usize,
    gather: Duration,
) {
    while let Some(first) = queue.recv().await {
        let waiting = gathered(&mut queue, first, most, gather).await;
        let (jobs, replies): (Vec<_>, Vec<_>) =
            waiting.into_iter().map(|q| (q.job, q.reply)).unzip();
        let mut answers = batch.carry_out(jobs).await.into_iter();
        for reply in replies {
            let answer = answers
                .next()
                .unwrap_or_else(|| Err(DomainError::internal("a batch left a job unanswered")));
            if let Some(reply) = reply {
                let _ = reply.send(answer);
            }
        }
    }
}

/// `first` and the jobs behind it, up to `most`: those already waiting,
/// and with a `gather` those that arrive within it.
async fn gathered<J, A>(
    queue: &mut mpsc::Receiver<Queued<J, A>>,
    first: Queued<J, A>,
    most: usize,
    gather: Duration,
) -> Vec<Queued<J, A>> {
    let deadline = tokio::time::Instant::now() + gather;
    let mut waiting = vec![first];
    while waiting.len() < most {
        let next = match queue.try_recv() {
            Ok(next) => Some(next),
            Err(_) if gather.is_zero() => None,
            Err(_) => tokio::time::timeout_at(deadline, queue.recv())
                .await
                .ok()
                .flatten(),
        };
        match next {
            Some(next) => waiting.push(next),
            None => break,
        }
    }
    waiting
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Doubles each number; remembers the largest batch it saw.
    struct Doubler(Arc<AtomicUsize>);

    #[async_trait]
    impl Batch for Doubler {
        type Job = i64;
        type Answer = i64;

        async fn carry_out(&mut self, jobs: Vec<i64>) -> Vec<Result<i64, DomainError>> {
            self.0.fetch_max(jobs.len(), Ordering::Relaxed);
            tokio::task::yield_now().await;
            jobs.into_iter()
                .map(|n| {
                    if n < 0 {
                        Err(DomainError::invalid("n", "must not be negative"))
                    } else {
                        Ok(n * 2)
                    }
                })
                .collect()
        }
    }

    #[tokio::test]
    async fn every_job_gets_its_own_answer_and_waiting_jobs_share_a_batch() {
        let largest = Arc::new(AtomicUsize::new(0));
        let group = Group::start(Doubler(Arc::clone(&largest)), 8);
        let calls = (-5..200).map(|n| {
            let group = group.clone();
            tokio::spawn(async move { (n, group.submit(n).await) })
        });
        for call in futures::future::join_all(calls).await {
            let (n, answer) = call.unwrap();
            match answer {
                Ok(doubled) => assert_eq!(doubled, n * 2),
                Err(DomainError::Invalid(_)) => assert!(n < 0),
                Err(other) => panic!("{n}: {other:?}"),
            }
        }
        let largest = largest.load(Ordering::Relaxed);
        assert!((2..=8).contains(&largest), "largest batch {largest}");
    }

    /// A batch that answers too few: the rest hear so instead of hanging.
    struct Forgetful;

    #[async_trait]
    impl Batch for Forgetful {
        type Job = ();
        type Answer = ();

        async fn carry_out(&mut self, _: Vec<()>) -> Vec<Result<(), DomainError>> {
            vec![]
        }
    }

    #[tokio::test]
    async fn a_job_left_unanswered_hears_an_error() {
        let group = Group::start(Forgetful, 4);
        assert!(matches!(
            group.submit(()).await,
            Err(DomainError::Internal(_))
        ));
    }

    /// Counts the jobs it carried out, batch by batch.
    struct Tally(Arc<std::sync::Mutex<Vec<usize>>>);

    #[async_trait]
    impl Batch for Tally {
        type Job = ();
        type Answer = usize;

        async fn carry_out(&mut self, jobs: Vec<()>) -> Vec<Result<usize, DomainError>> {
            let mut batches = self.0.lock().unwrap();
            batches.push(jobs.len());
            jobs.iter().map(|_| Ok(batches.len())).collect()
        }
    }

    #[tokio::test]
    async fn jobs_handed_over_within_the_gather_share_one_batch() {
        let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
        let gather = std::time::Duration::from_millis(200);
        let group = Group::start_gathering(Tally(Arc::clone(&batches)), 64, gather);
        for _ in 0..10 {
            group.hand_over(()).await.unwrap();
        }
        // The one who waits hears the batch it rode in: the first.
        assert_eq!(group.submit(()).await.unwrap(), 1);
        assert_eq!(*batches.lock().unwrap(), [11]);
    }
}
