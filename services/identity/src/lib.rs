//! The identity service: tenants, API clients and their keys, signed tokens
//! and the key set that verifies them, members.

pub mod domain;
pub mod events;
pub mod grpc;
pub mod store;

use questline_kit::config::ServiceKind;
use questline_kit::service::Context;
use questline_proto::identity::identity_service_server::IdentityServiceServer;
use std::sync::Arc;
use tokio::net::TcpListener;

pub const KIND: ServiceKind = ServiceKind::Identity;

/// Opens identity's database, makes its signing key on first start, and serves.
pub async fn run(ctx: Context, listener: TcpListener) -> anyhow::Result<()> {
    let base = ctx.open::<store::migrations::Migrator>(KIND).await?;
    let store = store::Store::new(base.db.clone(), base.relay);
    store.signing_key(questline_kit::random_bytes).await?;
    let trail = Arc::new(events::AuditTrail(store.clone()));
    ctx.bus
        .subscribe(events::CONSUMER, trail, ctx.shutdown.clone())
        .await?;
    let keys = Arc::new(grpc::LocalKeys(store.clone()));
    let verifier = ctx.guarded_verifier(&base.db, KIND, keys).await?;
    let auth = &ctx.settings.auth;
    let peers = grpc::Peers {
        ledger: ctx.channel(ServiceKind::Ledger)?,
        mechanics: ctx.channel(ServiceKind::Mechanics)?,
        rewards: ctx.channel(ServiceKind::Rewards)?,
        notifications: ctx.channel(ServiceKind::Notifications)?,
    };
    let ttl = auth.token_ttl_seconds;
    let api = grpc::IdentityApi::new(store, verifier, &auth.operator_key, ttl, peers);
    questline_kit::serve!(ctx, KIND, listener, IdentityServiceServer::new(api))
}
