//! Retention: stored events (and the awards recorded with them) are kept
//! for `RETENTION_DAYS` after they occurred — what the backtest, Explain
//! and dedup by event id can reach — then deleted. The ledger keeps every
//! transfer they caused.

use questline_kit::DomainError;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};

use super::Store;
use super::entities::{award, tracked_event};
use crate::domain::track::EventStatus;

/// How long a stored event is kept after it occurred.
pub const RETENTION_DAYS: i64 = 400;

impl Store {
    /// Deletes up to `batch` applied events that occurred before
    /// `before_ms`, with their awards; returns how many went. A pending
    /// event stays until the recovery loop finishes it.
    pub async fn prune_events(&self, before_ms: i64, batch: u64) -> Result<u64, DomainError> {
        use tracked_event::Column as E;
        let txn = self.db.begin().await?;
        let old: Vec<(String, String)> = tracked_event::Entity::find()
            .select_only()
            .column(E::TenantId)
            .column(E::EventId)
            .filter(E::OccurredAt.lt(before_ms))
            .filter(E::Status.eq(EventStatus::Applied.as_str()))
            .order_by_asc(E::OccurredAt)
            .limit(batch)
            .into_tuple()
            .all(&txn)
            .await?;
        for (tenant_id, event_id) in &old {
            award::Entity::delete_many()
                .filter(award::Column::TenantId.eq(tenant_id))
                .filter(award::Column::EventId.eq(event_id))
                .exec(&txn)
                .await?;
            tracked_event::Entity::delete_many()
                .filter(E::TenantId.eq(tenant_id))
                .filter(E::EventId.eq(event_id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(old.len() as u64)
    }
}
