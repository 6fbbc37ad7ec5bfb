//! Recording first-seen events, before any point moves: the event with its
//! attributes and verdicts, its awards, caps and budgets usage, its
//! member's counters, the traits rules set, the messages they emit.
//!
//! Events that arrive together are recorded together (`kit::group`): one
//! transaction, one fsync, each usage row locked once and settled event by
//! event in arrival order, so a cap or a budget holds across the batch as
//! it does across batches. A batch that fails (an event id another
//! instance recorded first, a deadlock) is recorded again one event at a
//! time, so one event's failure is its own.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use questline_kit::group::Batch;
use questline_kit::{DomainError, outbox};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, EntityTrait, TransactionTrait, TryIntoModel,
};

use super::counters;
use super::entities::{award, tracked_event};
use super::tracked::{self, Tracked, UsageRow};
use crate::domain::counters::Addition;
use crate::domain::judge::{Judged, Settlement, UsageKey};
use crate::domain::rules::limits::Used;
use crate::domain::track::Track;
use crate::events;

/// Most events in one batch: well under either database's bound on a
/// statement's parameters for the multi-row inserts.
pub(super) const MOST: usize = 256;

/// A first-seen event, judged, waiting to be settled and written.
pub struct Recording {
    pub track: Track,
    pub occurred_at: i64,
    /// The usage rows its settlement reads (`judge::usage_keys`).
    pub keys: Vec<UsageKey>,
    /// What it adds to its member's counters.
    pub additions: Vec<Addition>,
    pub judged: Judged,
}

pub type Recorded = (Tracked, Settlement);
type Answers = Vec<Result<Recorded, DomainError>>;

pub(super) struct Recorder {
    pub db: DatabaseConnection,
    pub relay: outbox::Relay,
}

#[async_trait]
impl Batch for Recorder {
    type Job = Recording;
    type Answer = Recorded;

    async fn carry_out(&mut self, jobs: Vec<Recording>) -> Answers {
        if jobs.len() > 1 {
            match self.write(&jobs).await {
                Ok(answers) => return answers,
                Err(err) => {
                    tracing::debug!(%err, events = jobs.len(), "batch failed; recording its events one by one");
                }
            }
        }
        let mut answers = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let alone = self.write(std::slice::from_ref(job)).await;
            answers.push(alone.and_then(|mut one| {
                one.pop()
                    .unwrap_or_else(|| Err(DomainError::internal("an event went unrecorded")))
            }));
        }
        answers
    }
}

impl Recorder {
    /// Records `jobs` in one transaction. An event id twice in the batch:
    /// the later one is ABORTED, as when two callers race on it.
    async fn write(&self, jobs: &[Recording]) -> Result<Answers, DomainError> {
        let txn = self.db.begin().await?;
        let mut usage = lock_all(&txn, jobs).await?;
        let mut moved: BTreeMap<UsageRow, Used> = BTreeMap::new();
        let mut firsts = HashSet::new();
        let mut answers = Vec::with_capacity(jobs.len());
        let mut staged = false;
        for job in jobs {
            let t = &job.track;
            if !firsts.insert((t.tenant_id.as_str(), t.event_id.as_str())) {
                let twice = "event is being tracked concurrently";
                answers.push(Err(DomainError::Aborted(twice.into())));
                continue;
            }
            let view = job
                .keys
                .iter()
                .map(|k| {
                    (
                        k.clone(),
                        usage
                            .get(&tracked::usage_row(t, k))
                            .copied()
                            .unwrap_or_default(),
                    )
                })
                .collect();
            let settlement = job.judged.settle(&view);
            for (key, delta) in &settlement.usage {
                let row = tracked::usage_row(t, key);
                add(usage.entry(row.clone()).or_default(), *delta);
                add(moved.entry(row).or_default(), *delta);
            }
            let (recorded, messages) = self.outcome(&txn, job, settlement).await?;
            staged |= messages;
            answers.push(Ok(recorded));
        }
        for (row, delta) in &moved {
            tracked::add_usage(&txn, row, *delta).await?;
        }
        let additions: Vec<_> = jobs
            .iter()
            .map(|j| (&j.track.tenant_id, &j.track.member_id, &j.additions[..]))
            .collect();
        counters::add(&txn, &additions).await?;
        insert_rows(&txn, &answers).await?;
        txn.commit().await?;
        Ok(self.relay.woken((answers, staged)))
    }

    /// The rows of one settled event, its traits and messages written;
    /// whether it staged a message.
    async fn outcome(
        &self,
        txn: &DatabaseTransaction,
        job: &Recording,
        settlement: Settlement,
    ) -> Result<(Recorded, bool), DomainError> {
        let t = &job.track;
        let mut awards = Vec::new();
        let mut staged = false;
        for s in settlement.applied() {
            if let Some((currency, points)) = &s.points {
                awards.push(tracked::award_row(t, s, currency, *points).try_into_model()?);
            }
            tracked::keep_traits(txn, t, s).await?;
            for kind in &s.effects.messages {
                let message = events::rule_message(t, &s.rule_id, s.version, kind);
                outbox::stage(txn, &message).await?;
                staged = true;
            }
        }
        let event = tracked::event_row(t, job.occurred_at, &settlement, awards.is_empty())?;
        awards.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
        let tracked = Tracked {
            event: event.try_into_model()?,
            awards,
        };
        Ok(((tracked, settlement), staged))
    }
}

fn add(used: &mut Used, delta: Used) {
    used.count += delta.count;
    used.points += delta.points;
}

/// Every usage row the batch reads, locked in one order (rows sorted), so
/// two batches never wait on each other in a cycle.
async fn lock_all(
    txn: &DatabaseTransaction,
    jobs: &[Recording],
) -> Result<HashMap<UsageRow, Used>, DomainError> {
    let rows: BTreeSet<UsageRow> = jobs
        .iter()
        .flat_map(|j| j.keys.iter().map(|k| tracked::usage_row(&j.track, k)))
        .collect();
    let mut usage = HashMap::with_capacity(rows.len());
    for row in rows {
        let used = tracked::lock_usage(txn, &row).await?;
        usage.insert(row, used);
    }
    Ok(usage)
}

/// The batch's events and awards, each table in one statement.
async fn insert_rows(txn: &DatabaseTransaction, answers: &Answers) -> Result<(), DomainError> {
    let recorded = || {
        answers
            .iter()
            .filter_map(|a| a.as_ref().ok())
            .map(|(t, _)| t)
    };
    let awards: Vec<award::ActiveModel> = recorded()
        .flat_map(|t| t.awards.iter().cloned().map(Into::into))
        .collect();
    let events: Vec<tracked_event::ActiveModel> =
        recorded().map(|t| t.event.clone().into()).collect();
    if !awards.is_empty() {
        award::Entity::insert_many(awards).exec(txn).await?;
    }
    if !events.is_empty() {
        tracked_event::Entity::insert_many(events).exec(txn).await?;
    }
    Ok(())
}
