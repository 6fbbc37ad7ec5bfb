//! The rewards service: the catalogue, voucher pools, and redemption as a
//! flow over the ledger (`flow`). See `domain` for the invariants it keeps.

pub mod domain;
pub mod events;
pub mod flow;
pub mod grpc;
pub mod store;

use questline_kit::config::ServiceKind;
use questline_kit::service::Context;
use questline_proto::rewards::rewards_service_server::RewardsServiceServer;
use std::sync::Arc;
use tokio::net::TcpListener;

pub const KIND: ServiceKind = ServiceKind::Rewards;
/// How often abandoned redemptions are looked for.
const SETTLE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Opens the rewards database, follows member events, and serves until the
/// context shuts down.
pub async fn run(ctx: Context, listener: TcpListener) -> anyhow::Result<()> {
    questline_kit::meter::start_at_zero(
        questline_kit::meter::REDEMPTIONS,
        &[],
        "outcome",
        &["redeemed", "failed"],
    );
    let base = ctx.open::<store::migrations::Migrator>(KIND).await?;
    let members = ctx.follow_members(&base.db, events::CONSUMER).await?;
    let store = store::Store::new(base.db.clone(), base.relay);
    let ledger = flow::upstream::Ledger::new(ctx.channel(ServiceKind::Ledger)?);
    let redemptions = Arc::new(flow::Redemptions::new(
        store.clone(),
        Arc::new(ledger),
        members,
    ));
    tokio::spawn(
        redemptions
            .clone()
            .keep_settling(SETTLE_EVERY, ctx.shutdown.clone()),
    );
    let api = grpc::RewardsApi::new(store, redemptions, ctx.verifier(&base.db, KIND).await?);
    questline_kit::serve!(ctx, KIND, listener, RewardsServiceServer::new(api))
}
