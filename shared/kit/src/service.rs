//! What a service gets from the process that runs it, and the start-up steps
//! every service shares: open and migrate its database, start its outbox relay.

use crate::client::Channel;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use tokio_util::sync::CancellationToken;

use crate::access::AccessFeed;
use crate::admin::Probes;
use crate::auth::{KeySource, RemoteKeys, TokenVerifier};
use crate::bus::EventBus;
use crate::config::{ServiceKind, Settings};
use crate::credential::{Credentials, ServiceCredential};
use crate::members::MemberDirectory;
use crate::outbox::Relay;

/// Shared by every service in a process: settings, the bus, the stop
/// signal, what the admin ports check and sample, and each service's own
/// credential.
#[derive(Clone)]
pub struct Context {
    pub settings: Arc<Settings>,
    pub bus: Arc<dyn EventBus>,
    pub shutdown: CancellationToken,
    pub probes: Arc<Probes>,
    pub credentials: Credentials,
}

/// A service's own database, migrated, with its outbox relay running.
pub struct Base {
    pub db: DatabaseConnection,
    pub relay: Relay,
}

impl Context {
    /// `kind`'s database, migrated (or checked, see `migrate_on_start`),
    /// timed, watched by its readiness and its planner statistics kept
    /// current (`statistics`), with its outbox relay running.
    pub async fn open<M: MigratorTrait>(&self, kind: ServiceKind) -> anyhow::Result<Base> {
        let db = self.database::<M>(kind).await?;
        let relay = Relay::new(db.clone(), self.bus.clone(), kind.name());
        tokio::spawn(relay.clone().run(self.shutdown.clone()));
        self.probes.add_sampler(Arc::new(relay.clone()));
        Ok(Base { db, relay })
    }

    /// Like `open`, for a service that publishes nothing (no relay).
    pub async fn database<M: MigratorTrait>(
        &self,
        kind: ServiceKind,
    ) -> anyhow::Result<DatabaseConnection> {
        let mut db = crate::db::open(&self.settings.database_url(kind)).await?;
        let answered = Arc::new(AtomicI64::new(0));
        crate::meter::observe_queries(&mut db, kind.name(), answered.clone());
        crate::db::migrate::<M>(&db, self.settings.migrate_on_start).await?;
        self.probes.watch_database(kind, db.clone(), answered);
        tokio::spawn(crate::statistics::keep(db.clone(), self.shutdown.clone()));
        Ok(db)
    }

    /// A lazy channel to another service of the mesh.
    pub fn channel(&self, kind: ServiceKind) -> anyhow::Result<Channel> {
        crate::client::channel(&self.settings.endpoint(kind))
    }

    /// `connections` lazy channels to another service of the mesh, taken in turn.
    pub fn pool(
        &self,
        kind: ServiceKind,
        connections: usize,
    ) -> anyhow::Result<crate::client::Pool> {
        crate::client::Pool::new(&self.settings.endpoint(kind), connections)
    }

    /// Verifies tokens against identity's published keys, refusing what
    /// identity has switched off (fed from the bus into `db`).
    pub async fn verifier(
        &self,
        db: &DatabaseConnection,
        kind: ServiceKind,
    ) -> anyhow::Result<Arc<TokenVerifier>> {
        let keys = RemoteKeys::new(self.channel(ServiceKind::Identity)?);
        self.guarded_verifier(db, kind, keys).await
    }

    /// Like `verifier`, with the keys from `keys`: identity reads its own.
    pub async fn guarded_verifier(
        &self,
        db: &DatabaseConnection,
        kind: ServiceKind,
        keys: Arc<dyn KeySource>,
    ) -> anyhow::Result<Arc<TokenVerifier>> {
        let consumer = crate::access::consumer_of(kind);
        let feed = AccessFeed::load(db.clone(), consumer).await?;
        let list = feed.list();
        self.bus
            .subscribe(consumer, Arc::new(feed), self.shutdown.clone())
            .await?;
        Ok(TokenVerifier::guarded(keys, list))
    }

    /// A member read model fed by `member.upserted` on the bus as `consumer`.
    pub async fn follow_members(
        &self,
        db: &DatabaseConnection,
        consumer: &'static str,
    ) -> anyhow::Result<MemberDirectory> {
        let members =
            MemberDirectory::new(db.clone(), self.channel(ServiceKind::Identity)?, consumer);
        self.bus
            .subscribe(consumer, Arc::new(members.clone()), self.shutdown.clone())
            .await?;
        Ok(members)
    }

    /// `kind`'s own credential, for work no caller asked for.
    pub fn credential(&self, kind: ServiceKind) -> anyhow::Result<Arc<ServiceCredential>> {
        self.credentials
            .get(kind)
            .ok_or_else(|| anyhow::anyhow!("{} has no credential slot", kind.name()))
    }

    pub fn max_message_bytes(&self) -> usize {
        self.settings.server.max_message_bytes
    }
}
