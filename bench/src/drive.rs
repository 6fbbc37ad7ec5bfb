//! The drivers: seeding, the closed loop (C clients back to back) and the
//! open loop (a ticker that starts requests on a fixed schedule, whatever
//! the ledger is doing, and times each from its scheduled start).

use anyhow::{Context, bail};
use questline_ledger::store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::stats::{Summary, Tally};
use crate::workload::{Op, Outcome, Rng, SEED_AMOUNT, issue};

/// The ledger under load and the tenant the run writes to.
#[derive(Clone)]
pub struct Target {
    pub store: Store,
    pub tenant: Arc<str>,
    pub wallets: usize,
}

/// Credits every wallet once, `clients` at a time.
pub async fn seed(target: &Target, clients: usize) -> anyhow::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..clients.max(1) {
        let (t, next) = (target.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= t.wallets {
                    return Ok(());
                }
                let op = Op::Credit {
                    to: i,
                    amount: SEED_AMOUNT,
                };
                match issue(&t.store, &t.tenant, &format!("seed-{i}"), op).await {
                    Outcome::Done => {}
                    other => bail!("seeding wallet w{i} failed: {other:?}"),
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a seeding task panicked")??;
    }
    Ok(())
}

/// `clients` tasks, each issuing its next request as soon as the last is answered.
pub async fn closed(
    target: &Target,
    clients: usize,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<Summary> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for c in 0..clients {
        let t = target.clone();
        tasks.spawn(async move {
            let mut rng = Rng::new(seed ^ (c as u64).wrapping_mul(0x1000_0000_01b3));
            let mut tally = Tally::default();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let op = rng.op(t.wallets);
                let key = format!("c{c}-{n}");
                n += 1;
                let began = Instant::now();
                let outcome = issue(&t.store, &t.tenant, &key, op).await;
                record(&mut tally, outcome, began.elapsed());
            }
            tally
        });
    }
    let mut tally = Tally::default();
    while let Some(done) = tasks.join_next().await {
        tally.merge(done.context("a client task panicked")?);
    }
    Ok(tally.summary(start.elapsed()))
}

/// Requests started `rate` times a second for `duration`, each on its own
/// task; returns the summary and the most requests that were in flight at once.
pub async fn open(
    target: &Target,
    rate: f64,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<(Summary, usize)> {
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut peak = 0;
    let mut rng = Rng::new(seed);
    let mut tasks = JoinSet::new();
    let mut tally = Tally::default();
    let start = Instant::now();
    for i in 0..total {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
        while let Some(done) = tasks.try_join_next() {
            let (outcome, latency) = done.context("a request task panicked")?;
            record(&mut tally, outcome, latency);
        }
        let (t, flying) = (target.clone(), in_flight.clone());
        peak = peak.max(flying.fetch_add(1, Ordering::Relaxed) + 1);
        let op = rng.op(t.wallets);
        tasks.spawn(async move {
            let outcome = issue(&t.store, &t.tenant, &format!("o-{i}"), op).await;
            // From the scheduled start: a late start is the ledger's delay too.
            let latency = at.elapsed();
            flying.fetch_sub(1, Ordering::Relaxed);
            (outcome, latency)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (outcome, latency) = done.context("a request task panicked")?;
        record(&mut tally, outcome, latency);
    }
    Ok((tally.summary(start.elapsed()), peak))
}

fn record(tally: &mut Tally, outcome: Outcome, latency: Duration) {
    match outcome {
        Outcome::Done => tally.completed(latency, false),
        Outcome::Refused => tally.completed(latency, true),
        Outcome::Failed(err) => tally.failed(err.to_string()),
    }
}
