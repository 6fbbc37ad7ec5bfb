//! Event schemas: one row per event type, replaced by each change (a new
//! version), which turns the tenant's rule book so Track sees it at once.
//! Each change is audited in its own transaction.

use questline_kit::DomainError;
use questline_kit::audit::{self, Change};
use questline_kit::paging::Page;
use questline_kit::time::now_ms;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};

use super::Store;
use super::entities::event_schema;
use super::rules::turn_page;
use crate::domain::schemas::{self, EventSchema};
use crate::events;
use questline_kit::db::expect_version;

/// A schema as stored: its definition and row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSchema {
    pub row: event_schema::Model,
    pub schema: EventSchema,
}

fn stored(row: event_schema::Model) -> Result<StoredSchema, DomainError> {
    Ok(StoredSchema {
        schema: schemas::read(&row.spec)?,
        row,
    })
}

impl Store {
    /// Saves `schema` as the event type's next version; the same definition
    /// as the current one answers it unchanged. ABORTED when
    /// `expected_version` is given and is not the stored one.
    pub async fn put_event_schema(
        &self,
        tenant_id: &str,
        event_type: &str,
        schema: &EventSchema,
        expected_version: Option<i32>,
        change: &Change,
    ) -> Result<StoredSchema, DomainError> {
        let spec = serde_json::to_string(schema).map_err(DomainError::internal)?;
        let answer = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let key = (tenant_id.to_string(), event_type.to_string());
            let current = event_schema::Entity::find_by_id(key).one(&txn).await?;
            if let Some(row) = &current
                && row.spec == spec
            {
                return Ok((stored(row.clone())?, false));
            }
            let version = current.as_ref().map_or(0, |r| r.version);
            let what = format!("the schema of {event_type}");
            expect_version(&what, version, expected_version)?;
            let row = event_schema::ActiveModel {
                tenant_id: Set(tenant_id.into()),
                event_type: Set(event_type.into()),
                spec: Set(spec.clone()),
                version: Set(version + 1),
                updated_at: Set(now_ms()),
            };
            let row = match current {
                Some(_) => row.update(&txn).await?,
                None => row.insert(&txn).await?,
            };
            turn_page(&txn, tenant_id).await?;
            audit::stage(&txn, events::SOURCE, change).await?;
            txn.commit().await?;
            Ok((stored(row)?, true))
        })
        .await?;
        Ok(self.relay.woken(answer))
    }

    pub async fn event_schema(
        &self,
        tenant_id: &str,
        event_type: &str,
    ) -> Result<StoredSchema, DomainError> {
        let key = (tenant_id.to_string(), event_type.to_string());
        let row = event_schema::Entity::find_by_id(key)
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("event schema {event_type}")))?;
        stored(row)
    }

    /// One page of the tenant's schemas by event type, for `Page::finish`.
    pub async fn event_schemas(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> Result<Vec<StoredSchema>, DomainError> {
        let mut query = event_schema::Entity::find()
            .filter(event_schema::Column::TenantId.eq(tenant_id))
            .order_by_asc(event_schema::Column::EventType);
        if let Some(after) = &page.after {
            query = query.filter(event_schema::Column::EventType.gt(after.as_str()));
        }
        let rows = query.limit(page.fetch_limit()).all(&self.db).await?;
        rows.into_iter().map(stored).collect()
    }

    /// Removes the event type's schema; NOT_FOUND when it has none.
    pub async fn delete_event_schema(
        &self,
        tenant_id: &str,
        event_type: &str,
        change: &Change,
    ) -> Result<(), DomainError> {
        let txn = self.db.begin().await?;
        let deleted = event_schema::Entity::delete_many()
            .filter(event_schema::Column::TenantId.eq(tenant_id))
            .filter(event_schema::Column::EventType.eq(event_type))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(DomainError::NotFound(format!("event schema {event_type}")));
        }
        turn_page(&txn, tenant_id).await?;
        audit::stage(&txn, events::SOURCE, change).await?;
        txn.commit().await?;
        self.relay.wake();
        Ok(())
    }

    /// Every schema of the tenant, for its rule book.
    pub(super) async fn schema_rows(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<event_schema::Model>, DomainError> {
        Ok(event_schema::Entity::find()
            .filter(event_schema::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?)
    }
}
