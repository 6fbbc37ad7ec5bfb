//! Credentials and tenants that identity has switched off, kept by every
//! service so a token that still verifies is refused at once: a revoked API
//! client (and every token issued through it), a suspended tenant, a signing
//! key retired early. Fed by identity's events, stored in the service's own
//! database so a restart forgets nothing, and held in memory for the hot path.

use async_trait::async_trait;
use questline_proto::events::{Event, event::Payload};
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, Set, TransactionTrait};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean, string};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use crate::auth::Claims;
use crate::bus::EventHandler;
use crate::config::ServiceKind;
use crate::error::DomainError;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "access_blocks")]
    pub struct Model {
        /// `client`, `tenant` or `key`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub blocked: bool,
        /// Time of the newest event applied, so an older one never undoes it.
        pub as_of: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Adds the `access_blocks` table; every service lists it in its migrator.
pub struct CreateAccessBlocks;

impl MigrationName for CreateAccessBlocks {
    fn name(&self) -> &str {
        "m0000_kit_create_access_blocks"
    }
}

#[async_trait]
impl MigrationTrait for CreateAccessBlocks {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("access_blocks")
                    .if_not_exists()
                    .col(string("kind"))
                    .col(string("id"))
                    .col(boolean("blocked"))
                    .col(big_integer("as_of"))
                    .primary_key(Index::create().col("kind").col("id"))
                    .to_owned(),
            )
            .await
    }
}

/// What can be switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Blocked {
    Client,
    Tenant,
    SigningKey,
}

impl Blocked {
    fn name(self) -> &'static str {
        match self {
            Blocked::Client => "client",
            Blocked::Tenant => "tenant",
            Blocked::SigningKey => "key",
        }
    }

    fn parse(name: &str) -> Option<Blocked> {
        [Blocked::Client, Blocked::Tenant, Blocked::SigningKey]
            .into_iter()
            .find(|b| b.name() == name)
    }
}

/// The in-memory set every token check consults.
#[derive(Clone, Default)]
pub struct AccessList {
    blocked: Arc<RwLock<HashSet<(Blocked, String)>>>,
}

impl AccessList {
    pub fn is_blocked(&self, kind: Blocked, id: &str) -> bool {
        let set = self.blocked.read().unwrap_or_else(|p| p.into_inner());
        set.contains(&(kind, id.to_string()))
    }

    pub fn set(&self, kind: Blocked, id: &str, blocked: bool) {
        let mut set = self.blocked.write().unwrap_or_else(|p| p.into_inner());
        if blocked {
            set.insert((kind, id.to_string()));
        } else {
            set.remove(&(kind, id.to_string()));
        }
    }

    /// Refuses verified `claims` signed by `kid` if anything they rely on is switched off.
    pub fn admit(&self, claims: &Claims, kid: &str) -> Result<(), DomainError> {
        if self.is_blocked(Blocked::SigningKey, kid) {
            return Err(DomainError::Unauthenticated(
                "invalid token: signing key retired".into(),
            ));
        }
        if self.is_blocked(Blocked::Client, &claims.cid) {
            return Err(DomainError::Unauthenticated(
                "invalid token: credential revoked".into(),
            ));
        }
        if !claims.tenant.is_empty() && self.is_blocked(Blocked::Tenant, &claims.tenant) {
            return Err(DomainError::PermissionDenied(format!(
                "tenant {} is suspended",
                claims.tenant
            )));
        }
        Ok(())
    }
}

/// The durable consumer name of a service's access feed.
pub fn consumer_of(kind: ServiceKind) -> &'static str {
    match kind {
        ServiceKind::Identity => "identity-access",
        ServiceKind::Ledger => "ledger-access",
        ServiceKind::Mechanics => "mechanics-access",
        ServiceKind::Rewards => "rewards-access",
        ServiceKind::Notifications => "notifications-access",
    }
}

/// Keeps a service's `AccessList` and its table in step with identity's events.
#[derive(Clone)]
pub struct AccessFeed {
    db: DatabaseConnection,
    list: AccessList,
    consumer: &'static str,
}

impl AccessFeed {
    /// Loads what the service's database already knows.
    pub async fn load(
        db: DatabaseConnection,
        consumer: &'static str,
    ) -> Result<AccessFeed, DomainError> {
        let list = AccessList::default();
        for row in entity::Entity::find().all(&db).await? {
            if let Some(kind) = Blocked::parse(&row.kind) {
                list.set(kind, &row.id, row.blocked);
            }
        }
        Ok(AccessFeed { db, list, consumer })
    }

    pub fn list(&self) -> AccessList {
        self.list.clone()
    }
}

/// The switch an event flips, if any.
fn change_of(event: &Event) -> Option<(Blocked, String, bool)> {
    match event.payload.as_ref()? {
        Payload::ApiClientRevoked(r) => Some((Blocked::Client, r.client_id.clone(), true)),
        Payload::SigningKeyRetired(r) => Some((Blocked::SigningKey, r.kid.clone(), true)),
        Payload::TenantUpdated(t) => Some((Blocked::Tenant, t.tenant_id.clone(), t.suspended)),
        _ => None,
    }
}

#[async_trait]
impl EventHandler for AccessFeed {
    fn wants(&self, event: &Event) -> bool {
        change_of(event).is_some()
    }

    async fn handle(&self, event: &Event) -> Result<(), DomainError> {
        let Some((kind, id, blocked)) = change_of(event) else {
            return Ok(());
        };
        let as_of = event
            .time
            .as_ref()
            .map(crate::time::from_timestamp)
            .unwrap_or_default();
        let txn = self.db.begin().await?;
        let key = (kind.name().to_string(), id.clone());
        let stored = entity::Entity::find_by_id(key).one(&txn).await?;
        let row = entity::ActiveModel {
            kind: Set(kind.name().into()),
            id: Set(id.clone()),
            blocked: Set(blocked),
            as_of: Set(as_of),
        };
        let newest = match stored {
            None => {
                row.insert(&txn).await?;
                true
            }
            Some(stored) if stored.as_of <= as_of => {
                row.update(&txn).await?;
                true
            }
            Some(_) => false,
        };
        txn.commit().await?;
        if newest {
            self.list.set(kind, &id, blocked);
            tracing::info!(
                consumer = self.consumer,
                kind = kind.name(),
                blocked,
                "access changed"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(cid: &str, tenant: &str) -> Claims {
        Claims {
            iss: crate::auth::ISSUER.into(),
            aud: crate::auth::AUDIENCE.into(),
            sub: cid.into(),
            cid: cid.into(),
            tenant: tenant.into(),
            scopes: vec![crate::auth::Scope::Server],
            iat: 0,
            exp: 0,
            svc: String::new(),
        }
    }

    #[test]
    fn each_switch_refuses_with_its_own_status() {
        let list = AccessList::default();
        assert!(list.admit(&claims("c1", "acme"), "k1").is_ok());
        list.set(Blocked::Client, "c1", true);
        assert!(matches!(
            list.admit(&claims("c1", "acme"), "k1"),
            Err(DomainError::Unauthenticated(_))
        ));
        assert!(list.admit(&claims("c2", "acme"), "k1").is_ok());
        list.set(Blocked::Tenant, "acme", true);
        assert!(matches!(
            list.admit(&claims("c2", "acme"), "k1"),
            Err(DomainError::PermissionDenied(_))
        ));
        list.set(Blocked::Tenant, "acme", false);
        list.set(Blocked::SigningKey, "k1", true);
        assert!(list.admit(&claims("c2", "acme"), "k1").is_err());
        assert!(list.admit(&claims("c2", "acme"), "k2").is_ok());
    }
}
