//! `track-load`: `Track` over direct gRPC, as a platform team's backend
//! calls it: `--clients` connections for `--seconds`, each a closed loop, or
//! with `--rate` an open loop (requests started on a fixed schedule, each
//! timed from its scheduled start). The gRPC half of `bench/gateway.sh`
//! (wrk drives the REST half with the same event) and the engine half of
//! `bench/track.sh`. Prints one line: `tps=… p50_ms=… p99_ms=… failed=…`
//! (and with `--timeline`, one per second of an open loop on stderr).

// Shared with ledger-load, which reads every field of its summary.
mod sign_in;
#[allow(dead_code)]
mod stats;

use anyhow::Context;
use clap::Parser;
use questline_proto::identity::UpsertMemberRequest;
use questline_proto::mechanics::TrackRequest;
use questline_proto::mechanics::mechanics_service_client::MechanicsServiceClient;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use sign_in::{SignedIn, sign_in};
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
    /// The member of every event, unless `--members` is given.
    #[arg(long, default_value = "")]
    member_id: String,
    /// Spread the events over this many members (external ids `load-<n>`,
    /// signed up first), as a till's traffic is.
    #[arg(long, default_value_t = 0)]
    members: usize,
    /// The same event every time: the replay path, as the REST half sends it.
    #[arg(long, default_value = "bench-replay")]
    event_id: String,
    /// A new event every time (`<event id>-<n>`): the first-time path, rules
    /// evaluated and a ledger credit made per event.
    #[arg(long)]
    fresh: bool,
    /// The purchase's amount, as the REST half's body gives it.
    #[arg(long, default_value_t = 100.0)]
    amount: f64,
    #[arg(long, default_value_t = 32)]
    clients: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Events started per second (open loop) instead of closed-loop clients.
    #[arg(long)]
    rate: Option<f64>,
    /// With `--rate`: also print to stderr, per second of the run, the
    /// events started in it with their p50, p99 and max (where a tail
    /// comes from: a pause, or every second alike).
    #[arg(long)]
    timeline: bool,
}

/// What every request is made of: the connections, the credential, the
/// members, and the event numbering.
struct Load {
    channels: Vec<Channel>,
    bearer: MetadataValue<Ascii>,
    request: TrackRequest,
    members: Vec<String>,
    fresh: bool,
    sent: AtomicU64,
}

impl Load {
    /// The next event: a new id and the next member when fresh.
    fn next(&self) -> tonic::Request<TrackRequest> {
        let mut event = self.request.clone();
        if self.fresh {
            let n = self.sent.fetch_add(1, Ordering::Relaxed);
            event.event_id = format!("{}-{n}", self.request.event_id);
            event.member_id = self.members[n as usize % self.members.len()].clone();
        }
        let mut call = tonic::Request::new(event);
        call.metadata_mut()
            .insert("authorization", self.bearer.clone());
        call
    }

    async fn send(&self, connection: usize) -> Result<(), String> {
        let channel = self.channels[connection % self.channels.len()].clone();
        let call = self.next();
        let answer = MechanicsServiceClient::new(channel).track(call).await;
        answer.map(|_| ()).map_err(|status| status.to_string())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let load = Arc::new(prepare(&args).await?);
    let duration = Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let tally = match args.rate {
        Some(rate) => open(load, rate, duration, args.timeline).await?,
        None => closed(load, args.clients, duration).await?,
    };
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

/// Exchanges the key, signs the members up, opens the connections.
async fn prepare(args: &Args) -> anyhow::Result<Load> {
    let SignedIn {
        mut identity,
        tenant_id,
        bearer,
    } = sign_in(&args.identity, &args.api_key).await?;
    let mut members = vec![args.member_id.clone()];
    if args.members > 0 {
        members.clear();
        for n in 0..args.members {
            let mut call = tonic::Request::new(UpsertMemberRequest {
                tenant_id: tenant_id.clone(),
                external_id: format!("load-{n}"),
                profile: None,
            });
            call.metadata_mut().insert("authorization", bearer.clone());
            let member = identity.upsert_member(call).await?.into_inner().member;
            members.push(member.context("no member answered")?.member_id);
        }
    }
    let mut channels = Vec::new();
    for _ in 0..args.clients.max(1) {
        let endpoint = Endpoint::from_shared(args.mechanics.clone())?;
        channels.push(endpoint.connect().await?);
    }
    Ok(Load {
        channels,
        bearer,
        request: TrackRequest {
            tenant_id,
            event_id: args.event_id.clone(),
            member_id: members[0].clone(),
            event_type: "purchase".into(),
            occur_time: None,
            external_id: String::new(),
            attributes: Some(amount(args.amount)),
        },
        members,
        fresh: args.fresh,
        sent: AtomicU64::new(0),
    })
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

/// `clients` connections, one request at a time each, for `duration`.
async fn closed(load: Arc<Load>, clients: usize, duration: Duration) -> anyhow::Result<Tally> {
    let deadline = Instant::now() + duration;
    let mut tasks = JoinSet::new();
    for connection in 0..clients {
        let load = load.clone();
        tasks.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let started = Instant::now();
                match load.send(connection).await {
                    Ok(()) => tally.completed(started.elapsed(), false),
                    Err(why) => tally.failed(why),
                }
            }
            tally
        });
    }
    let mut tally = Tally::default();
    while let Some(done) = tasks.join_next().await {
        tally.merge(done.context("a client panicked")?);
    }
    Ok(tally)
}

/// Requests started `rate` times a second for `duration`, over the
/// connections in turn, each timed from its scheduled start.
async fn open(
    load: Arc<Load>,
    rate: f64,
    duration: Duration,
    timeline: bool,
) -> anyhow::Result<Tally> {
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let mut tally = Tally::default();
    // Per second of the run, the latencies (µs) of the events started in it.
    let mut seconds: Vec<Vec<u64>> = Vec::new();
    type Done = (Result<(), String>, Instant, Duration);
    let mut record = |done: Result<Done, _>| -> anyhow::Result<()> {
        let (outcome, at, latency) = done.context("a request panicked")?;
        match outcome {
            Ok(()) => tally.completed(latency, false),
            Err(why) => tally.failed(why),
        }
        if timeline {
            let second = (at - start).as_secs() as usize;
            if seconds.len() <= second {
                seconds.resize_with(second + 1, Vec::new);
            }
            seconds[second].push(latency.as_micros() as u64);
        }
        Ok(())
    };
    for i in 0..total {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(at).await;
        while let Some(done) = tasks.try_join_next() {
            record(done)?;
        }
        let load = load.clone();
        tasks.spawn(async move {
            let outcome = load.send(i as usize).await;
            (outcome, at, at.elapsed())
        });
    }
    while let Some(done) = tasks.join_next().await {
        record(done)?;
    }
    print_timeline(&mut seconds)?;
    Ok(tally)
}

/// One line per second: `second=… events=… p50_ms=… p99_ms=… max_ms=…`.
fn print_timeline(seconds: &mut [Vec<u64>]) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    for (second, latencies) in seconds.iter_mut().enumerate() {
        latencies.sort_unstable();
        let at = |p| stats::percentile(latencies, p);
        writeln!(
            err,
            "second={second} events={} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
            latencies.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        )?;
    }
    Ok(())
}
