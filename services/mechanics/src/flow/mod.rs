//! The Track flow: dedup by event id, judge the event by the rule versions
//! in force at its occurrence time, record the outcome (with caps, budgets,
//! traits and messages) in one transaction, then credit each award through
//! the ledger and mark the event applied. Every step can be repeated: a
//! replay of a pending event resumes where it stopped, a replay of an
//! applied one answers as the first time. Each award is recorded before its
//! credit, whose key derives from the event and rule ids
//! (`domain::track::award_key`), so nothing is credited twice. What no
//! caller replays, `recovery` finishes.

pub mod recovery;
pub mod upstream;

#[cfg(test)]
mod tests;

use questline_kit::DomainError;
use questline_kit::fingerprint::same_request;
use questline_kit::members::MemberDirectory;
use questline_kit::meter::{EVENT_CREDIT_LATENCY, EVENTS_TRACKED, RULE_VERDICTS};
use questline_kit::time::now_ms;
use std::sync::Arc;

use crate::domain::judge::{self, Occasion, Settlement};
use crate::domain::track::{self, EventStatus, Track, Traits};
use crate::store::{Store, Tracked};
use upstream::Points;

pub struct Tracker {
    store: Store,
    members: MemberDirectory,
    points: Arc<dyn Points>,
}

impl Tracker {
    pub fn new(store: Store, members: MemberDirectory, points: Arc<dyn Points>) -> Tracker {
        Tracker {
            store,
            members,
            points,
        }
    }

    /// The member read model, for checks outside the hot path (exports).
    pub fn members(&self) -> &MemberDirectory {
        &self.members
    }

    /// Tracks, replays or resumes an event, acting downstream with `token`.
    pub async fn track(&self, token: &str, t: &Track) -> Result<Tracked, DomainError> {
        let mut tracked = match self.store.tracked(&t.tenant_id, &t.event_id).await? {
            Some(first) => first,
            None => self.judge(token, t).await?,
        };
        same_request(&tracked.event.fingerprint, &t.fingerprint)?;
        if EventStatus::parse(&tracked.event.status)? != EventStatus::Applied {
            self.finish(token, &mut tracked).await?;
        }
        Ok(tracked)
    }

    /// Judges a first-seen event and records the outcome.
    async fn judge(&self, token: &str, t: &Track) -> Result<Tracked, DomainError> {
        // NOT_FOUND unless identity knows the member (the read model asks
        // identity when the member's event has not arrived yet).
        let member = self.members.get(&t.tenant_id, &t.member_id, token).await?;
        let book = self.store.rule_book(&t.tenant_id).await?;
        let at = t.occurred_at.unwrap_or_else(now_ms);
        let in_force = book.in_force(&t.event_type, at);
        let traits = if in_force.is_empty() {
            Traits::default()
        } else {
            self.store.traits(&t.tenant_id, &t.member_id).await?
        };
        let event = track::event_facts(&t.event_type, &t.event_id, t.attributes.clone());
        let facts = track::member_facts(&member, traits);
        let facts = questline_kit::expr::value(&facts).map_err(DomainError::internal)?;
        let occasion = Occasion {
            at_ms: at,
            event: &event,
            member: &facts,
            dates: track::member_dates(&member.facts),
        };
        let considered = judge::consider(&in_force, &occasion);
        let keys = judge::usage_keys(&considered, at);
        let settle = |usage: &_| judge::settle(considered, usage, at);
        match self.store.record(t, at, &keys, settle).await {
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

    /// Credits every award not yet carried by the ledger, then marks the
    /// awards and the event applied together.
    pub async fn finish(&self, token: &str, tracked: &mut Tracked) -> Result<(), DomainError> {
        for award in tracked
            .awards
            .iter_mut()
            .filter(|a| a.transfer_id.is_none())
        {
            award.transfer_id = Some(self.points.credit(token, award).await?);
        }
        let first = self.store.applied(tracked).await?;
        tracked.event.status = EventStatus::Applied.as_str().into();
        if first && !tracked.awards.is_empty() {
            let since_recorded = now_ms().saturating_sub(tracked.event.created_at);
            metrics::histogram!(EVENT_CREDIT_LATENCY).record(since_recorded as f64 / 1000.0);
        }
        Ok(())
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
