//! `ledger-load`: drives the ledger's storage engine in-process, through the
//! same group-commit path the gRPC handlers use, against a database URL,
//! and reports throughput and latency. See bench/README.md.

mod drive;
mod stats;
mod workload;

use anyhow::{Context, bail};
use clap::Parser;
use questline_kit::audit::Change;
use questline_kit::bus::MemoryBus;
use questline_kit::outbox::Relay;
use questline_ledger::domain::currency::CurrencySpec;
use questline_ledger::domain::expiry::ExpiryPolicy;
use questline_ledger::store::{Store, migrations::Migrator};
use sea_orm::ConnectionTrait;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use drive::Target;
use stats::Summary;

/// Load for the ledger's storage engine: closed loop by default, open loop with --rate.
#[derive(Parser, Debug)]
#[command(name = "ledger-load")]
struct Args {
    /// sqlite://path?mode=rwc or postgres://user@host/db
    #[arg(long)]
    database_url: String,
    /// Member wallets (w0, w1, ...), each seeded with a credit first.
    #[arg(long, default_value_t = 1000)]
    wallets: usize,
    /// Closed loop: tasks issuing back to back (also the seeding concurrency).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// How long the measured part runs.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Open loop: requests started per second, on schedule.
    #[arg(long)]
    rate: Option<f64>,
    /// Seed of the request mix.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also run the outbox relay, as the service does (publishing to an
    /// in-memory bus with no consumers).
    #[arg(long)]
    relay: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if args.wallets < 2 {
        bail!("--wallets must be at least 2");
    }
    if args.clients == 0 || !positive(args.seconds) {
        bail!("--clients and --seconds must be positive");
    }
    if args.rate.is_some_and(|r| !positive(r)) {
        bail!("--rate must be positive");
    }
    let backend = backend(&args.database_url)?;
    let db = questline_kit::db::connect::<Migrator>(&args.database_url)
        .await
        .context("opening and migrating the ledger database")?;
    let relay = Relay::new(db.clone(), Arc::new(MemoryBus::expecting(&[])), "ledger");
    let shutdown = CancellationToken::new();
    if args.relay {
        tokio::spawn(relay.clone().run(shutdown.clone()));
    }
    let statistics = db.clone();
    let store = Store::new(db, &args.database_url, relay)?;
    let tenant = format!(
        "bench-{}-{}",
        std::process::id(),
        questline_kit::time::now_ms()
    );
    let spec = CurrencySpec::validate(
        &tenant,
        workload::CURRENCY,
        "Points",
        ExpiryPolicy::DaysAfterEarn(365),
        "",
        0,
    )?;
    let change = Change::new(&tenant, "bench", "bench".into(), "bench".into());
    store.create_currency(&tenant, &spec, &change).await?;
    let target = Target {
        store,
        tenant: tenant.into(),
        wallets: args.wallets,
    };
    drive::seed(&target, args.clients).await?;
    if backend == "postgres" {
        // As `pgbench -i` does for its tables: planner statistics for the
        // seeded tables, which a server with autovacuum would gather itself.
        statistics.execute_unprepared("ANALYZE").await?;
    }

    let duration = Duration::from_secs_f64(args.seconds);
    let report = match args.rate {
        None => {
            let s = drive::closed(&target, args.clients, duration, args.seed).await?;
            Report {
                mode: "closed",
                clients: args.clients,
                rate: None,
                summary: s,
            }
        }
        Some(rate) => {
            let (s, peak) = drive::open(&target, rate, duration, args.seed).await?;
            Report {
                mode: "open",
                clients: peak,
                rate: Some(rate),
                summary: s,
            }
        }
    };
    shutdown.cancel();
    report.print(backend, &args)
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn backend(url: &str) -> anyhow::Result<&'static str> {
    if url.starts_with("sqlite:") {
        Ok("sqlite")
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok("postgres")
    } else {
        bail!("--database-url must start with sqlite: or postgres:")
    }
}

struct Report {
    mode: &'static str,
    /// Closed loop: the client tasks; open loop: the most requests in flight at once.
    clients: usize,
    rate: Option<f64>,
    summary: Summary,
}

impl Report {
    fn print(&self, backend: &str, args: &Args) -> anyhow::Result<()> {
        let s = &self.summary;
        let mut out = std::io::stdout().lock();
        match self.rate {
            None => writeln!(
                out,
                "ledger-load: {backend}, {} wallets, closed loop, {} clients",
                args.wallets, self.clients
            )?,
            Some(rate) => writeln!(
                out,
                "ledger-load: {backend}, {} wallets, open loop at {rate:.1}/s, at most {} in flight",
                args.wallets, self.clients
            )?,
        }
        writeln!(
            out,
            "  {} completed ({} refused for insufficient funds), {} failed, in {:.2} s",
            s.completed, s.refused, s.failed, s.elapsed_s
        )?;
        writeln!(
            out,
            "  transfers/s {:.1}   p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
            s.tps, s.p50_ms, s.p99_ms, s.max_ms
        )?;
        for f in &s.failures {
            writeln!(out, "  failure: {f}")?;
        }
        let rate = self
            .rate
            .map_or_else(|| "null".to_string(), |r| format!("{r:.1}"));
        writeln!(
            out,
            "{{\"mode\":\"{}\",\"backend\":\"{backend}\",\"clients\":{},\"wallets\":{},\"target_rate\":{rate},\"seconds\":{:.3},\"completed\":{},\"tps\":{:.1},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},\"refused\":{},\"failed\":{}}}",
            self.mode,
            self.clients,
            args.wallets,
            s.elapsed_s,
            s.completed,
            s.tps,
            s.p50_ms,
            s.p99_ms,
            s.max_ms,
            s.refused,
            s.failed
        )?;
        Ok(())
    }
}
