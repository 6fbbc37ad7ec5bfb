//! The ledger service: a double-entry points ledger with holds, lots and
//! reversals. See `domain` for the invariants it keeps.

pub mod domain;
pub mod events;
pub mod grpc;
pub mod store;

use questline_kit::config::ServiceKind;
use questline_kit::service::Context;
use questline_proto::ledger::ledger_service_server::LedgerServiceServer;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub const KIND: ServiceKind = ServiceKind::Ledger;
/// How often due holds and expired points are swept off untouched wallets.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Opens the ledger's database and serves until the context shuts down.
pub async fn run(ctx: Context, listener: TcpListener) -> anyhow::Result<()> {
    let base = ctx.open::<store::migrations::Migrator>(KIND).await?;
    let members = ctx.follow_members(&base.db, events::CONSUMER).await?;
    let url = ctx.settings.database_url(KIND);
    let store = store::Store::new(base.db.clone(), &url, base.relay)?;
    tokio::spawn(store.clone().sweep_every(SWEEP_EVERY, ctx.shutdown.clone()));
    ctx.probes.add_sampler(Arc::new(store.clone()));
    let api = grpc::LedgerApi::new(store, members, ctx.verifier(&base.db, KIND).await?);
    questline_kit::serve!(ctx, KIND, listener, LedgerServiceServer::new(api))
}
