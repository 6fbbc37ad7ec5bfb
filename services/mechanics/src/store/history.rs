//! Stored events read back for a backtest: in occurrence order, a page at a
//! time; what the live rules awarded for them; and every member as the
//! rules see them.

use std::collections::{BTreeMap, HashMap};

use questline_kit::DomainError;
use questline_kit::members::{MemberSnapshot, entity as snapshot};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::Store;
use super::entities::{award, member_trait, tracked_event};
use super::traits::TAG;
use crate::domain::backtest::{MemberView, StoredEvent};
use crate::domain::track::{self, Traits};

/// Where a page of stored events starts: after this (time, event id).
#[derive(Debug, Clone, Default)]
pub struct After {
    pub at_ms: i64,
    pub event_id: String,
}

impl Store {
    pub async fn count_events(
        &self,
        tenant_id: &str,
        (start, end): (i64, i64),
    ) -> Result<i64, DomainError> {
        let count = tracked_event::Entity::find()
            .filter(in_range(tenant_id, start, end))
            .count(&self.db)
            .await?;
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }

    /// Up to `limit` events after `after`, before `end`, oldest first.
    pub async fn events_page(
        &self,
        tenant_id: &str,
        after: &After,
        end: i64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, DomainError> {
        use tracked_event::Column as E;
        let later = Condition::any().add(E::OccurredAt.gt(after.at_ms)).add(
            Condition::all()
                .add(E::OccurredAt.eq(after.at_ms))
                .add(E::EventId.gt(after.event_id.as_str())),
        );
        let rows = tracked_event::Entity::find()
            .filter(E::TenantId.eq(tenant_id))
            .filter(later)
            .filter(E::OccurredAt.lt(end))
            .order_by_asc(E::OccurredAt)
            .order_by_asc(E::EventId)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.into_iter().map(stored_event).collect()
    }

    /// Currency → points the live rules awarded for the events in range.
    pub async fn live_points(
        &self,
        tenant_id: &str,
        (start, end): (i64, i64),
    ) -> Result<BTreeMap<String, i64>, DomainError> {
        use award::Column as A;
        let events = Query::select()
            .column(tracked_event::Column::EventId)
            .from(tracked_event::Entity)
            .cond_where(in_range(tenant_id, start, end))
            .to_owned();
        let rows: Vec<(String, i64)> = award::Entity::find()
            .select_only()
            .column(A::Currency)
            .column_as(Expr::col(A::Points).sum().cast_as("BIGINT"), "points")
            .filter(A::TenantId.eq(tenant_id))
            .filter(A::EventId.in_subquery(events))
            .group_by(A::Currency)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Every member of the tenant as the rules see them now (erased ones
    /// left out), with the traits rules set.
    pub async fn member_views(
        &self,
        tenant_id: &str,
    ) -> Result<HashMap<String, MemberView>, DomainError> {
        let mut traits: HashMap<String, Traits> = HashMap::new();
        let rows = member_trait::Entity::find()
            .filter(member_trait::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?;
        for row in rows {
            let t = traits.entry(row.member_id).or_default();
            if row.kind == TAG {
                t.tags.push(row.name);
            } else {
                let value = serde_json::from_str(&row.value).unwrap_or_default();
                t.attributes.insert(row.name, value);
            }
        }
        let snapshots = snapshot::Entity::find()
            .filter(snapshot::Column::TenantId.eq(tenant_id))
            .filter(snapshot::Column::Erased.eq(false))
            .all(&self.db)
            .await?;
        Ok(snapshots
            .into_iter()
            .map(|row| {
                let member = MemberSnapshot {
                    member_id: row.member_id.clone(),
                    external_id: row.external_id,
                    facts: serde_json::from_str(&row.facts).unwrap_or_default(),
                };
                let traits = traits.remove(&row.member_id).unwrap_or_default();
                let view = MemberView {
                    dates: track::member_dates(&member.facts),
                    facts: track::member_facts(&member, traits),
                };
                (row.member_id, view)
            })
            .collect())
    }
}

fn in_range(tenant_id: &str, start: i64, end: i64) -> Condition {
    use tracked_event::Column as E;
    Condition::all()
        .add(E::TenantId.eq(tenant_id))
        .add(E::OccurredAt.gte(start))
        .add(E::OccurredAt.lt(end))
}

fn stored_event(row: tracked_event::Model) -> Result<StoredEvent, DomainError> {
    let mut facts: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&row.attributes).map_err(DomainError::internal)?;
    facts.insert("type".into(), row.event_type.clone().into());
    facts.insert("id".into(), row.event_id.clone().into());
    Ok(StoredEvent {
        event_id: row.event_id,
        member_id: row.member_id,
        event_type: row.event_type,
        at_ms: row.occurred_at,
        facts: serde_json::Value::Object(facts),
    })
}
