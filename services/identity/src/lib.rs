//! The identity service: tenants, API clients and their keys, signed tokens
//! and the key set that verifies them, members.

pub mod domain;
pub mod events;
pub mod grpc;
pub mod store;

use questline_kit::config::ServiceKind;
use questline_kit::service::Context;
use questline_proto::identity::identity_service_server::IdentityServiceServer;
use tokio::net::TcpListener;

pub const KIND: ServiceKind = ServiceKind::Identity;

/// Opens identity's database, makes its signing key on first start, and serves.
pub async fn run(ctx: Context, listener: TcpListener) -> anyhow::Result<()> {
    let base = ctx.open::<store::migrations::Migrator>(KIND).await?;
    let store = store::Store::new(base.db, base.relay);
    let seed = grpc::random_seed()?;
    let signing = store.signing_key(|| seed).await?;
    let auth = &ctx.settings.auth;
    let api = grpc::IdentityApi::new(store, signing, &auth.operator_key, auth.token_ttl_seconds);
    questline_kit::serve!(ctx, KIND, listener, IdentityServiceServer::new(api))
}
