//! Identity's storage.

mod clients;
pub mod entities;
pub mod migrations;
mod signing;
mod tenants;

pub use clients::{ClientOutcome, ClientWithKeys, KeyHolder, Rotation};
pub use signing::SigningRotation;

use questline_kit::{DomainError, new_id, outbox, time::now_ms};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use std::collections::BTreeMap;

use crate::events;
use entities::member;

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    relay: outbox::Relay,
}

impl Store {
    pub fn new(db: DatabaseConnection, relay: outbox::Relay) -> Store {
        Store { db, relay }
    }

    /// Creates or updates the member with this external id; publishes
    /// `member.upserted` when anything changed. Returns the member and whether it is new.
    pub async fn upsert_member(
        &self,
        tenant_id: &str,
        external_id: &str,
        profile: &BTreeMap<String, String>,
    ) -> Result<(member::Model, bool), DomainError> {
        let profile_json = serde_json::to_string(profile).map_err(DomainError::internal)?;
        let (row, created, changed) = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let now = now_ms();
            let existing = member::Entity::find()
                .filter(member::Column::TenantId.eq(tenant_id))
                .filter(member::Column::ExternalId.eq(external_id))
                .one(&txn)
                .await?;
            let (row, created, changed) = match existing {
                Some(row) if row.profile == profile_json => (row, false, false),
                Some(row) => {
                    let mut active: member::ActiveModel = row.into();
                    active.profile = Set(profile_json.clone());
                    active.updated_at = Set(now);
                    (active.update(&txn).await?, false, true)
                }
                None => {
                    let row = member::ActiveModel {
                        member_id: Set(new_id()),
                        tenant_id: Set(tenant_id.into()),
                        external_id: Set(external_id.into()),
                        profile: Set(profile_json.clone()),
                        created_at: Set(now),
                        updated_at: Set(now),
                    };
                    (row.insert(&txn).await?, true, true)
                }
            };
            if changed {
                outbox::stage(&txn, &events::member_upserted(&row, profile)).await?;
            }
            txn.commit().await?;
            Ok((row, created, changed))
        })
        .await?;
        if changed {
            self.relay.wake();
        }
        Ok((row, created))
    }

    pub async fn member(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<member::Model, DomainError> {
        member::Entity::find_by_id(member_id.to_string())
            .filter(member::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("member {member_id} not found")))
    }
}

/// A member's profile as stored.
pub fn profile_of(row: &member::Model) -> BTreeMap<String, String> {
    serde_json::from_str(&row.profile).unwrap_or_default()
}
