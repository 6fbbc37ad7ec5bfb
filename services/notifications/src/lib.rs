//! The notifications service: turns domain events into inbox messages,
//! emails, push and SMS, webhooks too, and serves each member's inbox. See `domain` for the rules it keeps.

// Tests may unwrap; the lib target is still linted without this.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod domain;
pub mod events;
pub mod flow;
pub mod grpc;
pub mod store;

use questline_kit::config::ServiceKind;
use questline_kit::members::MemberDirectory;
use questline_kit::service::Context;
use questline_proto::notifications::notifications_service_server::NotificationsServiceServer;
use std::sync::Arc;
use tokio::net::TcpListener;

pub const KIND: ServiceKind = ServiceKind::Notifications;

/// Opens the database, starts consuming events, and serves until the context shuts down.
pub async fn run(ctx: Context, listener: TcpListener) -> anyhow::Result<()> {
    let inbox = [("channel", "inbox".to_string())];
    questline_kit::meter::start_at_zero(
        questline_kit::meter::NOTIFICATIONS,
        &inbox,
        "outcome",
        &["sent", "failed", "suppressed", "capped"],
    );
    for channel in ["email", "push", "sms"] {
        questline_kit::meter::start_at_zero(
            questline_kit::meter::NOTIFICATIONS,
            &[("channel", channel.to_string())],
            "outcome",
            &["sent", "failed", "retried", "suppressed", "capped"],
        );
    }
    let webhook = [("channel", "webhook".to_string())];
    questline_kit::meter::start_at_zero(
        questline_kit::meter::NOTIFICATIONS,
        &webhook,
        "outcome",
        &["sent", "failed", "retried"],
    );
    // Its outbox carries the audit of admin changes, what became of each
    // message, and members' changed preferences.
    let base = ctx.open::<store::migrations::Migrator>(KIND).await?;
    let db = base.db.clone();
    let store = store::Store::new(base.db, base.relay);
    let members = MemberDirectory::new(
        db.clone(),
        ctx.channel(ServiceKind::Identity)?,
        events::CONSUMER,
    );
    let webhooks = flow::webhooks::Sender::new(store.clone(), &ctx.settings.webhooks)?;
    tokio::spawn(Arc::clone(&webhooks).run(ctx.shutdown.clone()));
    let feed = flow::inbox_feed::InboxFeed::new(store.clone());
    tokio::spawn(Arc::clone(&feed).run(ctx.shutdown.clone()));
    let identity =
        flow::upstream::Identity::new(ctx.channel(ServiceKind::Identity)?, ctx.credential(KIND)?);
    let dispatcher = flow::dispatcher::Dispatcher::new(
        store.clone(),
        &ctx.settings.messaging,
        Arc::new(identity),
    )?;
    tokio::spawn(Arc::clone(&dispatcher).run(ctx.shutdown.clone()));
    let channels = dispatcher.channels();
    let outlets = events::Outlets {
        webhooks: Arc::clone(&webhooks),
        feed: Arc::clone(&feed),
        dispatcher,
    };
    let notifier = events::Notifier::new(store.clone(), members.clone(), outlets);
    ctx.bus
        .subscribe(events::CONSUMER, Arc::new(notifier), ctx.shutdown.clone())
        .await?;
    let verifier = ctx.verifier(&db, KIND).await?;
    let api = grpc::NotificationsApi::new(store, members, verifier, webhooks, channels, feed);
    questline_kit::serve!(ctx, KIND, listener, NotificationsServiceServer::new(api))
}
