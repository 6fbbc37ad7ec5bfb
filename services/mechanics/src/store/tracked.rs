//! Tracked events read back (one, or a batch's at once), and the helpers
//! for their rows: `recorder` writes them, `marks` marks them applied.

use std::collections::HashMap;

use questline_kit::DomainError;
use questline_kit::time::now_ms;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::Store;
use super::entities::{award, rule_usage, tracked_event};
use crate::domain::judge::{Settled, Settlement, UsageKey, Verdict};
use crate::domain::rules::limits::Used;
use crate::domain::track::{EventStatus, Track};

/// An event being tracked, with its awards as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub event: tracked_event::Model,
    pub awards: Vec<award::Model>,
}

/// How one rule judged a stored event: what Explain shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredVerdict {
    pub rule_id: String,
    pub version: i32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
    #[serde(flatten)]
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<(String, i64)>,
}

impl From<&Settled> for StoredVerdict {
    fn from(s: &Settled) -> Self {
        StoredVerdict {
            rule_id: s.rule_id.clone(),
            version: s.version,
            shadow: s.shadow,
            verdict: s.verdict.clone(),
            points: s.points.clone(),
        }
    }
}

impl Store {
    /// The event as tracked, with its awards (`tracked_among` of one).
    pub async fn tracked(
        &self,
        tenant_id: &str,
        event_id: &str,
    ) -> Result<Option<Tracked>, DomainError> {
        let mut found = self.tracked_among(tenant_id, &[event_id]).await?;
        Ok(found.remove(event_id))
    }

    /// The events among `event_ids` already tracked, by id, with their awards.
    pub async fn tracked_among(
        &self,
        tenant_id: &str,
        event_ids: &[&str],
    ) -> Result<HashMap<String, Tracked>, DomainError> {
        let events = tracked_event::Entity::find()
            .filter(tracked_event::Column::TenantId.eq(tenant_id))
            .filter(tracked_event::Column::EventId.is_in(event_ids.iter().copied()))
            .all(&self.db)
            .await?;
        if events.is_empty() {
            return Ok(HashMap::new());
        }
        let found: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        let awards = award::Entity::find()
            .filter(award::Column::TenantId.eq(tenant_id))
            .filter(award::Column::EventId.is_in(found))
            .order_by_asc(award::Column::RuleId)
            .all(&self.db)
            .await?;
        Ok(assembled(events, awards))
    }

    /// Up to `limit` events recorded at or after `from_ms` and before
    /// `before_ms` whose awards are not all credited, oldest first: what the
    /// recovery loop finishes.
    pub async fn pending(
        &self,
        from_ms: i64,
        before_ms: i64,
        limit: u64,
    ) -> Result<Vec<Tracked>, DomainError> {
        let events = tracked_event::Entity::find()
            .filter(tracked_event::Column::Status.eq(EventStatus::Pending.as_str()))
            .filter(tracked_event::Column::CreatedAt.gte(from_ms))
            .filter(tracked_event::Column::CreatedAt.lt(before_ms))
            .order_by_asc(tracked_event::Column::CreatedAt)
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut pending = Vec::with_capacity(events.len());
        for event in events {
            if let Some(tracked) = self.tracked(&event.tenant_id, &event.event_id).await? {
                pending.push(tracked);
            }
        }
        Ok(pending)
    }
}

/// Events with their awards (ordered by rule), by event id; awards of
/// events not among `events` are left out.
pub(super) fn assembled(
    events: Vec<tracked_event::Model>,
    awards: Vec<award::Model>,
) -> HashMap<String, Tracked> {
    let mut tracked: HashMap<String, Tracked> = events
        .into_iter()
        .map(|event| {
            let id = event.event_id.clone();
            let awards = vec![];
            (id, Tracked { event, awards })
        })
        .collect();
    for a in awards {
        if let Some(t) = tracked.get_mut(&a.event_id) {
            t.awards.push(a);
        }
    }
    tracked
}

/// A usage row: (tenant, rule, holder, period).
pub(super) type UsageRow = (String, String, String, String);

/// The row of `key` for `track`'s member.
pub(super) fn usage_row(track: &Track, key: &UsageKey) -> UsageRow {
    let tenant_id = track.tenant_id.clone();
    match key {
        UsageKey::Member { rule_id, period } => (
            tenant_id,
            rule_id.clone(),
            format!("member:{}", track.member_id),
            period.clone(),
        ),
        UsageKey::Rule { rule_id, period } => {
            (tenant_id, rule_id.clone(), "rule".into(), period.clone())
        }
    }
}

/// Reads a usage row, creating it at zero, and holds it until the commit
/// (the upsert's write lock), so concurrent events queue on it.
pub(super) async fn lock_usage(
    txn: &DatabaseTransaction,
    (tenant_id, rule_id, holder, period): &UsageRow,
) -> Result<Used, DomainError> {
    use rule_usage::Column as C;
    let row = rule_usage::ActiveModel {
        tenant_id: Set(tenant_id.clone()),
        rule_id: Set(rule_id.clone()),
        holder: Set(holder.clone()),
        period: Set(period.clone()),
        count: Set(0),
        points: Set(0),
    };
    let row = rule_usage::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([C::TenantId, C::RuleId, C::Holder, C::Period])
                .value(C::Count, Expr::col((rule_usage::Entity, C::Count)))
                .to_owned(),
        )
        .exec_with_returning(txn)
        .await?;
    Ok(Used {
        count: row.count,
        points: row.points,
    })
}

pub(super) async fn add_usage(
    txn: &DatabaseTransaction,
    (tenant_id, rule_id, holder, period): &UsageRow,
    delta: Used,
) -> Result<(), DomainError> {
    use rule_usage::Column as C;
    rule_usage::Entity::update_many()
        .col_expr(C::Count, Expr::col(C::Count).add(delta.count))
        .col_expr(C::Points, Expr::col(C::Points).add(delta.points))
        .filter(C::TenantId.eq(tenant_id.as_str()))
        .filter(C::RuleId.eq(rule_id.as_str()))
        .filter(C::Holder.eq(holder.as_str()))
        .filter(C::Period.eq(period.as_str()))
        .exec(txn)
        .await?;
    Ok(())
}

pub(super) fn award_row(
    track: &Track,
    s: &Settled,
    currency: &str,
    points: i64,
) -> award::ActiveModel {
    award::ActiveModel {
        tenant_id: Set(track.tenant_id.clone()),
        event_id: Set(track.event_id.clone()),
        rule_id: Set(s.rule_id.clone()),
        rule_name: Set(s.rule_name.clone()),
        member_id: Set(track.member_id.clone()),
        currency: Set(currency.into()),
        points: Set(points),
        transfer_id: Set(None),
        rule_version: Set(s.version),
    }
}

/// The event's row: applied at once when it awards nothing.
pub(super) fn event_row(
    track: &Track,
    occurred_at: i64,
    settlement: &Settlement,
    nothing_to_credit: bool,
) -> Result<tracked_event::ActiveModel, DomainError> {
    let verdicts: Vec<StoredVerdict> = settlement.rules.iter().map(StoredVerdict::from).collect();
    let status = if nothing_to_credit {
        EventStatus::Applied
    } else {
        EventStatus::Pending
    };
    Ok(tracked_event::ActiveModel {
        tenant_id: Set(track.tenant_id.clone()),
        event_id: Set(track.event_id.clone()),
        member_id: Set(track.member_id.clone()),
        event_type: Set(track.event_type.clone()),
        fingerprint: Set(track.fingerprint.clone()),
        status: Set(status.as_str().into()),
        occurred_at: Set(occurred_at),
        created_at: Set(now_ms()),
        attributes: Set(serde_json::to_string(&track.attributes).map_err(DomainError::internal)?),
        verdicts: Set(serde_json::to_string(&verdicts).map_err(DomainError::internal)?),
    })
}
