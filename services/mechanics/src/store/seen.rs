//! What Track reads before judging, for many events of one tenant at once
//! (`flow::lookup` gathers them): which were tracked before, and their
//! members' traits and counter buckets — one statement per table for the
//! whole batch instead of one per event.

use std::collections::HashMap;

use questline_kit::DomainError;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entities::{award, member_counter, member_trait, tracked_event};
use super::{Store, Tracked, counters, traits};
use crate::domain::counters::Bucket;
use crate::domain::track::Traits;

impl Store {
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
        let mut tracked: HashMap<String, Tracked> = events
            .into_iter()
            .map(|event| {
                let id = event.event_id.clone();
                (
                    id,
                    Tracked {
                        event,
                        awards: vec![],
                    },
                )
            })
            .collect();
        for a in awards {
            if let Some(t) = tracked.get_mut(&a.event_id) {
                t.awards.push(a);
            }
        }
        Ok(tracked)
    }

    /// What rules have set on each of `member_ids` that has anything set.
    pub async fn traits_among(
        &self,
        tenant_id: &str,
        member_ids: &[&str],
    ) -> Result<HashMap<String, Traits>, DomainError> {
        let rows = member_trait::Entity::find()
            .filter(member_trait::Column::TenantId.eq(tenant_id))
            .filter(member_trait::Column::MemberId.is_in(member_ids.iter().copied()))
            .order_by_asc(member_trait::Column::MemberId)
            .order_by_asc(member_trait::Column::Kind)
            .order_by_asc(member_trait::Column::Name)
            .all(&self.db)
            .await?;
        let mut by_member: HashMap<String, Traits> = HashMap::new();
        for row in rows {
            let member = by_member.entry(row.member_id.clone()).or_default();
            traits::keep(member, row);
        }
        Ok(by_member)
    }

    /// The counter buckets of each of `member_ids` that has any.
    pub async fn buckets_among(
        &self,
        tenant_id: &str,
        member_ids: &[&str],
    ) -> Result<HashMap<String, Vec<Bucket>>, DomainError> {
        let rows = member_counter::Entity::find()
            .filter(member_counter::Column::TenantId.eq(tenant_id))
            .filter(member_counter::Column::MemberId.is_in(member_ids.iter().copied()))
            .all(&self.db)
            .await?;
        let mut by_member: HashMap<String, Vec<Bucket>> = HashMap::new();
        for row in rows {
            let member = by_member.entry(row.member_id.clone()).or_default();
            member.push(counters::bucket(row));
        }
        Ok(by_member)
    }
}
