//! The audit trail of every service, kept from `audit.recorded` events. An
//! entry's id is its event's id, so a redelivered event is kept once.

use questline_kit::paging::Page;
use questline_kit::{DomainError, time};
use questline_proto::events::{Event, event::Payload};
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::Store;
use super::entities::audit_entry;

/// What `ListAuditEntries` narrows to; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub client_id: String,
    pub action_prefix: String,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl Store {
    /// Keeps the entry an `audit.recorded` event carries; ignores other events.
    pub async fn keep_audit_entry(&self, event: &Event) -> Result<(), DomainError> {
        let Some(Payload::AuditRecorded(entry)) = &event.payload else {
            return Ok(());
        };
        let details = questline_kit::structs::to_json(entry.details.clone().unwrap_or_default());
        let row = audit_entry::ActiveModel {
            audit_id: Set(event.event_id.clone()),
            tenant_id: Set(event.tenant_id.clone()),
            client_id: Set(entry.client_id.clone()),
            action: Set(entry.action.clone()),
            resource: Set(entry.resource.clone()),
            details: Set(serde_json::Value::Object(details).to_string()),
            occurred_at: Set(event
                .time
                .as_ref()
                .map(time::from_timestamp)
                .unwrap_or_default()),
        };
        audit_entry::Entity::insert(row)
            .on_conflict(
                OnConflict::column(audit_entry::Column::AuditId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// One page of a tenant's entries, newest first, fetched for `Page::finish`.
    pub async fn audit_entries(
        &self,
        tenant_id: &str,
        filter: &AuditFilter,
        page: &Page,
    ) -> Result<Vec<audit_entry::Model>, DomainError> {
        use audit_entry::Column;
        let mut query = audit_entry::Entity::find()
            .filter(Column::TenantId.eq(tenant_id))
            .order_by_desc(Column::AuditId);
        if !filter.client_id.is_empty() {
            query = query.filter(Column::ClientId.eq(filter.client_id.as_str()));
        }
        if !filter.action_prefix.is_empty() {
            // Not LIKE: SQLite's ignores case, PostgreSQL's does not.
            let prefix = filter.action_prefix.as_str();
            let head = Func::cust("substr")
                .arg(Expr::col(Column::Action))
                .arg(1)
                .arg(prefix.chars().count() as i32);
            query = query.filter(Expr::expr(head).eq(prefix));
        }
        if let Some(since) = filter.since_ms {
            query = query.filter(Column::OccurredAt.gte(since));
        }
        if let Some(until) = filter.until_ms {
            query = query.filter(Column::OccurredAt.lt(until));
        }
        if let Some(after) = &page.after {
            query = query.filter(Column::AuditId.lt(after.as_str()));
        }
        Ok(query.limit(page.fetch_limit()).all(&self.db).await?)
    }
}
