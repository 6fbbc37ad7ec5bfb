//! Webhook endpoints, deliveries and attempts. Deliveries are staged once
//! per (endpoint, event) by the unique index; the sender claims due ones
//! by moving their due time past a lease with one compare-and-set, so two
//! replicas never send the same attempt, and records each attempt with the
//! delivery's next state in one transaction.

use questline_kit::audit::{self, Change};
use questline_kit::db::expect_version;
use questline_kit::paging::Page;
use questline_kit::{DomainError, time::now_ms};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use super::Store;
use super::entities::{attempt, delivery, endpoint};
use crate::domain::webhooks::endpoint::EndpointSpec;
use crate::domain::webhooks::signature::Secret;

/// The source of the events notifications stages.
pub const SOURCE: &str = "notifications";

/// A delivery's states, as stored.
pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// What an attempt led to.
pub struct AttemptDone {
    pub attempt: attempt::Model,
    /// `DELIVERED`, `FAILED` or `PENDING` (with `next_attempt_at`).
    pub status: &'static str,
    pub next_attempt_at: i64,
    /// Set when the receiver answered 410: the endpoint is disabled so.
    pub disable_because: Option<String>,
}

/// A delivery with the endpoint it goes to.
pub struct Due {
    pub delivery: delivery::Model,
    pub endpoint: endpoint::Model,
}

fn not_found(what: &str, id: &str) -> DomainError {
    DomainError::NotFound(format!("{what} {id} not found"))
}

impl Store {
    /// Creates or replaces an endpoint; a new one gets `secret`. The same
    /// definition again answers the stored endpoint unchanged.
    pub async fn put_endpoint(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        spec: &EndpointSpec,
        expected_version: Option<i32>,
        secret: &Secret,
        change: &Change,
    ) -> Result<endpoint::Model, DomainError> {
        let types = serde_json::to_string(&spec.event_types).map_err(DomainError::internal)?;
        questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let key = (tenant_id.to_string(), endpoint_id.to_string());
            let current = endpoint::Entity::find_by_id(key).one(&txn).await?;
            let version = current.as_ref().map_or(0, |c| c.version);
            if let Some(c) = &current
                && same_definition(c, spec, &types)
            {
                return Ok(c.clone());
            }
            expect_version(
                &format!("endpoint {endpoint_id}"),
                version,
                expected_version,
            )?;
            let now = now_ms();
            let mut row: endpoint::ActiveModel = match current.clone() {
                Some(c) => c.into(),
                None => endpoint::ActiveModel {
                    tenant_id: Set(tenant_id.into()),
                    endpoint_id: Set(endpoint_id.into()),
                    secret: Set(secret.serialize()),
                    previous_secret: Set(String::new()),
                    previous_expires_at: Set(0),
                    rotation_key: Set(String::new()),
                    created_at: Set(now),
                    ..Default::default()
                },
            };
            row.url = Set(spec.url.clone());
            row.description = Set(spec.description.clone());
            row.event_types = Set(types.clone());
            row.enabled = Set(spec.enabled);
            row.disabled_reason = Set(if spec.enabled {
                String::new()
            } else {
                "disabled by an admin".into()
            });
            row.version = Set(version + 1);
            row.updated_at = Set(now);
            let row = match current {
                Some(_) => row.update(&txn).await?,
                None => row.insert(&txn).await?,
            };
            audit::stage(&txn, SOURCE, change).await?;
            txn.commit().await?;
            Ok(row)
        })
        .await
    }

    pub async fn endpoint(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
    ) -> Result<endpoint::Model, DomainError> {
        endpoint::Entity::find_by_id((tenant_id.to_string(), endpoint_id.to_string()))
            .one(&self.db)
            .await?
            .ok_or_else(|| not_found("endpoint", endpoint_id))
    }

    pub async fn endpoints(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> Result<Vec<endpoint::Model>, DomainError> {
        use endpoint::Column as E;
        let mut query = endpoint::Entity::find().filter(E::TenantId.eq(tenant_id));
        if let Some(after) = &page.after {
            query = query.filter(E::EndpointId.gt(after.as_str()));
        }
        Ok(query
            .order_by_asc(E::EndpointId)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await?)
    }

    /// The enabled endpoints of `tenants`, for staging deliveries.
    pub async fn enabled_endpoints(
        &self,
        tenants: &[&str],
    ) -> Result<Vec<endpoint::Model>, DomainError> {
        use endpoint::Column as E;
        Ok(endpoint::Entity::find()
            .filter(E::TenantId.is_in(tenants.iter().copied()))
            .filter(E::Enabled.eq(true))
            .all(&self.db)
            .await?)
    }

    /// Removes an endpoint, its deliveries and their attempts.
    pub async fn delete_endpoint(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        change: &Change,
    ) -> Result<(), DomainError> {
        let txn = self.db.begin().await?;
        let deleted =
            endpoint::Entity::delete_by_id((tenant_id.to_string(), endpoint_id.to_string()))
                .exec(&txn)
                .await?;
        if deleted.rows_affected == 0 {
            return Err(not_found("endpoint", endpoint_id));
        }
        let of_endpoint = Condition::all()
            .add(delivery::Column::TenantId.eq(tenant_id))
            .add(delivery::Column::EndpointId.eq(endpoint_id));
        delete_deliveries(&txn, of_endpoint).await?;
        audit::stage(&txn, SOURCE, change).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Makes `secret` current; the old one signs beside it until
    /// `previous_expires_at`. A rotation with the key of the last one
    /// answers it again.
    pub async fn rotate_secret(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        secret: &Secret,
        previous_expires_at: i64,
        key: &str,
        change: &Change,
    ) -> Result<endpoint::Model, DomainError> {
        let txn = self.db.begin().await?;
        let current =
            endpoint::Entity::find_by_id((tenant_id.to_string(), endpoint_id.to_string()))
                .lock_exclusive()
                .one(&txn)
                .await?
                .ok_or_else(|| not_found("endpoint", endpoint_id))?;
        if !key.is_empty() && current.rotation_key == key {
            return Ok(current);
        }
        let previous = current.secret.clone();
        let version = current.version;
        let mut row: endpoint::ActiveModel = current.into();
        row.previous_secret = Set(previous);
        row.previous_expires_at = Set(previous_expires_at);
        row.secret = Set(secret.serialize());
        row.rotation_key = Set(key.into());
        row.version = Set(version + 1);
        row.updated_at = Set(now_ms());
        let row = row.update(&txn).await?;
        audit::stage(&txn, SOURCE, change).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Stages `rows`; one already there for its (endpoint, event) stays as
    /// it is. Returns whether any was new.
    pub async fn stage_deliveries(&self, rows: Vec<delivery::Model>) -> Result<bool, DomainError> {
        if rows.is_empty() {
            return Ok(false);
        }
        use delivery::Column as D;
        let ids: Vec<String> = rows.iter().map(|r| r.delivery_id.clone()).collect();
        let conflict = OnConflict::columns([D::TenantId, D::EndpointId, D::EventId])
            .do_nothing()
            .to_owned();
        questline_kit::db::insert_all(&self.db, rows, Some(conflict)).await?;
        let new = delivery::Entity::find()
            .filter(D::DeliveryId.is_in(ids))
            .count(&self.db)
            .await?;
        Ok(new > 0)
    }

    /// Pending deliveries due at `now` to enabled endpoints, oldest due first.
    pub async fn due(&self, now: i64, most: u64) -> Result<Vec<Due>, DomainError> {
        use delivery::Column as D;
        let deliveries = delivery::Entity::find()
            .filter(D::Status.eq(PENDING))
            .filter(D::NextAttemptAt.lte(now))
            .order_by_asc(D::NextAttemptAt)
            .limit(most)
            .all(&self.db)
            .await?;
        let mut tenants: Vec<&str> = deliveries.iter().map(|d| d.tenant_id.as_str()).collect();
        tenants.sort_unstable();
        tenants.dedup();
        let endpoints = self.enabled_endpoints(&tenants).await?;
        Ok(deliveries
            .into_iter()
            .filter_map(|delivery| {
                let endpoint = endpoints.iter().find(|e| {
                    e.tenant_id == delivery.tenant_id && e.endpoint_id == delivery.endpoint_id
                })?;
                Some(Due {
                    endpoint: endpoint.clone(),
                    delivery,
                })
            })
            .collect())
    }

    /// Claims `delivery` for one attempt until `lease_until`: false when
    /// another sender claimed it first, or it is no longer due.
    pub async fn claim(
        &self,
        delivery: &delivery::Model,
        lease_until: i64,
    ) -> Result<bool, DomainError> {
        use delivery::Column as D;
        let claimed = delivery::Entity::update_many()
            .col_expr(D::NextAttemptAt, Expr::value(lease_until))
            .filter(D::DeliveryId.eq(delivery.delivery_id.as_str()))
            .filter(D::Status.eq(PENDING))
            .filter(D::NextAttemptAt.eq(delivery.next_attempt_at))
            .exec(&self.db)
            .await?;
        Ok(claimed.rows_affected == 1)
    }

    /// Records an attempt and where it leaves the delivery (and, on 410,
    /// the endpoint), in one transaction.
    pub async fn record_attempt(
        &self,
        d: &delivery::Model,
        done: AttemptDone,
    ) -> Result<(), DomainError> {
        use delivery::Column as D;
        let txn = self.db.begin().await?;
        let a = &done.attempt;
        delivery::Entity::update_many()
            .col_expr(D::Status, Expr::value(done.status))
            .col_expr(D::Attempts, Expr::value(a.attempt))
            .col_expr(D::RoundAttempts, Expr::value(d.round_attempts + 1))
            .col_expr(D::LastStatusCode, Expr::value(a.status_code))
            .col_expr(D::LastError, Expr::value(a.error.clone()))
            .col_expr(D::NextAttemptAt, Expr::value(done.next_attempt_at))
            .filter(D::DeliveryId.eq(d.delivery_id.as_str()))
            .exec(&txn)
            .await?;
        attempt::Entity::insert(attempt::ActiveModel::from(done.attempt.clone()))
            .exec_without_returning(&txn)
            .await?;
        if let Some(reason) = done.disable_because {
            use endpoint::Column as E;
            endpoint::Entity::update_many()
                .col_expr(E::Enabled, Expr::value(false))
                .col_expr(E::DisabledReason, Expr::value(reason))
                .col_expr(E::Version, Expr::col(E::Version).add(1))
                .col_expr(E::UpdatedAt, Expr::value(now_ms()))
                .filter(E::TenantId.eq(d.tenant_id.as_str()))
                .filter(E::EndpointId.eq(d.endpoint_id.as_str()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// A tenant's deliveries, newest first, by endpoint and status.
    pub async fn deliveries(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        status: Option<&str>,
        page: &Page,
    ) -> Result<Vec<delivery::Model>, DomainError> {
        use delivery::Column as D;
        let mut query = delivery::Entity::find().filter(D::TenantId.eq(tenant_id));
        if !endpoint_id.is_empty() {
            query = query.filter(D::EndpointId.eq(endpoint_id));
        }
        if let Some(status) = status {
            query = query.filter(D::Status.eq(status));
        }
        if let Some(after) = &page.after {
            query = query.filter(D::DeliveryId.lt(after.as_str()));
        }
        Ok(query
            .order_by_desc(D::DeliveryId)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await?)
    }

    /// A delivery of the tenant's with its attempts, first first.
    pub async fn delivery(
        &self,
        tenant_id: &str,
        delivery_id: &str,
    ) -> Result<(delivery::Model, Vec<attempt::Model>), DomainError> {
        let found = delivery::Entity::find_by_id(delivery_id.to_string())
            .filter(delivery::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| not_found("delivery", delivery_id))?;
        let attempts = attempt::Entity::find()
            .filter(attempt::Column::DeliveryId.eq(delivery_id))
            .order_by_asc(attempt::Column::Attempt)
            .all(&self.db)
            .await?;
        Ok((found, attempts))
    }

    /// Puts a delivery back at the start of the schedule, due now; one
    /// already pending stays as it is.
    pub async fn redeliver(
        &self,
        tenant_id: &str,
        delivery_id: &str,
        change: &Change,
    ) -> Result<delivery::Model, DomainError> {
        use delivery::Column as D;
        let (found, _) = self.delivery(tenant_id, delivery_id).await?;
        if found.status != PENDING {
            let txn = self.db.begin().await?;
            delivery::Entity::update_many()
                .col_expr(D::Status, Expr::value(PENDING))
                .col_expr(D::RoundAttempts, Expr::value(0))
                .col_expr(D::NextAttemptAt, Expr::value(now_ms()))
                .filter(D::DeliveryId.eq(delivery_id))
                .filter(D::Status.ne(PENDING))
                .exec(&txn)
                .await?;
            audit::stage(&txn, SOURCE, change).await?;
            txn.commit().await?;
        }
        Ok(self.delivery(tenant_id, delivery_id).await?.0)
    }

    /// Deletes the deliveries (and attempts) about an erased member.
    pub async fn forget_deliveries(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<(), DomainError> {
        let txn = self.db.begin().await?;
        let of_member = Condition::all()
            .add(delivery::Column::TenantId.eq(tenant_id))
            .add(delivery::Column::MemberId.eq(member_id));
        delete_deliveries(&txn, of_member).await?;
        txn.commit().await?;
        Ok(())
    }
}

fn same_definition(c: &endpoint::Model, spec: &EndpointSpec, types: &str) -> bool {
    c.url == spec.url
        && c.description == spec.description
        && c.event_types == types
        && c.enabled == spec.enabled
}

/// Deletes the deliveries matching `which` and their attempts.
async fn delete_deliveries(
    txn: &sea_orm::DatabaseTransaction,
    which: Condition,
) -> Result<(), DomainError> {
    let ids: Vec<String> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::DeliveryId)
        .filter(which.clone())
        .into_tuple()
        .all(txn)
        .await?;
    for chunk in ids.chunks(400) {
        attempt::Entity::delete_many()
            .filter(attempt::Column::DeliveryId.is_in(chunk.iter().map(String::as_str)))
            .exec(txn)
            .await?;
    }
    delivery::Entity::delete_many()
        .filter(which)
        .exec(txn)
        .await?;
    Ok(())
}
