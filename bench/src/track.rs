//! `track-load`: `Track` over direct gRPC, as a platform team's backend
//! calls it: `--clients` connections, each a closed loop, for `--seconds`.
//! The gRPC half of `bench/gateway.sh`; wrk drives the REST half with the
//! same event. Prints one line: `tps=… p50_ms=… p99_ms=… failed=…`.

// Shared with ledger-load, which reads every field of its summary.
#[allow(dead_code)]
mod stats;

use anyhow::Context;
use clap::Parser;
use questline_proto::identity::IssueTokenRequest;
use questline_proto::identity::identity_service_client::IdentityServiceClient;
use questline_proto::mechanics::TrackRequest;
use questline_proto::mechanics::mechanics_service_client::MechanicsServiceClient;
use std::io::Write;
use std::time::{Duration, Instant};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use stats::Tally;

#[derive(Parser, Debug)]
#[command(name = "track-load")]
struct Args {
    /// Mechanics, e.g. http://127.0.0.1:50053
    #[arg(long)]
    mechanics: String,
    /// Identity, to exchange the API key for a token.
    #[arg(long)]
    identity: String,
    #[arg(long)]
    api_key: String,
    #[arg(long)]
    member_id: String,
    /// The same event every time: the replay path, as the REST half sends it.
    #[arg(long, default_value = "bench-replay")]
    event_id: String,
    /// A new event every time (`<event id>-<client>-<n>`): the first-time
    /// path, rules evaluated and a ledger credit made per event.
    #[arg(long)]
    fresh: bool,
    /// The purchase's amount, as the REST half's body gives it.
    #[arg(long, default_value_t = 100.0)]
    amount: f64,
    #[arg(long, default_value_t = 32)]
    clients: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let identity = Endpoint::from_shared(args.identity.clone())?
        .connect()
        .await?;
    let issued = IdentityServiceClient::new(identity)
        .issue_token(IssueTokenRequest {
            api_key: args.api_key.clone(),
            tenant_id: String::new(),
        })
        .await
        .context("exchanging the API key")?
        .into_inner();
    let bearer: MetadataValue<_> = format!("Bearer {}", issued.access_token).parse()?;
    let request = TrackRequest {
        tenant_id: issued.tenant_id,
        event_id: args.event_id.clone(),
        member_id: args.member_id.clone(),
        event_type: "purchase".into(),
        occur_time: None,
        external_id: String::new(),
        attributes: Some(amount(args.amount)),
    };
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::new();
    for i in 0..args.clients {
        let channel = Endpoint::from_shared(args.mechanics.clone())?
            .connect()
            .await?;
        let (request, bearer) = (request.clone(), bearer.clone());
        let fresh = args.fresh.then(|| format!("{}-{i}", args.event_id));
        tasks.push(tokio::spawn(client(
            channel, request, bearer, deadline, fresh,
        )));
    }
    let started = Instant::now();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await?);
    }
    let summary = tally.summary(started.elapsed());
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "tps={:.0} p50_ms={:.2} p99_ms={:.2} failed={}",
        summary.tps, summary.p50_ms, summary.p99_ms, summary.failed
    )?;
    let mut err = std::io::stderr().lock();
    for why in summary.failures {
        writeln!(err, "failure: {why}")?;
    }
    Ok(())
}

/// `{"amount": amount}`, as the REST body's attributes arrive.
fn amount(amount: f64) -> prost_types::Struct {
    let value = prost_types::Value {
        kind: Some(prost_types::value::Kind::NumberValue(amount)),
    };
    prost_types::Struct {
        fields: [("amount".to_string(), value)].into(),
    }
}

/// One connection, one request at a time, until `deadline`; with `fresh`,
/// each request a new event whose id starts so.
async fn client(
    channel: Channel,
    request: TrackRequest,
    bearer: MetadataValue<tonic::metadata::Ascii>,
    deadline: Instant,
    fresh: Option<String>,
) -> Tally {
    let mut mechanics = MechanicsServiceClient::new(channel);
    let mut tally = Tally::default();
    let mut sent = 0u64;
    while Instant::now() < deadline {
        let mut event = request.clone();
        if let Some(prefix) = &fresh {
            event.event_id = format!("{prefix}-{sent}");
            sent += 1;
        }
        let mut call = tonic::Request::new(event);
        call.metadata_mut().insert("authorization", bearer.clone());
        let started = Instant::now();
        match mechanics.track(call).await {
            Ok(_) => tally.completed(started.elapsed(), false),
            Err(status) => tally.failed(status.to_string()),
        }
    }
    tally
}
