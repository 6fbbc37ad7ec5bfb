//! Tenants: created by the operator, changed by their admins, suspended by the
//! operator. A change is published as `tenant.updated` so every service knows
//! a suspended tenant at once.

use questline_kit::paging::Page;
use questline_kit::{DomainError, outbox, time::now_ms};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};

use super::Store;
use super::entities::tenant;
use crate::domain::tenants::{TenantChange, TenantStatus};
use crate::events::{self, SOURCE};
use questline_kit::audit::{self, Change};

impl Store {
    /// Creates the tenant; the same id with the same settings returns it
    /// again. Its settings go out as `tenant.updated` too, so services that
    /// need its time zone or default locale know them from the start.
    pub async fn create_tenant(
        &self,
        row: tenant::Model,
        change: &Change,
    ) -> Result<tenant::Model, DomainError> {
        let id = row.tenant_id.clone();
        let staged = [change.event(SOURCE), events::tenant_updated(&row)];
        self.create_once::<tenant::Entity>(row, id.clone(), same_settings, "tenant", &id, &staged)
            .await
    }

    pub async fn tenant(&self, tenant_id: &str) -> Result<tenant::Model, DomainError> {
        tenant::Entity::find_by_id(tenant_id.to_string())
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("tenant {tenant_id} not found")))
    }

    /// The tenant, refusing a suspended one.
    pub async fn active_tenant(&self, tenant_id: &str) -> Result<tenant::Model, DomainError> {
        let row = self.tenant(tenant_id).await?;
        TenantStatus::parse(&row.status).require_active(tenant_id)?;
        Ok(row)
    }

    /// One page of tenants by id, fetched for `Page::finish`.
    pub async fn tenants(&self, page: &Page) -> Result<Vec<tenant::Model>, DomainError> {
        let mut query = tenant::Entity::find().order_by_asc(tenant::Column::TenantId);
        if let Some(after) = &page.after {
            query = query.filter(tenant::Column::TenantId.gt(after.as_str()));
        }
        Ok(query.limit(page.fetch_limit()).all(&self.db).await?)
    }

    /// Applies `change`; publishes `tenant.updated` when anything changed.
    pub async fn update_tenant(
        &self,
        tenant_id: &str,
        change: &TenantChange,
        audited: &Change,
    ) -> Result<tenant::Model, DomainError> {
        let answer = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let current = tenant::Entity::find_by_id(tenant_id.to_string())
                .one(&txn)
                .await?
                .ok_or_else(|| DomainError::NotFound(format!("tenant {tenant_id} not found")))?;
            let next = apply(&current, change);
            if next == current {
                return Ok((current, false));
            }
            let mut active: tenant::ActiveModel = next.into();
            active.updated_at = Set(now_ms());
            let active = active.reset_all();
            let row = active.update(&txn).await?;
            outbox::stage(&txn, &events::tenant_updated(&row)).await?;
            audit::stage(&txn, SOURCE, audited).await?;
            txn.commit().await?;
            Ok((row, true))
        })
        .await?;
        Ok(self.relay.woken(answer))
    }
}

fn same_settings(stored: &tenant::Model, given: &tenant::Model) -> bool {
    stored.name == given.name
        && stored.time_zone == given.time_zone
        && stored.default_locale == given.default_locale
}

fn apply(current: &tenant::Model, change: &TenantChange) -> tenant::Model {
    let pick = |new: &Option<String>, old: &String| new.clone().unwrap_or_else(|| old.clone());
    tenant::Model {
        name: pick(&change.name, &current.name),
        time_zone: pick(&change.time_zone, &current.time_zone),
        default_locale: pick(&change.default_locale, &current.default_locale),
        status: change
            .status
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| current.status.clone()),
        ..current.clone()
    }
}
