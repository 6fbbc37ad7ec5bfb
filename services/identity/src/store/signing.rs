//! Token signing keys. The newest key without an end signs; a rotation gives
//! the keys before it an end (`retire_at`), and the key set lists every key
//! until its end. A key ended at once (overlap 0) is also published as
//! `signing_key.retired`, so every service refuses its tokens without waiting
//! for its cached key set to age out.

use questline_kit::{DomainError, outbox, time::now_ms};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};

use super::Store;
use super::entities::signing_key;
use crate::domain::keys::SigningMaterial;
use crate::events::{self, SOURCE};
use questline_kit::audit::{self, Change};

/// What a rotation did.
pub struct SigningRotation {
    pub kid: String,
    pub retired_now: Vec<String>,
}

impl Store {
    /// The key that signs now, made on first use from `seed`.
    pub async fn signing_key(
        &self,
        seed: impl FnOnce() -> Result<[u8; 32], DomainError>,
    ) -> Result<SigningMaterial, DomainError> {
        if let Some(row) = signing_now(&self.db).await? {
            return Ok(material_of(row));
        }
        let material = SigningMaterial::from_seed(seed()?)?;
        insert(&self.db, &material).await?;
        Ok(material)
    }

    /// Starts signing with a key from `seed`; earlier keys verify for `overlap_ms` more.
    pub async fn rotate_signing_key(
        &self,
        seed: [u8; 32],
        overlap_ms: i64,
        change: Change,
    ) -> Result<SigningRotation, DomainError> {
        let material = SigningMaterial::from_seed(seed)?;
        let change = change.with("kid", material.kid.as_str());
        let retired_now = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let now = now_ms();
            let ends = now.saturating_add(overlap_ms);
            let mut retired_now = Vec::new();
            for row in published(&txn, now).await? {
                if row.retire_at.is_none_or(|at| at > ends) {
                    let kid = row.kid.clone();
                    let mut active: signing_key::ActiveModel = row.into();
                    active.retire_at = Set(Some(ends));
                    active.update(&txn).await?;
                    if overlap_ms == 0 {
                        outbox::stage(&txn, &events::signing_key_retired(&kid)).await?;
                        retired_now.push(kid);
                    }
                }
            }
            insert(&txn, &material).await?;
            audit::stage(&txn, SOURCE, &change).await?;
            txn.commit().await?;
            Ok(retired_now)
        })
        .await?;
        self.relay.wake();
        tracing::info!(kid = %material.kid, "signing key rotated");
        Ok(SigningRotation {
            kid: material.kid,
            retired_now,
        })
    }

    /// Every key that still verifies, newest first.
    pub async fn public_keys(&self) -> Result<Vec<signing_key::Model>, DomainError> {
        published(&self.db, now_ms()).await
    }
}

async fn signing_now<C: ConnectionTrait>(c: &C) -> Result<Option<signing_key::Model>, DomainError> {
    Ok(signing_key::Entity::find()
        .filter(signing_key::Column::RetireAt.is_null())
        .order_by_desc(signing_key::Column::CreatedAt)
        .one(c)
        .await?)
}

async fn published<C: ConnectionTrait>(
    c: &C,
    now: i64,
) -> Result<Vec<signing_key::Model>, DomainError> {
    Ok(signing_key::Entity::find()
        .filter(
            Condition::any()
                .add(signing_key::Column::RetireAt.is_null())
                .add(signing_key::Column::RetireAt.gt(now)),
        )
        .order_by_desc(signing_key::Column::CreatedAt)
        .all(c)
        .await?)
}

async fn insert<C: ConnectionTrait>(c: &C, material: &SigningMaterial) -> Result<(), DomainError> {
    signing_key::ActiveModel {
        kid: Set(material.kid.clone()),
        private_pkcs8: Set(material.pkcs8.clone()),
        public_x: Set(material.x.clone()),
        created_at: Set(now_ms()),
        retire_at: Set(None),
    }
    .insert(c)
    .await?;
    Ok(())
}

fn material_of(row: signing_key::Model) -> SigningMaterial {
    SigningMaterial {
        kid: row.kid,
        pkcs8: row.private_pkcs8,
        x: row.public_x,
    }
}
