//! The Track flow: dedup by event id, check the event against its type's
//! schema, judge it by the rule versions
//! in force at its occurrence time, record the outcome (with caps, budgets,
//! traits and messages) in one transaction, then credit each award through
//! the ledger and mark the event applied. Every step can be repeated: a
//! replay of a pending event resumes where it stopped, a replay of an
//! applied one answers as the first time. Each award is recorded before its
//! credit, whose key derives from the event and rule ids
//! (`domain::track::award_key`), so nothing is credited twice. What no
//! caller replays, `recovery` finishes; `triggers` tracks the events time
//! brings (birthdays, anniversaries, inactivity).

mod lookup;
pub mod recovery;
pub mod retention;
pub mod triggers;
pub mod upstream;

#[cfg(test)]
mod tests;

use questline_kit::fingerprint::same_request;
use questline_kit::group::Group;
use questline_kit::members::{MemberDirectory, MemberSnapshot};
use questline_kit::meter::{EVENT_CREDIT_LATENCY, EVENTS_TRACKED, RULE_VERDICTS};
use questline_kit::time::now_ms;
use questline_kit::{DomainError, Violations};
use std::sync::Arc;

use crate::domain::book::RuleBook;
use crate::domain::counters;
use crate::domain::judge::InForce;
use crate::domain::judge::{self, Judged, Occasion, Settlement};
use crate::domain::track::{self, EventStatus, Standing, Track};
use crate::store::{Recording, Store, Tracked};
use lookup::{Asked, Lookup, Seen};
use upstream::Points;

pub struct Tracker {
    store: Store,
    members: MemberDirectory,
    points: Arc<dyn Points>,
    lookup: Group<Lookup>,
}

impl Tracker {
    pub fn new(
        store: Store,
        members: MemberDirectory,
        points: Arc<dyn Points>,
    ) -> anyhow::Result<Tracker> {
        let lookup = Lookup {
            reader: store.reader(members.clone())?,
        };
        Ok(Tracker {
            store,
            members,
            points,
            lookup: Group::start(lookup, lookup::MOST),
        })
    }

    /// The member read model, for checks outside the hot path (exports).
    pub fn members(&self) -> &MemberDirectory {
        &self.members
    }

    /// Tracks, replays or resumes an event, acting downstream with `token`.
    pub async fn track(&self, token: &str, t: &Track) -> Result<Tracked, DomainError> {
        let resolved;
        let t = if t.member_id.is_empty() {
            resolved = self.by_external_id(token, t).await?;
            &resolved
        } else {
            t
        };
        let seen = self.lookup.submit(Asked::of(t)).await?;
        let (mut tracked, judged) = match seen.tracked {
            Some(first) => (first, false),
            None => (self.judge(token, t, seen).await?, true),
        };
        same_request(&tracked.event.fingerprint, &t.fingerprint)?;
        if EventStatus::parse(&tracked.event.status)? != EventStatus::Applied {
            // A replay that resumes an event mostly comes within the marks'
            // window, its credits made already: not timed again.
            self.finish(token, &mut tracked, judged).await?;
        }
        Ok(tracked)
    }

    /// The event with its member named by id: the brand's external id read
    /// from the member read model (from identity when not seen yet).
    async fn by_external_id(&self, token: &str, t: &Track) -> Result<Track, DomainError> {
        let member = self
            .members
            .by_external_id(&t.tenant_id, &t.external_id, token);
        Ok(Track {
            member_id: member.await?.member_id,
            ..t.clone()
        })
    }

    /// Judges a first-seen event and records the outcome.
    async fn judge(&self, token: &str, t: &Track, mut seen: Seen) -> Result<Tracked, DomainError> {
        let book = self.store.book_at(&t.tenant_id, seen.revision).await?;
        if let Some(schema) = book.schemas.get(&t.event_type) {
            let mut v = Violations::new();
            schema.check_event(&mut v, &t.attributes);
            v.finish()?;
        }
        // NOT_FOUND unless identity knows the member (the read model asks
        // identity when the member's event has not arrived yet).
        let member = match seen.member.take() {
            Some(known) => known?,
            None => self.members.get(&t.tenant_id, &t.member_id, token).await?,
        };
        let at = t.occurred_at.unwrap_or_else(now_ms);
        let in_force = book.in_force(&t.event_type, at);
        let event = track::event_facts(&t.event_type, &t.event_id, t.attributes.clone());
        let mut additions = counters::additions(&book.counters, &event, at);
        counters::prune_only_stale(&mut additions, &seen.buckets);
        let standing = if in_force.is_empty() {
            Standing::default()
        } else {
            standing(&book, &in_force, &member, at, seen)
        };
        let facts = track::member_facts(&member, standing);
        let facts = questline_kit::expr::value(&facts);
        let occasion = Occasion {
            at_ms: at,
            event: &event,
            member: &facts,
            dates: track::member_dates(&member.facts),
        };
        let considered = judge::consider(&in_force, &occasion);
        let keys = judge::usage_keys(&considered, at);
        let judged = Judged::new(Arc::clone(&book), &t.event_type, at, considered);
        let recording = Recording {
            track: t.clone(),
            occurred_at: at,
            keys,
            additions,
            judged,
        };
        match self.store.record(recording).await {
            Ok((tracked, settlement)) => {
                count(&tracked, &settlement);
                Ok(tracked)
            }
            // The same event tracked concurrently: the first record wins.
            Err(DomainError::Aborted(_)) => self
                .store
                .tracked(&t.tenant_id, &t.event_id)
                .await?
                .ok_or_else(|| DomainError::Aborted("event is being tracked concurrently".into())),
            Err(other) => Err(other),
        }
    }

    /// Credits every award not yet carried by the ledger, then hands over
    /// the marks of the awards and the event applied: the answer waits for
    /// the ledger's durable credit, not for the marks (`store::marks`).
    /// With `timed`, the credit's latency since the record is observed.
    pub async fn finish(
        &self,
        token: &str,
        tracked: &mut Tracked,
        timed: bool,
    ) -> Result<(), DomainError> {
        let mut credited = false;
        for award in tracked
            .awards
            .iter_mut()
            .filter(|a| a.transfer_id.is_none())
        {
            award.transfer_id = Some(self.points.credit(token, award).await?);
            credited = true;
        }
        self.store.applied(tracked).await?;
        tracked.event.status = EventStatus::Applied.as_str().into();
        if credited && timed {
            let since_recorded = now_ms().saturating_sub(tracked.event.created_at);
            metrics::histogram!(EVENT_CREDIT_LATENCY).record(since_recorded as f64 / 1000.0);
        }
        Ok(())
    }
}

/// What the engine knows of the member that the rules in force may read:
/// traits, counters at `at`, and segments when a rule reads them.
fn standing(
    book: &RuleBook,
    in_force: &[InForce<'_>],
    member: &MemberSnapshot,
    at: i64,
    seen: Seen,
) -> Standing {
    let segments = if in_force.iter().any(|f| f.rule.uses_segments) {
        track::segments_of(&book.segments, member)
    } else {
        vec![]
    };
    Standing {
        traits: seen.traits,
        counters: counters::values(&book.counters, &seen.buckets, at),
        segments,
    }
}

/// Counts the event and each live verdict; a runtime error is logged
/// without its text (it can quote event or profile values) above debug.
fn count(tracked: &Tracked, settlement: &Settlement) {
    let outcome = if tracked.awards.is_empty() {
        "no_award"
    } else {
        "awarded"
    };
    metrics::counter!(EVENTS_TRACKED, "outcome" => outcome).increment(1);
    for s in &settlement.rules {
        let mode = if s.shadow { "shadow" } else { "live" };
        metrics::counter!(RULE_VERDICTS, "verdict" => s.verdict.name(), "mode" => mode)
            .increment(1);
        if let judge::Verdict::Error { message } = &s.verdict {
            tracing::warn!(rule_id = %s.rule_id, version = s.version, "rule skipped: its expression failed");
            tracing::debug!(rule_id = %s.rule_id, why = %message, "rule expression error");
        }
    }
}
