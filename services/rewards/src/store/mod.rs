//! The rewards service's storage: the catalogue with its voucher pools, and
//! the redemptions' steps (see `redemptions`).

pub mod entities;
mod export;
pub mod migrations;
mod redemptions;
#[cfg(test)]
pub(crate) mod tests;

use questline_kit::error::same_or_exists;
use questline_kit::paging::Page;
use questline_kit::{DomainError, outbox, time::now_ms};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait, TryInsertResult,
};

use crate::domain::reward::{NewReward, VoucherSource};
use crate::events;
use entities::{reward, voucher_code};
use questline_kit::audit::{self, Change};

/// A reward with the count of its free pool codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub reward: reward::Model,
    pub codes_available: i64,
}

/// What an upload did to a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upload {
    pub added: i64,
    pub codes_available: i64,
}

/// Rows per insert: keeps a 10,000-code upload under SQLite's bound-variable limit.
const INSERT_CHUNK: usize = 1_000;

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    relay: outbox::Relay,
}

impl Store {
    pub fn new(db: DatabaseConnection, relay: outbox::Relay) -> Store {
        Store { db, relay }
    }

    /// Creates a reward; the same request again answers the reward as it is now.
    pub async fn create_reward(
        &self,
        r: &NewReward,
        change: &Change,
    ) -> Result<Listing, DomainError> {
        let answer = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let key = (r.tenant_id.clone(), r.reward_id.clone());
            if let Some(stored) = reward::Entity::find_by_id(key).one(&txn).await? {
                let same = stored.fingerprint == r.fingerprint;
                let stored = same_or_exists(stored, same, "reward", &r.reward_id)?;
                return Ok((listing(&txn, stored).await?, false));
            }
            let row = reward::ActiveModel {
                tenant_id: Set(r.tenant_id.clone()),
                reward_id: Set(r.reward_id.clone()),
                name: Set(r.name.clone()),
                currency: Set(r.currency.clone()),
                price: Set(r.price),
                stock: Set(r.stock),
                voucher_source: Set(r.voucher_source.as_str().into()),
                fingerprint: Set(r.fingerprint.clone()),
                created_at: Set(now_ms()),
            }
            .insert(&txn)
            .await?;
            audit::stage(&txn, events::SOURCE, change).await?;
            txn.commit().await?;
            let listed = Listing {
                reward: row,
                codes_available: 0,
            };
            Ok((listed, true))
        })
        .await?;
        Ok(self.relay.woken(answer))
    }

    pub async fn reward(&self, tenant_id: &str, reward_id: &str) -> Result<Listing, DomainError> {
        let row = find_reward(&self.db, tenant_id, reward_id).await?;
        listing(&self.db, row).await
    }

    /// A page of the tenant's rewards by id, and the token of the next.
    pub async fn rewards(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> Result<(Vec<Listing>, String), DomainError> {
        let mut query = reward::Entity::find()
            .filter(reward::Column::TenantId.eq(tenant_id))
            .order_by_asc(reward::Column::RewardId)
            .limit(page.fetch_limit());
        if let Some(after) = &page.after {
            query = query.filter(reward::Column::RewardId.gt(after.as_str()));
        }
        let (rows, token) = page.finish(query.all(&self.db).await?, |r| r.reward_id.as_str());
        let mut listings = Vec::with_capacity(rows.len());
        for row in rows {
            listings.push(listing(&self.db, row).await?);
        }
        Ok((listings, token))
    }

    /// Adds cleaned codes to a pool reward; codes already in its pool are skipped.
    pub async fn add_voucher_codes(
        &self,
        tenant_id: &str,
        reward_id: &str,
        codes: &[String],
        change: &Change,
    ) -> Result<Upload, DomainError> {
        let txn = self.db.begin().await?;
        let reward = find_reward(&txn, tenant_id, reward_id).await?;
        if VoucherSource::parse(&reward.voucher_source)? != VoucherSource::Pool {
            return Err(DomainError::precondition(
                "NOT_A_POOL_REWARD",
                format!("rewards/{reward_id}"),
                "the reward generates its codes; only pool rewards take uploads",
            ));
        }
        let now = now_ms();
        let mut added = 0;
        for chunk in codes.chunks(INSERT_CHUNK) {
            let rows = chunk.iter().map(|code| voucher_code::ActiveModel {
                tenant_id: Set(tenant_id.into()),
                reward_id: Set(reward_id.into()),
                code: Set(code.clone()),
                redemption_id: Set(None),
                created_at: Set(now),
            });
            let inserted = voucher_code::Entity::insert_many(rows)
                .on_conflict_do_nothing_on([
                    voucher_code::Column::TenantId,
                    voucher_code::Column::RewardId,
                    voucher_code::Column::Code,
                ])
                .exec_without_returning(&txn)
                .await?;
            if let TryInsertResult::Inserted(n) = inserted {
                added += n as i64;
            }
        }
        let codes_available = free_codes(&txn, tenant_id, reward_id).await?;
        let change = change
            .clone()
            .with("offered", codes.len())
            .with("added", added);
        audit::stage(&txn, events::SOURCE, &change).await?;
        txn.commit().await?;
        self.relay.wake();
        Ok(Upload {
            added,
            codes_available,
        })
    }
}

async fn find_reward<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    reward_id: &str,
) -> Result<reward::Model, DomainError> {
    reward::Entity::find_by_id((tenant_id.to_string(), reward_id.to_string()))
        .one(c)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("reward {reward_id} not found")))
}

async fn listing<C: ConnectionTrait>(c: &C, reward: reward::Model) -> Result<Listing, DomainError> {
    let codes_available = free_codes(c, &reward.tenant_id, &reward.reward_id).await?;
    Ok(Listing {
        reward,
        codes_available,
    })
}

async fn free_codes<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    reward_id: &str,
) -> Result<i64, DomainError> {
    let count = voucher_code::Entity::find()
        .filter(voucher_code::Column::TenantId.eq(tenant_id))
        .filter(voucher_code::Column::RewardId.eq(reward_id))
        .filter(voucher_code::Column::RedemptionId.is_null())
        .count(c)
        .await?;
    Ok(count as i64)
}
