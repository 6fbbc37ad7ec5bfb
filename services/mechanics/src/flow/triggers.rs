//! The time-trigger sweep: soon after start and every 10 minutes, for each
//! tenant whose rules in force listen to the engine's own event types, it
//! tracks each member's birthday, sign-up anniversary and inactivity
//! events through the ordinary Track flow, with the service's own token.
//! Their ids make each happen once however often the sweep runs.

use jiff::Timestamp;
use questline_kit::DomainError;
use questline_kit::credential::ServiceCredential;
use questline_kit::fingerprint::key_of;
use questline_kit::members::MemberSnapshot;
use questline_kit::time::now_ms;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::Tracker;
use crate::domain::book::RuleBook;
use crate::domain::track::{self, Track};
use crate::domain::triggers::{self, Due};

/// How often the sweep runs, and how soon after start the first one does.
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);
const FIRST_AFTER: Duration = Duration::from_secs(3);

/// Sweeps until `stop`; without a service key it waits for one.
pub async fn run(
    tracker: Arc<Tracker>,
    credential: Arc<ServiceCredential>,
    stop: CancellationToken,
) {
    let mut wait = FIRST_AFTER;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        if !credential.has_key() {
            wait = FIRST_AFTER;
            continue;
        }
        wait = SWEEP_EVERY;
        if let Err(err) = sweep(&tracker, &credential).await {
            tracing::warn!(%err, "time-trigger sweep stopped early");
        }
    }
}

/// One sweep over every tenant with rules; returns the events it tracked
/// (first time or again).
pub async fn sweep(
    tracker: &Tracker,
    credential: &ServiceCredential,
) -> Result<usize, DomainError> {
    let mut tracked = 0;
    for tenant_id in tracker.store.tenants_with_rules().await? {
        let due = due(tracker, &tenant_id).await?;
        if due.is_empty() {
            continue;
        }
        let token = credential.token(&tenant_id).await?;
        let now = now_ms();
        for d in due.into_values() {
            let t = trigger_event(&tenant_id, d, now);
            match tracker.track(&token, &t).await {
                Ok(_) => tracked += 1,
                Err(err) => tracing::warn!(
                    %tenant_id, event_id = %t.event_id, %err,
                    "time trigger not tracked; next sweep retries"
                ),
            }
        }
    }
    Ok(tracked)
}

/// The trigger events due now in a tenant, by event id.
async fn due(tracker: &Tracker, tenant_id: &str) -> Result<BTreeMap<String, Due>, DomainError> {
    let book = tracker.store.rule_book(tenant_id).await?;
    let now = now_ms();
    let listening = |event_type| !book.in_force(event_type, now).is_empty();
    if !triggers::TYPES.iter().any(|t| listening(t)) {
        return Ok(BTreeMap::new());
    }
    let members = tracker.store.members_now(tenant_id).await?;
    let mut due = BTreeMap::new();
    yearly(&book, &members, now, &mut due);
    for rule in book.in_force(triggers::INACTIVE, now) {
        let spec = &rule.rule.spec;
        let last = tracker
            .store
            .last_activity(tenant_id, &spec.inactive_of)
            .await?;
        for m in &members {
            let lapse = triggers::inactivity(
                &rule.rule.rule_id,
                spec.inactive_days,
                &m.member_id,
                last.get(&m.member_id).copied(),
                joined_ms(m),
                now,
            );
            due.extend(lapse.map(|d| (d.event_id.clone(), d)));
        }
    }
    Ok(due)
}

/// Birthdays and sign-up anniversaries, each read in the zone of a rule
/// that listens to it.
fn yearly(book: &RuleBook, members: &[MemberSnapshot], now: i64, due: &mut BTreeMap<String, Due>) {
    let Ok(instant) = Timestamp::from_millisecond(now) else {
        return;
    };
    for event_type in [triggers::BIRTHDAY, triggers::SIGNUP_ANNIVERSARY] {
        for rule in book.in_force(event_type, now) {
            let today = instant.to_zoned(rule.rule.zone.clone()).date();
            for m in members {
                let dates = track::member_dates(&m.facts);
                let found = if event_type == triggers::BIRTHDAY {
                    triggers::birthday(&m.member_id, dates, today)
                } else {
                    triggers::signup_anniversary(&m.member_id, dates, today)
                };
                due.extend(found.map(|d| (d.event_id.clone(), d)));
            }
        }
    }
}

fn joined_ms(member: &MemberSnapshot) -> Option<i64> {
    let joined = member.facts.get("joined")?.as_str()?;
    Some(joined.parse::<Timestamp>().ok()?.as_millisecond())
}

/// The event a trigger tracks: occurring now, fingerprinted by what it is
/// (not when the sweep saw it), so the next sweep's copy is a replay.
fn trigger_event(tenant_id: &str, d: Due, now: i64) -> Track {
    let fingerprint = key_of("trigger:", &[d.event_type, &d.event_id, &d.member_id]);
    Track {
        tenant_id: tenant_id.into(),
        event_id: d.event_id,
        member_id: d.member_id,
        external_id: String::new(),
        event_type: d.event_type.into(),
        attributes: d.attributes,
        occurred_at: Some(now),
        fingerprint,
    }
}
