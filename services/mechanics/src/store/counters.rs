//! Counters: their definitions (one row each, a new version per change,
//! audited, turning the rule book's page) and each member's buckets, added
//! to in the event's own transaction.

use questline_kit::DomainError;
use questline_kit::audit::{self, Change};
use questline_kit::paging::Page;
use questline_kit::time::now_ms;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use std::collections::HashMap;

use super::Store;
use super::entities::{counter, member_counter};
use super::rules::turn_page;
use crate::domain::counters::{Bucket, CounterSpec};
use crate::events;
use questline_kit::db::expect_version;

/// A counter as stored: its definition and row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCounter {
    pub row: counter::Model,
    pub spec: CounterSpec,
}

pub(super) fn stored(row: counter::Model) -> Result<StoredCounter, DomainError> {
    Ok(StoredCounter {
        spec: serde_json::from_str(&row.spec).map_err(DomainError::internal)?,
        row,
    })
}

impl Store {
    /// Saves `spec` as the counter's next version; the same definition
    /// answers it unchanged. A change of what it counts forgets the values
    /// kept so far. ABORTED when `expected_version` is not the stored one.
    pub async fn put_counter(
        &self,
        tenant_id: &str,
        counter_id: &str,
        spec: &CounterSpec,
        expected_version: Option<i32>,
        change: &Change,
    ) -> Result<StoredCounter, DomainError> {
        let text = serde_json::to_string(spec).map_err(DomainError::internal)?;
        let answer = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let key = (tenant_id.to_string(), counter_id.to_string());
            let current = counter::Entity::find_by_id(key).one(&txn).await?;
            let current = current.map(stored).transpose()?;
            if let Some(c) = &current
                && c.spec == *spec
            {
                return Ok((c.clone(), false));
            }
            let version = current.as_ref().map_or(0, |c| c.row.version);
            expect_version(&format!("counter {counter_id}"), version, expected_version)?;
            if current.as_ref().is_some_and(|c| !c.spec.counts_like(spec)) {
                forget_values(&txn, tenant_id, counter_id).await?;
            }
            let row = counter::ActiveModel {
                tenant_id: Set(tenant_id.into()),
                counter_id: Set(counter_id.into()),
                spec: Set(text.clone()),
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

    pub async fn counter(
        &self,
        tenant_id: &str,
        counter_id: &str,
    ) -> Result<StoredCounter, DomainError> {
        let key = (tenant_id.to_string(), counter_id.to_string());
        let row = counter::Entity::find_by_id(key)
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("counter {counter_id}")))?;
        stored(row)
    }

    /// One page of the tenant's counters by id, for `Page::finish`.
    pub async fn counters(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> Result<Vec<StoredCounter>, DomainError> {
        let mut query = counter::Entity::find()
            .filter(counter::Column::TenantId.eq(tenant_id))
            .order_by_asc(counter::Column::CounterId);
        if let Some(after) = &page.after {
            query = query.filter(counter::Column::CounterId.gt(after.as_str()));
        }
        let rows = query.limit(page.fetch_limit()).all(&self.db).await?;
        rows.into_iter().map(stored).collect()
    }

    /// Removes a counter and every value it kept; NOT_FOUND when unknown.
    pub async fn delete_counter(
        &self,
        tenant_id: &str,
        counter_id: &str,
        change: &Change,
    ) -> Result<(), DomainError> {
        let txn = self.db.begin().await?;
        let deleted = counter::Entity::delete_many()
            .filter(counter::Column::TenantId.eq(tenant_id))
            .filter(counter::Column::CounterId.eq(counter_id))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(DomainError::NotFound(format!("counter {counter_id}")));
        }
        forget_values(&txn, tenant_id, counter_id).await?;
        turn_page(&txn, tenant_id).await?;
        audit::stage(&txn, events::SOURCE, change).await?;
        txn.commit().await?;
        self.relay.wake();
        Ok(())
    }

    /// Every counter of the tenant, for its rule book.
    pub(super) async fn counter_rows(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<counter::Model>, DomainError> {
        Ok(counter::Entity::find()
            .filter(counter::Column::TenantId.eq(tenant_id))
            .order_by_asc(counter::Column::CounterId)
            .all(&self.db)
            .await?)
    }

    /// One member's buckets of every counter.
    pub async fn counter_buckets(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<Vec<Bucket>, DomainError> {
        let mut one = self
            .buckets_by_member(tenant_id, Some(&[member_id]))
            .await?;
        Ok(one.remove(member_id).unwrap_or_default())
    }

    /// The buckets of the tenant's members (those of `member_ids` when
    /// given), by member; a member with none is absent.
    pub async fn buckets_by_member(
        &self,
        tenant_id: &str,
        member_ids: Option<&[&str]>,
    ) -> Result<HashMap<String, Vec<Bucket>>, DomainError> {
        let mut query =
            member_counter::Entity::find().filter(member_counter::Column::TenantId.eq(tenant_id));
        if let Some(member_ids) = member_ids {
            let member_ids = member_ids.iter().copied();
            query = query.filter(member_counter::Column::MemberId.is_in(member_ids));
        }
        let mut by_member: HashMap<String, Vec<Bucket>> = HashMap::new();
        for row in query.all(&self.db).await? {
            by_member
                .entry(row.member_id.clone())
                .or_default()
                .push(bucket(row));
        }
        Ok(by_member)
    }
}

pub(super) fn bucket(row: member_counter::Model) -> Bucket {
    Bucket {
        counter_id: row.counter_id,
        bucket: row.bucket,
        value: row.value,
    }
}

async fn forget_values(
    txn: &DatabaseTransaction,
    tenant_id: &str,
    counter_id: &str,
) -> Result<(), DomainError> {
    member_counter::Entity::delete_many()
        .filter(member_counter::Column::TenantId.eq(tenant_id))
        .filter(member_counter::Column::CounterId.eq(counter_id))
        .exec(txn)
        .await?;
    Ok(())
}
