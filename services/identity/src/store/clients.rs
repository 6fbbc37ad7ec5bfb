//! API clients and their keys. A client holds one or more keys: a rotation
//! adds a key and gives the ones before it an end. Revoking the client ends
//! all of them and publishes `api_client.revoked`, so every service refuses
//! the tokens already issued to it.

use questline_kit::paging::Page;
use questline_kit::{DomainError, fingerprint, outbox, time::now_ms};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::Store;
use super::entities::{api_client, api_key, tenant};
use crate::domain::clients::{self, ClientOnFile, ClientStatus, KeyOnFile};
use crate::domain::keys::{self, NewApiKey};
use crate::domain::tenants::TenantStatus;
use crate::events::{self, SOURCE};
use questline_kit::audit::{self, Change};

/// A client with its keys, newest first.
pub type ClientWithKeys = (api_client::Model, Vec<api_key::Model>);

/// What a create or rotate decided: a new key (shown once), or the first answer again.
pub enum ClientOutcome {
    Created(ClientWithKeys, NewApiKey),
    Replayed(ClientWithKeys),
}

impl Store {
    /// Creates a client and its first key under the call's idempotency key.
    pub async fn create_api_client(
        &self,
        draft: api_client::Model,
        new_key: NewApiKey,
        change: &Change,
    ) -> Result<ClientOutcome, DomainError> {
        let outcome = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let first = api_client::Entity::find()
                .filter(api_client::Column::TenantId.eq(draft.tenant_id.as_str()))
                .filter(api_client::Column::IdempotencyKey.eq(draft.idempotency_key.as_str()))
                .one(&txn)
                .await?;
            if let Some(first) = first {
                let stored = first.fingerprint.clone();
                return replayed(&txn, &stored, &draft.fingerprint, first).await;
            }
            let client = api_client::ActiveModel::from(draft.clone())
                .insert(&txn)
                .await?;
            let call = KeyCall {
                idempotency_key: &draft.idempotency_key,
                fingerprint: &draft.fingerprint,
            };
            add_key(txn, client, &new_key, call, change).await
        })
        .await?;
        self.relay.wake();
        Ok(outcome)
    }

    pub async fn api_client(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> Result<ClientWithKeys, DomainError> {
        let client = find_client(&self.db, tenant_id, client_id).await?;
        with_keys(&self.db, client).await
    }

    /// One page of a tenant's clients by id, fetched for `Page::finish`.
    pub async fn api_clients(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> Result<Vec<ClientWithKeys>, DomainError> {
        let mut query = api_client::Entity::find()
            .filter(api_client::Column::TenantId.eq(tenant_id))
            .order_by_asc(api_client::Column::ClientId);
        if let Some(after) = &page.after {
            query = query.filter(api_client::Column::ClientId.gt(after.as_str()));
        }
        let mut all = Vec::new();
        for client in query.limit(page.fetch_limit()).all(&self.db).await? {
            all.push(with_keys(&self.db, client).await?);
        }
        Ok(all)
    }

    /// Adds `new_key` to an active client; its earlier keys end after `grace_ms`.
    pub async fn rotate_api_key(
        &self,
        rotation: Rotation<'_>,
        new_key: NewApiKey,
        change: &Change,
    ) -> Result<ClientOutcome, DomainError> {
        let outcome = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let client = find_client(&txn, rotation.tenant_id, rotation.client_id).await?;
            let first = api_key::Entity::find()
                .filter(api_key::Column::ClientId.eq(client.client_id.as_str()))
                .filter(api_key::Column::IdempotencyKey.eq(rotation.idempotency_key))
                .one(&txn)
                .await?;
            if let Some(first) = first {
                return replayed(&txn, &first.fingerprint, rotation.fingerprint, client).await;
            }
            ClientStatus::parse(&client.status).may_get_key()?;
            let ends = now_ms().saturating_add(rotation.grace_ms);
            for old in live_keys(&txn, &client.client_id).await? {
                if old.expires_at.is_none_or(|at| at > ends) {
                    let mut active: api_key::ActiveModel = old.into();
                    active.expires_at = Set(Some(ends));
                    active.update(&txn).await?;
                }
            }
            let call = KeyCall {
                idempotency_key: rotation.idempotency_key,
                fingerprint: rotation.fingerprint,
            };
            add_key(txn, client, &new_key, call, change).await
        })
        .await?;
        self.relay.wake();
        Ok(outcome)
    }

    /// Revokes the client (again, harmlessly); the first time publishes `api_client.revoked`.
    pub async fn revoke_api_client(
        &self,
        tenant_id: &str,
        client_id: &str,
        change: &Change,
    ) -> Result<ClientWithKeys, DomainError> {
        let answer = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let client = find_client(&txn, tenant_id, client_id).await?;
            if ClientStatus::parse(&client.status) == ClientStatus::Revoked {
                return Ok((with_keys(&txn, client).await?, false));
            }
            let mut active: api_client::ActiveModel = client.into();
            active.status = Set(ClientStatus::Revoked.as_str().into());
            active.revoked_at = Set(Some(now_ms()));
            let client = active.update(&txn).await?;
            outbox::stage(&txn, &events::api_client_revoked(&client)).await?;
            audit::stage(&txn, SOURCE, change).await?;
            let revoked = with_keys(&txn, client).await?;
            txn.commit().await?;
            Ok((revoked, true))
        })
        .await?;
        Ok(self.relay.woken(answer))
    }

    /// What is stored under `api_key`'s prefix: the key, its client and
    /// the client's tenant, as far as each exists; `None` when the key has
    /// not our shape or no key has its prefix.
    /// The key under `api_key`'s prefix, its client, and the status of the
    /// tenant the token would act for (`acting_for`, for a service client).
    pub async fn key_on_file(
        &self,
        api_key: &str,
        acting_for: &str,
    ) -> Result<Option<KeyOnFile>, DomainError> {
        let Some(prefix) = keys::prefix_of(api_key) else {
            return Ok(None);
        };
        let Some(key) = api_key::Entity::find_by_id(prefix).one(&self.db).await? else {
            return Ok(None);
        };
        let client = api_client::Entity::find_by_id(key.client_id.clone())
            .one(&self.db)
            .await?;
        let client = match client {
            Some(client) => {
                let tenant_id = if client.tenant_id == clients::SERVICE_CLIENTS {
                    acting_for
                } else {
                    &client.tenant_id
                };
                let tenant = tenant::Entity::find_by_id(tenant_id).one(&self.db).await?;
                Some(client_on_file(client, tenant))
            }
            None => None,
        };
        Ok(Some(KeyOnFile {
            prefix: key.key_prefix,
            hash: key.key_hash,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            client,
        }))
    }

    /// Notes that the key with `prefix` was used at `now`.
    pub async fn mark_used(&self, prefix: &str, now: i64) -> Result<(), DomainError> {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, now.into())
            .filter(api_key::Column::KeyPrefix.eq(prefix))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

fn client_on_file(client: api_client::Model, tenant: Option<tenant::Model>) -> ClientOnFile {
    ClientOnFile {
        scopes: clients::scopes_from_text(&client.scopes),
        status: ClientStatus::parse(&client.status),
        tenant: tenant.map(|t| TenantStatus::parse(&t.status)),
        client_id: client.client_id,
        tenant_id: client.tenant_id,
        name: client.name,
    }
}

/// A rotate call: whose key, how long the old ones live, and its idempotency.
pub struct Rotation<'a> {
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    pub grace_ms: i64,
    pub idempotency_key: &'a str,
    pub fingerprint: &'a str,
}

async fn find_client<C: ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    client_id: &str,
) -> Result<api_client::Model, DomainError> {
    api_client::Entity::find_by_id(client_id.to_string())
        .filter(api_client::Column::TenantId.eq(tenant_id))
        .one(c)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("API client {client_id} not found")))
}

/// The call that makes a key, kept with it so the same call again is recognised.
struct KeyCall<'a> {
    idempotency_key: &'a str,
    fingerprint: &'a str,
}

/// Adds `new_key` to `client` and commits it with the call's audit entry:
/// the answer that shows the key, once.
async fn add_key(
    txn: DatabaseTransaction,
    client: api_client::Model,
    new_key: &NewApiKey,
    call: KeyCall<'_>,
    change: &Change,
) -> Result<ClientOutcome, DomainError> {
    api_key::ActiveModel {
        key_prefix: Set(new_key.prefix.clone()),
        client_id: Set(client.client_id.clone()),
        key_hash: Set(keys::hash(&new_key.full())),
        idempotency_key: Set(call.idempotency_key.into()),
        fingerprint: Set(call.fingerprint.into()),
        created_at: Set(now_ms()),
        expires_at: Set(None),
        last_used_at: Set(None),
    }
    .insert(&txn)
    .await?;
    let answer = with_keys(&txn, client).await?;
    audit::stage(&txn, SOURCE, change).await?;
    txn.commit().await?;
    Ok(ClientOutcome::Created(answer, new_key.clone()))
}

/// The first answer, to a call made again under its idempotency key.
async fn replayed<C: ConnectionTrait>(
    c: &C,
    stored_fingerprint: &str,
    fingerprint: &str,
    client: api_client::Model,
) -> Result<ClientOutcome, DomainError> {
    fingerprint::same_request(stored_fingerprint, fingerprint)?;
    Ok(ClientOutcome::Replayed(with_keys(c, client).await?))
}

/// Keys that have not ended, newest first.
async fn live_keys<C: ConnectionTrait>(
    c: &C,
    client_id: &str,
) -> Result<Vec<api_key::Model>, DomainError> {
    let now = now_ms();
    Ok(api_key::Entity::find()
        .filter(api_key::Column::ClientId.eq(client_id))
        .order_by_desc(api_key::Column::CreatedAt)
        .all(c)
        .await?
        .into_iter()
        .filter(|k| k.expires_at.is_none_or(|at| at > now))
        .collect())
}

async fn with_keys<C: ConnectionTrait>(
    c: &C,
    client: api_client::Model,
) -> Result<ClientWithKeys, DomainError> {
    let keys = live_keys(c, &client.client_id).await?;
    Ok((client, keys))
}
