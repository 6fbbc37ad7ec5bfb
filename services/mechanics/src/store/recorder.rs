//! Recording first-seen events, before any point moves: the event with its
//! attributes and verdicts, its awards, caps and budgets usage, its
//! member's counters, the traits rules set, the messages they emit.
//!
//! Events that arrive together are recorded together (`kit::group`): one
//! transaction, one fsync, each usage row locked once and settled event by
//! event in arrival order, so a cap or a budget holds across the batch as
//! it does across batches. Settling is pure (`settle`): the rows it gives
//! (`Outcomes`) are then written together — on PostgreSQL in two flights,
//! the locks with BEGIN and the writes with COMMIT (`pipelined::record`).
//! A batch that fails (an event id another instance recorded first, a
//! deadlock) is recorded again one event at a time, so one event's failure
//! is its own.

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use questline_kit::group::Batch;
use questline_kit::time::now_ms;
use questline_kit::{DomainError, outbox};
use sea_orm::{TransactionTrait, TryIntoModel};

use super::outcomes::Outcomes;
use super::pipelined::{self, Engine};
use super::tracked::{self, Tracked, UsageRow};
use super::traits::{ATTRIBUTE, TAG};
use crate::domain::counters::Addition;
use crate::domain::judge::{Judged, Settled, Settlement, UsageKey};
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
pub(super) type Answers = Vec<Result<Recorded, DomainError>>;

pub(super) struct Recorder {
    pub engine: Engine,
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
    /// Records `jobs` in one transaction.
    async fn write(&mut self, jobs: &[Recording]) -> Result<Answers, DomainError> {
        let rows = usage_rows(jobs);
        let settled = |usage| settle(jobs, usage);
        let (answers, outcomes) = match &mut self.engine {
            Engine::Pipelined(link) => pipelined::record(link, &rows, settled).await?,
            Engine::Stepwise(db) => {
                let txn = db.begin().await?;
                let mut usage = HashMap::with_capacity(rows.len());
                for row in rows {
                    let used = tracked::lock_usage(&txn, &row).await?;
                    usage.insert(row, used);
                }
                let (answers, outcomes) = settled(usage)?;
                outcomes.write(&txn).await?;
                txn.commit().await?;
                (answers, outcomes)
            }
        };
        let staged = !outcomes.messages.is_empty();
        Ok(self.relay.woken((answers, staged)))
    }
}

/// Every usage row the batch reads, in the one order every batch locks
/// them in, so two batches never wait on each other in a cycle.
fn usage_rows(jobs: &[Recording]) -> BTreeSet<UsageRow> {
    jobs.iter()
        .flat_map(|j| j.keys.iter().map(|k| tracked::usage_row(&j.track, k)))
        .collect()
}

/// Settles `jobs` in arrival order against `usage` (as locked), and gives
/// the rows they write. An event id twice in the batch: the later one is
/// ABORTED, as when two callers race on it.
pub(super) fn settle(
    jobs: &[Recording],
    mut usage: HashMap<UsageRow, Used>,
) -> Result<(Answers, Outcomes), DomainError> {
    let mut out = Outcomes::default();
    let mut firsts = HashSet::new();
    let mut answers = Vec::with_capacity(jobs.len());
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
                let used = usage.get(&tracked::usage_row(t, k)).copied();
                (k.clone(), used.unwrap_or_default())
            })
            .collect();
        let settlement = job.judged.settle(&view);
        for (key, delta) in &settlement.usage {
            let row = tracked::usage_row(t, key);
            add(usage.entry(row.clone()).or_default(), *delta);
            add(out.usage.entry(row).or_default(), *delta);
        }
        count(&mut out, t, &job.additions);
        answers.push(Ok(outcome(&mut out, job, settlement)?));
    }
    Ok((answers, out))
}

/// The event's rows, its awards, traits and messages among `out`.
fn outcome(
    out: &mut Outcomes,
    job: &Recording,
    settlement: Settlement,
) -> Result<Recorded, DomainError> {
    let t = &job.track;
    let mut awards = Vec::new();
    for s in settlement.applied() {
        if let Some((currency, points)) = &s.points {
            awards.push(tracked::award_row(t, s, currency, *points).try_into_model()?);
        }
        keep_traits(out, t, s);
        for kind in &s.effects.messages {
            let message = events::rule_message(t, &s.rule_id, s.version, kind);
            out.messages.push(message);
        }
    }
    let event = tracked::event_row(t, job.occurred_at, &settlement, awards.is_empty())?;
    awards.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
    let tracked = Tracked {
        event: event.try_into_model()?,
        awards,
    };
    out.awards.extend(tracked.awards.iter().cloned());
    out.events.push(tracked.event.clone());
    Ok((tracked, settlement))
}

/// The tags and attributes `s` sets on the event's member; a later event
/// of the batch setting the same one wins.
fn keep_traits(out: &mut Outcomes, t: &Track, s: &Settled) {
    let now = now_ms();
    let key = |kind: &str, name: &str| {
        let (tenant, member) = (t.tenant_id.clone(), t.member_id.clone());
        (tenant, member, kind.to_string(), name.to_string())
    };
    for tag in &s.effects.tags {
        out.traits.insert(key(TAG, tag), ("true".into(), now));
    }
    for (name, value) in &s.effects.attributes {
        out.traits
            .insert(key(ATTRIBUTE, name), (value.to_string(), now));
    }
}

/// What the event adds to its member's counters, and the buckets they
/// no longer keep.
fn count(out: &mut Outcomes, t: &Track, additions: &[Addition]) {
    let (tenant, member) = (&t.tenant_id, &t.member_id);
    for a in additions {
        let bucket = (
            tenant.clone(),
            member.clone(),
            a.counter_id.clone(),
            a.bucket.clone(),
        );
        *out.counters.entry(bucket).or_default() += a.amount;
        if let Some(oldest) = &a.prune_before {
            let counter = (tenant.clone(), member.clone(), a.counter_id.clone());
            let kept = out.oldest.entry(counter).or_default();
            if oldest > kept {
                kept.clone_from(oldest);
            }
        }
    }
}

fn add(used: &mut Used, delta: Used) {
    used.count += delta.count;
    used.points += delta.points;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(member_id: &str) -> Track {
        Track {
            tenant_id: "t".into(),
            event_id: format!("e-{member_id}"),
            member_id: member_id.into(),
            external_id: String::new(),
            event_type: "purchase".into(),
            attributes: Default::default(),
            occurred_at: None,
            fingerprint: String::new(),
        }
    }

    fn addition(bucket: &str, amount: f64, prune_before: Option<&str>) -> Addition {
        Addition {
            counter_id: "spend".into(),
            bucket: bucket.into(),
            amount,
            prune_before: prune_before.map(Into::into),
        }
    }

    /// Events of one member that arrive together add to one bucket row
    /// (an upsert may touch a row once), and the newest cut-off wins.
    #[test]
    fn a_batch_sums_each_bucket_and_keeps_the_newest_cut_off() {
        let mut out = Outcomes::default();
        let m1 = track("m1");
        count(
            &mut out,
            &m1,
            &[addition("2026-12-06", 10.0, Some("2026-11-06"))],
        );
        count(
            &mut out,
            &m1,
            &[addition("2026-12-06", 5.5, Some("2026-11-07"))],
        );
        count(&mut out, &track("m2"), &[addition("2026-12-06", 1.0, None)]);
        let bucket = |m: &str| ("t".into(), m.into(), "spend".into(), "2026-12-06".into());
        assert_eq!(out.counters.len(), 2);
        assert_eq!(out.counters[&bucket("m1")], 15.5);
        assert_eq!(out.counters[&bucket("m2")], 1.0);
        let counter = ("t".to_string(), "m1".to_string(), "spend".to_string());
        assert_eq!(out.oldest.len(), 1);
        assert_eq!(out.oldest[&counter], "2026-11-07");
    }
}
