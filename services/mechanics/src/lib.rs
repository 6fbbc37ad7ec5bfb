//! The rules engine: rules over customer events, awarding points through the ledger.

pub mod domain;
pub mod events;
pub mod flow;
pub mod grpc;
pub mod store;

use questline_kit::config::ServiceKind;
use questline_kit::members::MemberDirectory;
use questline_kit::service::Context;
use questline_proto::mechanics::mechanics_service_server::MechanicsServiceServer;
use std::sync::Arc;
use tokio::net::TcpListener;

pub const KIND: ServiceKind = ServiceKind::Mechanics;

/// Opens the rules engine's database, follows member events, and serves.
pub async fn run(ctx: Context, listener: TcpListener) -> anyhow::Result<()> {
    questline_kit::meter::start_at_zero(
        questline_kit::meter::EVENTS_TRACKED,
        &[],
        "outcome",
        &["awarded", "no_award"],
    );
    questline_kit::meter::start_at_zero(
        questline_kit::meter::EVENTS_RECOVERED,
        &[],
        "outcome",
        &["finished", "failed"],
    );
    let base = ctx.open::<store::migrations::Migrator>(KIND).await?;
    let url = ctx.settings.database_url(KIND);
    let store = store::Store::new(base.db.clone(), &url, base.relay)?;
    let members = MemberDirectory::new(
        base.db.clone(),
        ctx.channel(ServiceKind::Identity)?,
        events::CONSUMER,
    );
    let consumer = events::Members {
        directory: members.clone(),
        store: store.clone(),
    };
    ctx.bus
        .subscribe(events::CONSUMER, Arc::new(consumer), ctx.shutdown.clone())
        .await?;
    let ledger = flow::upstream::Ledger::new(ctx.channel(ServiceKind::Ledger)?);
    let tracker = Arc::new(flow::Tracker::new(
        store.clone(),
        members,
        Arc::new(ledger),
    )?);
    let recovery =
        flow::recovery::run(tracker.clone(), ctx.credential(KIND)?, ctx.shutdown.clone());
    tokio::spawn(recovery);
    let sweep = flow::triggers::run(tracker.clone(), ctx.credential(KIND)?, ctx.shutdown.clone());
    tokio::spawn(sweep);
    tokio::spawn(flow::retention::run(store.clone(), ctx.shutdown.clone()));
    let zones = flow::upstream::TenantZones::new(
        ctx.channel(ServiceKind::Identity)?,
        ctx.credential(KIND)?,
    );
    let auth = ctx.verifier(&base.db, KIND).await?;
    let api = grpc::MechanicsApi::new(store, tracker, zones, auth);
    questline_kit::serve!(ctx, KIND, listener, MechanicsServiceServer::new(api))
}
