//! The Track flow: dedup by event id, evaluate the active rules against the
//! event and the member, record the outcome, then credit each award through
//! the ledger. Every step can be repeated: a replay of a pending event resumes
//! where it stopped, a replay of an applied one answers as the first time.
//! Each award is recorded before its credit, whose key derives from the
//! event and rule ids (`domain::track::award_key`), so nothing is credited twice.

pub mod upstream;

#[cfg(test)]
mod tests;

use questline_kit::DomainError;
use questline_kit::fingerprint::same_request;
use questline_kit::members::MemberDirectory;
use questline_kit::meter::{EVENT_CREDIT_LATENCY, EVENTS_TRACKED};
use questline_kit::time::now_ms;
use std::sync::Arc;

use crate::domain::rules::{CompiledRule, Facts};
use crate::domain::track::{self, EventStatus, Track};
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
            None => self.evaluate(token, t).await?,
        };
        same_request(&tracked.event.fingerprint, &t.fingerprint)?;
        if EventStatus::parse(&tracked.event.status)? != EventStatus::Applied {
            self.apply(token, &mut tracked).await?;
        }
        Ok(tracked)
    }

    /// Runs the rules on a first-seen event and records what it earns.
    async fn evaluate(&self, token: &str, t: &Track) -> Result<Tracked, DomainError> {
        // NOT_FOUND unless identity knows the member (the read model asks
        // identity when the member's event has not arrived yet).
        let member = self.members.get(&t.tenant_id, &t.member_id, token).await?;
        let rules = self.rules(&t.tenant_id, &t.event_type).await?;
        let facts = Facts::new(
            &t.event_type,
            t.attributes.clone(),
            &member.member_id,
            &member.external_id,
            &member.facts,
        );
        let evaluation = track::evaluate(&rules, &facts);
        for skipped in &evaluation.skipped {
            // The reason can quote event or profile values: debug level only.
            tracing::warn!(rule_id = %skipped.rule_id, "rule skipped: its expression failed");
            tracing::debug!(rule_id = %skipped.rule_id, why = %skipped.why, "rule expression error");
        }
        let awards = evaluation.awards;
        match self.store.record(t, &awards).await {
            Ok(tracked) => {
                let outcome = if awards.is_empty() {
                    "no_award"
                } else {
                    "awarded"
                };
                metrics::counter!(EVENTS_TRACKED, "outcome" => outcome).increment(1);
                Ok(tracked)
            }
            // The same event tracked concurrently: the first record wins.
            Err(DomainError::Aborted(_)) => self
                .store
                .tracked(&t.tenant_id, &t.event_id)
                .await?
                .ok_or_else(|| DomainError::Aborted("event is being tracked concurrently".into())),
            other => other,
        }
    }

    /// The tenant's active rules for the event type; a stored rule that no
    /// longer compiles is skipped, never a reason to refuse the event.
    async fn rules(
        &self,
        tenant_id: &str,
        event_type: &str,
    ) -> Result<Vec<CompiledRule>, DomainError> {
        let specs = self.store.active_rules(tenant_id, event_type).await?;
        let rules = specs
            .into_iter()
            .filter_map(|spec| {
                let rule_id = spec.rule_id.clone();
                spec.compile_stored()
                    .inspect_err(|err| tracing::warn!(%rule_id, %err, "stored rule does not compile; skipped"))
                    .ok()
            })
            .collect();
        Ok(rules)
    }

    /// Credits every award not yet carried by the ledger, then marks the event applied.
    async fn apply(&self, token: &str, tracked: &mut Tracked) -> Result<(), DomainError> {
        for award in tracked
            .awards
            .iter_mut()
            .filter(|a| a.transfer_id.is_none())
        {
            let transfer_id = self.points.credit(token, award).await?;
            self.store.award_applied(award, &transfer_id).await?;
            award.transfer_id = Some(transfer_id);
        }
        let first = self
            .store
            .event_applied(&tracked.event.tenant_id, &tracked.event.event_id)
            .await?;
        tracked.event.status = EventStatus::Applied.as_str().into();
        if first && !tracked.awards.is_empty() {
            let since_recorded = now_ms().saturating_sub(tracked.event.created_at);
            metrics::histogram!(EVENT_CREDIT_LATENCY).record(since_recorded as f64 / 1000.0);
        }
        Ok(())
    }
}
