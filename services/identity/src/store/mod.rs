//! Identity's storage.

pub mod entities;
pub mod migrations;

use questline_kit::{DomainError, fingerprint, new_id, outbox, time::now_ms};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use std::collections::BTreeMap;

use crate::domain::keys::{NewApiKey, SigningMaterial};
use crate::events;
use entities::{api_client, member, signing_key, tenant};

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    relay: outbox::Relay,
}

/// What `create_api_client` decided: a new client (with its key), or the first answer again.
pub enum ClientOutcome {
    Created(api_client::Model, NewApiKey),
    Replayed(api_client::Model),
}

impl Store {
    pub fn new(db: DatabaseConnection, relay: outbox::Relay) -> Store {
        Store { db, relay }
    }

    pub async fn create_tenant(&self, row: tenant::Model) -> Result<tenant::Model, DomainError> {
        questline_kit::db::retrying(|| async {
            if let Some(existing) = tenant::Entity::find_by_id(row.tenant_id.clone())
                .one(&self.db)
                .await?
            {
                return if existing.name == row.name && existing.time_zone == row.time_zone {
                    Ok(existing)
                } else {
                    Err(DomainError::AlreadyExists(format!(
                        "tenant {} already exists",
                        row.tenant_id
                    )))
                };
            }
            let active: tenant::ActiveModel = row.clone().into();
            Ok(active.insert(&self.db).await?)
        })
        .await
    }

    pub async fn tenant(&self, tenant_id: &str) -> Result<tenant::Model, DomainError> {
        tenant::Entity::find_by_id(tenant_id.to_string())
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("tenant {tenant_id} not found")))
    }

    /// Creates a client under its idempotency key; `new_key` is used only if it is new.
    pub async fn create_api_client(
        &self,
        draft: api_client::Model,
        new_key: NewApiKey,
    ) -> Result<ClientOutcome, DomainError> {
        questline_kit::db::retrying(|| async {
            let first = api_client::Entity::find()
                .filter(api_client::Column::TenantId.eq(draft.tenant_id.as_str()))
                .filter(api_client::Column::IdempotencyKey.eq(draft.idempotency_key.as_str()))
                .one(&self.db)
                .await?;
            if let Some(first) = first {
                fingerprint::same_request(&first.fingerprint, &draft.fingerprint)?;
                return Ok(ClientOutcome::Replayed(first));
            }
            self.tenant(&draft.tenant_id).await?;
            let row = api_client::Model {
                key_prefix: new_key.prefix.clone(),
                key_hash: crate::domain::keys::hash(&new_key.full()),
                ..draft.clone()
            };
            let active: api_client::ActiveModel = row.into();
            Ok(ClientOutcome::Created(
                active.insert(&self.db).await?,
                new_key.clone(),
            ))
        })
        .await
    }

    pub async fn client_by_prefix(
        &self,
        prefix: &str,
    ) -> Result<Option<api_client::Model>, DomainError> {
        Ok(api_client::Entity::find()
            .filter(api_client::Column::KeyPrefix.eq(prefix))
            .one(&self.db)
            .await?)
    }

    /// The newest signing key, made on first use.
    pub async fn signing_key(
        &self,
        seed: impl FnOnce() -> [u8; 32],
    ) -> Result<SigningMaterial, DomainError> {
        let newest = signing_key::Entity::find()
            .order_by_desc(signing_key::Column::CreatedAt)
            .one(&self.db)
            .await?;
        if let Some(row) = newest {
            return Ok(SigningMaterial {
                kid: row.kid,
                pkcs8: row.private_pkcs8,
                x: row.public_x,
            });
        }
        let material = SigningMaterial::from_seed(seed())?;
        signing_key::ActiveModel {
            kid: Set(material.kid.clone()),
            private_pkcs8: Set(material.pkcs8.clone()),
            public_x: Set(material.x.clone()),
            created_at: Set(now_ms()),
        }
        .insert(&self.db)
        .await?;
        Ok(material)
    }

    pub async fn public_keys(&self) -> Result<Vec<signing_key::Model>, DomainError> {
        Ok(signing_key::Entity::find()
            .order_by_desc(signing_key::Column::CreatedAt)
            .all(&self.db)
            .await?)
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
