//! Identity's segments, kept from `segment.changed` (the newest change
//! wins, so a redelivered older event changes nothing); each change turns
//! the rule book's page so rules see it at their next event.

use questline_kit::DomainError;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

use super::Store;
use super::entities::segment;
use super::rules::turn_page;

impl Store {
    /// Keeps a segment's predicate (or its deletion) as of `changed_at`.
    pub async fn keep_segment(
        &self,
        tenant_id: &str,
        segment_id: &str,
        predicate: &str,
        deleted: bool,
        changed_at: i64,
    ) -> Result<(), DomainError> {
        let txn = self.db.begin().await?;
        let key = (tenant_id.to_string(), segment_id.to_string());
        let known = segment::Entity::find_by_id(key).one(&txn).await?;
        if known.is_some_and(|k| k.changed_at > changed_at) {
            return Ok(());
        }
        let row = segment::ActiveModel {
            tenant_id: Set(tenant_id.into()),
            segment_id: Set(segment_id.into()),
            predicate: Set(predicate.into()),
            deleted: Set(deleted),
            changed_at: Set(changed_at),
        };
        segment::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([segment::Column::TenantId, segment::Column::SegmentId])
                    .update_columns([
                        segment::Column::Predicate,
                        segment::Column::Deleted,
                        segment::Column::ChangedAt,
                    ])
                    .to_owned(),
            )
            .exec(&txn)
            .await?;
        turn_page(&txn, tenant_id).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The tenant's segments that stand, for its rule book.
    pub(super) async fn segment_rows(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<segment::Model>, DomainError> {
        Ok(segment::Entity::find()
            .filter(segment::Column::TenantId.eq(tenant_id))
            .filter(segment::Column::Deleted.eq(false))
            .all(&self.db)
            .await?)
    }
}
