//! `notify-load`: domain events into notifications, as the ledger's outbox
//! publishes them. `--events` `points.credited` events (spread over
//! `--members` members) are published to NATS JetStream at once; the run
//! is timed until every one is a stored inbox message (counted in
//! notifications' database) and a webhook delivery accepted, its signature
//! verified, by a receiver started here. The half of `bench/notify.sh`
//! that pgbench is measured against. Prints one line:
//! `eps=… seconds=… inbox_s=… webhooks_s=… events=… bad_signatures=…`.

// Shared with track-load, which signs members up with the identity client.
#[allow(dead_code)]
mod sign_in;

use anyhow::Context;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Parser;
use hmac::{Hmac, Mac};
use questline_kit::config::{BusKind, BusSettings};
use questline_proto::events::{PointsCredited, event::Payload};
use questline_proto::notifications::notifications_service_client::NotificationsServiceClient;
use questline_proto::notifications::{GetWebhookSecretRequest, PutWebhookEndpointRequest};
use sea_orm::{ConnectionTrait, Database, Statement};
use sha2::Sha256;
use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tonic::transport::Endpoint;

use sign_in::sign_in;

#[derive(Parser, Debug)]
#[command(name = "notify-load")]
struct Args {
    #[arg(long)]
    nats_url: String,
    /// The engine's stream and subject prefix.
    #[arg(long, default_value = "QUESTLINE")]
    stream: String,
    #[arg(long, default_value = "questline")]
    subject_prefix: String,
    /// Notifications, e.g. http://127.0.0.1:50055
    #[arg(long)]
    notifications: String,
    /// Identity, to exchange the API key for a token.
    #[arg(long)]
    identity: String,
    /// An admin key of the tenant, which owns the receiver's endpoint.
    #[arg(long)]
    api_key: String,
    #[arg(long)]
    tenant_id: String,
    /// Notifications' database, where the inbox messages are counted.
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 10_000)]
    events: usize,
    #[arg(long, default_value_t = 1_000)]
    members: usize,
    /// Names this run's events and endpoint (`<run>-<n>`).
    #[arg(long)]
    run: String,
    /// Gives up after this long.
    #[arg(long, default_value_t = 300)]
    timeout_seconds: u64,
}

/// What the receiver accepted: each delivery once, by its webhook-id.
struct Receiver {
    secret: Vec<u8>,
    accepted: Mutex<HashSet<String>>,
    bad_signatures: Mutex<u64>,
}

impl Receiver {
    /// Standard Webhooks' check: some `v1,` signature is the HMAC-SHA256 of
    /// `id.timestamp.body` under the secret.
    fn verifies(&self, headers: &HeaderMap, body: &[u8]) -> Option<String> {
        let text = |name: &str| headers.get(name)?.to_str().ok();
        let (id, timestamp) = (text("webhook-id")?, text("webhook-timestamp")?);
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).ok()?;
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        let signed = text("webhook-signature")?.split(' ').any(|s| s == expected);
        signed.then(|| id.to_string())
    }
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    match receiver.verifies(&headers, &body) {
        Some(id) => {
            lock(&receiver.accepted).insert(id);
            StatusCode::NO_CONTENT
        }
        None => {
            *lock(&receiver.bad_signatures) += 1;
            StatusCode::UNAUTHORIZED
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let secret = endpoint(&args, &url).await?;
    let receiver = Arc::new(Receiver {
        secret,
        accepted: Mutex::new(HashSet::new()),
        bad_signatures: Mutex::new(0),
    });
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(Arc::clone(&receiver));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let db = Database::connect(args.database_url.as_str()).await?;

    let started = Instant::now();
    publish(&args).await?;
    let deadline = started + Duration::from_secs(args.timeout_seconds);
    let (mut inbox_s, mut webhooks_s) = (None, None);
    while inbox_s.is_none() || webhooks_s.is_none() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "timed out: {} stored, {} delivered",
            stored(&db, &args).await?,
            lock(&receiver.accepted).len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let elapsed = started.elapsed().as_secs_f64();
        if inbox_s.is_none() && stored(&db, &args).await? >= args.events {
            inbox_s = Some(elapsed);
        }
        if webhooks_s.is_none() && lock(&receiver.accepted).len() >= args.events {
            webhooks_s = Some(elapsed);
        }
    }
    let (inbox_s, webhooks_s) = (inbox_s.unwrap_or(0.0), webhooks_s.unwrap_or(0.0));
    let seconds = inbox_s.max(webhooks_s);
    writeln!(
        std::io::stdout().lock(),
        "eps={:.0} seconds={seconds:.2} inbox_s={inbox_s:.2} webhooks_s={webhooks_s:.2} events={} bad_signatures={}",
        args.events as f64 / seconds,
        args.events,
        *lock(&receiver.bad_signatures),
    )?;
    Ok(())
}

/// Points the run's endpoint at the receiver; its secret's bytes.
async fn endpoint(args: &Args, url: &str) -> anyhow::Result<Vec<u8>> {
    let bearer = sign_in(&args.identity, &args.api_key).await?.bearer;
    let channel = Endpoint::from_shared(args.notifications.clone())?
        .connect()
        .await?;
    let mut notifications =
        NotificationsServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", bearer.clone());
            Ok(r)
        });
    let endpoint_id = format!("{}-receiver", args.run);
    notifications
        .put_webhook_endpoint(PutWebhookEndpointRequest {
            tenant_id: args.tenant_id.clone(),
            endpoint_id: endpoint_id.clone(),
            url: url.into(),
            description: "notify-load's receiver".into(),
            event_types: vec!["points.credited".into()],
            enabled: true,
            expected_version: 0,
        })
        .await
        .context("putting the receiver's endpoint")?;
    let secret = notifications
        .get_webhook_secret(GetWebhookSecretRequest {
            tenant_id: args.tenant_id.clone(),
            endpoint_id,
        })
        .await?
        .into_inner()
        .secret;
    let key = secret.strip_prefix("whsec_").context("a whsec_ secret")?;
    Ok(STANDARD.decode(key)?)
}

/// Publishes the run's events, as the ledger's relay would.
async fn publish(args: &Args) -> anyhow::Result<()> {
    let settings = BusSettings {
        kind: BusKind::Nats,
        nats_url: args.nats_url.clone(),
        stream: args.stream.clone(),
        subject_prefix: args.subject_prefix.clone(),
        ..BusSettings::default()
    };
    let bus = questline_kit::bus::connect(&settings, &[]).await?;
    let events: Vec<_> = (0..args.events)
        .map(|n| {
            let member_id = format!("{}-member-{}", args.run, n % args.members.max(1));
            let credited = Payload::PointsCredited(PointsCredited {
                member_id: member_id.clone(),
                currency: "stars".into(),
                amount: 25,
                transfer_id: format!("{}-transfer-{n}", args.run),
                reason: "purchase".into(),
                balance: 25 * (n / args.members.max(1) + 1) as i64,
            });
            let mut event =
                questline_kit::events::new_event(&args.tenant_id, "ledger", &member_id, credited);
            event.event_id = format!("{}-{n}", args.run);
            event
        })
        .collect();
    for chunk in events.chunks(1_000) {
        bus.publish(chunk).await?;
    }
    Ok(())
}

/// How many of the run's events are stored inbox messages.
async fn stored(db: &sea_orm::DatabaseConnection, args: &Args) -> anyhow::Result<usize> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM inbox_messages WHERE tenant_id = $1 AND event_id LIKE $2",
            [
                args.tenant_id.clone().into(),
                format!("{}-%", args.run).into(),
            ],
        ))
        .await?
        .context("a count")?;
    Ok(row.try_get::<i64>("", "n")? as usize)
}
