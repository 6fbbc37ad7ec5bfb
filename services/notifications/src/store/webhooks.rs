//! Webhook endpoints, deliveries and attempts. Deliveries are staged once
//! per (endpoint, event) by the unique index; the sender claims due ones
//! by moving their due time past a lease with one compare-and-set, so two
//! replicas never send the same attempt, and records each attempt with the
//! delivery's next state in one transaction, only while the lease is still
//! its own. A disabled endpoint's pending deliveries are parked (due at
//! `PARKED`, never), so they cannot crowd the due ones of others; enabling
//! it makes them due again.

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
use crate::events::published::SOURCE;

/// A delivery's states, as stored.
pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// The due time of a disabled endpoint's pending deliveries: never.
pub const PARKED: i64 = i64::MAX;

/// What an attempt led to.
pub struct AttemptDone {
    pub attempt: attempt::Model,
    /// `DELIVERED`, `FAILED` or `PENDING` (with `next_attempt_at`).
    pub status: &'static str,
    pub next_attempt_at: i64,
    /// Set when the receiver answered 410: the endpoint is disabled so,
    /// unless it changed since the attempt began.
    pub disable_because: Option<String>,
    /// The claim the attempt ran under; nothing is recorded without it.
    pub lease: i64,
    /// The endpoint's version when the attempt began.
    pub endpoint_version: i32,
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
            park(&txn, tenant_id, endpoint_id, !spec.enabled).await?;
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

    /// The endpoints with deliveries due at `now`, at most `most`.
    pub async fn due_endpoints(
        &self,
        now: i64,
        most: u64,
    ) -> Result<Vec<(String, String)>, DomainError> {
        use delivery::Column as D;
        Ok(delivery::Entity::find()
            .select_only()
            .column(D::TenantId)
            .column(D::EndpointId)
            .distinct()
            .filter(D::Status.eq(PENDING))
            .filter(D::NextAttemptAt.lte(now))
            .limit(most)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// Up to `most` deliveries due at `now` to one endpoint, if it is
    /// enabled, oldest due first.
    pub async fn due(
        &self,
        (tenant_id, endpoint_id): &(String, String),
        now: i64,
        most: u64,
    ) -> Result<Vec<Due>, DomainError> {
        use delivery::Column as D;
        let endpoint = endpoint::Entity::find_by_id((tenant_id.clone(), endpoint_id.clone()))
            .one(&self.db)
            .await?;
        let Some(endpoint) = endpoint.filter(|e| e.enabled) else {
            return Ok(Vec::new());
        };
        let deliveries = delivery::Entity::find()
            .filter(D::TenantId.eq(tenant_id.as_str()))
            .filter(D::EndpointId.eq(endpoint_id.as_str()))
            .filter(D::Status.eq(PENDING))
            .filter(D::NextAttemptAt.lte(now))
            .order_by_asc(D::NextAttemptAt)
            .limit(most)
            .all(&self.db)
            .await?;
        Ok(deliveries
            .into_iter()
            .map(|delivery| Due {
                endpoint: endpoint.clone(),
                delivery,
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
            .filter(D::TenantId.eq(delivery.tenant_id.as_str()))
            .filter(D::DeliveryId.eq(delivery.delivery_id.as_str()))
            .filter(D::Status.eq(PENDING))
            .filter(D::NextAttemptAt.eq(delivery.next_attempt_at))
            .exec(&self.db)
            .await?;
        Ok(claimed.rows_affected == 1)
    }

    /// Records an attempt and where it leaves the delivery (and, on 410,
    /// the endpoint), in one transaction.
    /// Returns false, recording nothing, when the delivery is no longer
    /// this attempt's (its endpoint was disabled, deleted, or the member
    /// erased meanwhile).
    pub async fn record_attempt(
        &self,
        d: &delivery::Model,
        done: AttemptDone,
    ) -> Result<bool, DomainError> {
        use delivery::Column as D;
        let txn = self.db.begin().await?;
        let a = &done.attempt;
        let recorded = delivery::Entity::update_many()
            .col_expr(D::Status, Expr::value(done.status))
            .col_expr(D::Attempts, Expr::value(a.attempt))
            .col_expr(D::RoundAttempts, Expr::value(d.round_attempts + 1))
            .col_expr(D::LastStatusCode, Expr::value(a.status_code))
            .col_expr(D::LastError, Expr::value(a.error.clone()))
            .col_expr(D::NextAttemptAt, Expr::value(done.next_attempt_at))
            .filter(D::TenantId.eq(d.tenant_id.as_str()))
            .filter(D::DeliveryId.eq(d.delivery_id.as_str()))
            .filter(D::Status.eq(PENDING))
            .filter(D::NextAttemptAt.eq(done.lease))
            .exec(&txn)
            .await?;
        if recorded.rows_affected == 0 {
            return Ok(false);
        }
        attempt::Entity::insert(attempt::ActiveModel::from(done.attempt.clone()))
            .exec_without_returning(&txn)
            .await?;
        if let Some(reason) = done.disable_because {
            use endpoint::Column as E;
            let disabled = endpoint::Entity::update_many()
                .col_expr(E::Enabled, Expr::value(false))
                .col_expr(E::DisabledReason, Expr::value(reason))
                .col_expr(E::Version, Expr::col(E::Version).add(1))
                .col_expr(E::UpdatedAt, Expr::value(now_ms()))
                .filter(E::TenantId.eq(d.tenant_id.as_str()))
                .filter(E::EndpointId.eq(d.endpoint_id.as_str()))
                // Not one re-pointed or made again since the attempt began.
                .filter(E::Version.eq(done.endpoint_version))
                .exec(&txn)
                .await?;
            if disabled.rows_affected == 1 {
                park(&txn, &d.tenant_id, &d.endpoint_id, true).await?;
            }
        }
        txn.commit().await?;
        Ok(true)
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
            .filter(attempt::Column::TenantId.eq(tenant_id))
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
        found: delivery::Model,
        change: &Change,
    ) -> Result<delivery::Model, DomainError> {
        use delivery::Column as D;
        if found.status == PENDING {
            return Ok(found);
        }
        let now = now_ms();
        let txn = self.db.begin().await?;
        let moved = delivery::Entity::update_many()
            .col_expr(D::Status, Expr::value(PENDING))
            .col_expr(D::RoundAttempts, Expr::value(0))
            .col_expr(D::NextAttemptAt, Expr::value(now))
            .filter(D::TenantId.eq(found.tenant_id.as_str()))
            .filter(D::DeliveryId.eq(found.delivery_id.as_str()))
            .filter(D::Status.ne(PENDING))
            .exec(&txn)
            .await?;
        if moved.rows_affected == 0 {
            // Redelivered at once by another call: answer what it made.
            return Ok(self.delivery(&found.tenant_id, &found.delivery_id).await?.0);
        }
        audit::stage(&txn, SOURCE, change).await?;
        txn.commit().await?;
        Ok(delivery::Model {
            status: PENDING.into(),
            round_attempts: 0,
            next_attempt_at: now,
            ..found
        })
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

/// Parks (`park`) or makes due again an endpoint's pending deliveries.
async fn park(
    txn: &sea_orm::DatabaseTransaction,
    tenant_id: &str,
    endpoint_id: &str,
    park: bool,
) -> Result<(), DomainError> {
    use delivery::Column as D;
    let (due, from) = if park {
        (PARKED, D::NextAttemptAt.ne(PARKED))
    } else {
        (now_ms(), D::NextAttemptAt.eq(PARKED))
    };
    delivery::Entity::update_many()
        .col_expr(D::NextAttemptAt, Expr::value(due))
        .filter(D::TenantId.eq(tenant_id))
        .filter(D::EndpointId.eq(endpoint_id))
        .filter(D::Status.eq(PENDING))
        .filter(from)
        .exec(txn)
        .await?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::webhooks::signature::NEW_SECRET_BYTES;
    use crate::store::tests::store;

    fn change() -> Change {
        Change::new("acme", "admin", "test".into(), "webhook-endpoints".into())
    }

    async fn put(store: &Store, id: &str, enabled: bool) -> endpoint::Model {
        let spec = EndpointSpec {
            url: format!("https://{id}.brand.example/in"),
            description: String::new(),
            event_types: vec![],
            enabled,
        };
        let secret = Secret::new([3; NEW_SECRET_BYTES]);
        store
            .put_endpoint("acme", id, &spec, None, &secret, &change())
            .await
            .unwrap()
    }

    fn delivery(endpoint_id: &str, event_id: &str, now: i64) -> delivery::Model {
        delivery::Model {
            delivery_id: format!("msg_{endpoint_id}_{event_id}"),
            tenant_id: "acme".into(),
            endpoint_id: endpoint_id.into(),
            event_id: event_id.into(),
            event_type: "points.credited".into(),
            member_id: "m1".into(),
            payload: "{}".into(),
            status: PENDING.into(),
            attempts: 0,
            round_attempts: 0,
            last_status_code: 0,
            last_error: String::new(),
            next_attempt_at: now,
            created_at: now,
        }
    }

    fn key(id: &str) -> (String, String) {
        ("acme".into(), id.into())
    }

    #[tokio::test]
    async fn a_disabled_endpoints_backlog_is_parked_and_crowds_out_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        put(&store, "slow", true).await;
        put(&store, "fine", true).await;
        let now = now_ms();
        let mut rows: Vec<_> = (0..300)
            .map(|n| delivery("slow", &format!("e{n}"), now))
            .collect();
        rows.push(delivery("fine", "e0", now));
        assert!(store.stage_deliveries(rows).await.unwrap());
        put(&store, "slow", false).await;
        // One look's worth of endpoints: only the enabled one is due.
        assert_eq!(
            store.due_endpoints(now + 1, 1).await.unwrap(),
            [key("fine")]
        );
        assert!(
            store
                .due(&key("slow"), now + 1, 10)
                .await
                .unwrap()
                .is_empty()
        );
        put(&store, "slow", true).await;
        let due = store.due(&key("slow"), now_ms() + 1, 10).await.unwrap();
        assert_eq!(due.len(), 10, "enabled again, its backlog is due");
    }

    #[tokio::test]
    async fn an_attempt_is_recorded_only_under_its_own_lease() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let endpoint = put(&store, "crm", true).await;
        let now = now_ms();
        store
            .stage_deliveries(vec![delivery("crm", "e1", now)])
            .await
            .unwrap();
        let due = store.due(&key("crm"), now, 10).await.unwrap().remove(0);
        let lease = now + 45_000;
        assert!(store.claim(&due.delivery, lease).await.unwrap());
        assert!(
            !store.claim(&due.delivery, lease).await.unwrap(),
            "claimed once"
        );
        let done = |lease: i64| AttemptDone {
            attempt: attempt::Model {
                delivery_id: due.delivery.delivery_id.clone(),
                attempt: 1,
                tenant_id: "acme".into(),
                at: now,
                status_code: 410,
                latency_ms: 3,
                error: String::new(),
            },
            status: FAILED,
            next_attempt_at: now,
            disable_because: Some("the receiver answered 410 Gone".into()),
            lease,
            endpoint_version: endpoint.version,
        };
        // Another lease (a replica whose claim expired): nothing is kept.
        assert!(
            !store
                .record_attempt(&due.delivery, done(lease + 1))
                .await
                .unwrap()
        );
        assert!(
            store
                .delivery("acme", &due.delivery.delivery_id)
                .await
                .unwrap()
                .1
                .is_empty()
        );
        assert!(
            store
                .record_attempt(&due.delivery, done(lease))
                .await
                .unwrap()
        );
        let (found, attempts) = store
            .delivery("acme", &due.delivery.delivery_id)
            .await
            .unwrap();
        assert_eq!((found.status.as_str(), attempts.len()), (FAILED, 1));
        assert!(!store.endpoint("acme", "crm").await.unwrap().enabled);
    }

    #[tokio::test]
    async fn a_410_does_not_disable_an_endpoint_changed_since_the_attempt_began() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let before = put(&store, "crm", true).await;
        let now = now_ms();
        store
            .stage_deliveries(vec![delivery("crm", "e1", now)])
            .await
            .unwrap();
        let due = store.due(&key("crm"), now, 10).await.unwrap().remove(0);
        let lease = now + 45_000;
        assert!(store.claim(&due.delivery, lease).await.unwrap());
        // Re-pointed while the old URL answered 410.
        let spec = EndpointSpec {
            url: "https://new.brand.example/in".into(),
            description: String::new(),
            event_types: vec![],
            enabled: true,
        };
        let secret = Secret::new([3; NEW_SECRET_BYTES]);
        store
            .put_endpoint("acme", "crm", &spec, None, &secret, &change())
            .await
            .unwrap();
        let done = AttemptDone {
            attempt: attempt::Model {
                delivery_id: due.delivery.delivery_id.clone(),
                attempt: 1,
                tenant_id: "acme".into(),
                at: now,
                status_code: 410,
                latency_ms: 3,
                error: String::new(),
            },
            status: FAILED,
            next_attempt_at: now,
            disable_because: Some("the receiver answered 410 Gone".into()),
            lease,
            endpoint_version: before.version,
        };
        assert!(store.record_attempt(&due.delivery, done).await.unwrap());
        assert!(store.endpoint("acme", "crm").await.unwrap().enabled);
    }
}
