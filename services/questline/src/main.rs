//! `questline`: run the whole engine on a laptop, or one service in a pod.

use clap::{Parser, Subcommand};
use questline::demo;
use questline::mesh::{Mesh, Part};
use questline_kit::config::{BusKind, Settings};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

// Every request allocates in many small pieces across tokio's worker
// threads, where glibc's allocator spent a fifth of the engine's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "questline", version, about = "Gamification and loyalty engine")]
struct Cli {
    /// Settings file (TOML); environment variables QUESTLINE__SECTION__KEY override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every service and the gateway in one process, SQLite files under the
    /// data directory, the in-process bus, and the demo programme.
    Dev {
        /// Where the SQLite files and demo credentials live.
        #[arg(long, default_value = "./data")]
        data_dir: String,
    },
    /// One part, as a pod runs it: identity, ledger, mechanics, rewards,
    /// notifications or gateway.
    Serve { part: Part },
    /// Brings the databases up to date and exits: every part's (the five
    /// services and the gateway), or the one named. Run before an upgrade when services start with
    /// QUESTLINE__MIGRATE_ON_START=false.
    Migrate { service: Option<Part> },
    /// A webhook receiver for trying endpoints on this machine: accepts
    /// every delivery and prints each as a JSON line, its signature checked
    /// when given the endpoint's secret.
    ReceiveWebhooks {
        #[arg(long, default_value = "127.0.0.1:8099")]
        listen: String,
        /// The endpoint's `whsec_` secret (`GET /v1/webhook-endpoints/{id}/secret`).
        #[arg(
            long,
            env = "QUESTLINE_WEBHOOK_SECRET",
            default_value = "",
            hide_env_values = true
        )]
        secret: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => run(cli.command, settings).await,
        Err(err) => Err(err.context("cannot load settings")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "questline: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, mut settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Dev { data_dir } => {
            settings.data_dir = data_dir;
            let _telemetry = questline_kit::telemetry::init(&settings.telemetry, "questline-dev")?;
            dev(settings).await
        }
        Command::ReceiveWebhooks { listen, secret } => {
            questline::receiver::run(&listen, &secret).await
        }
        Command::Migrate { service } => {
            let _telemetry =
                questline_kit::telemetry::init(&settings.telemetry, "questline-migrate")?;
            let parts = service.map_or(Part::all(), |part| vec![part]);
            questline::migrate::run(&settings, &parts).await
        }
        Command::Serve { part } => {
            if part != Part::Gateway && settings.bus.kind == BusKind::Memory {
                anyhow::bail!(
                    "`serve` runs one service of a mesh, so its events must cross processes: \
                     set QUESTLINE__BUS__KIND=nats (the in-process bus is for `questline dev`)"
                );
            }
            let name = format!("questline-{}", part.name());
            let _telemetry = questline_kit::telemetry::init(&settings.telemetry, &name)?;
            let mesh = Mesh::start(settings, &[part]).await?;
            mesh.run_until(questline_kit::server::shutdown_signal())
                .await
        }
    }
}

async fn dev(mut settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)?;
    if settings.auth.operator_key.is_empty() {
        settings.auth.operator_key = operator_key(Path::new(&settings.data_dir))?;
    }
    // On a developer's machine, webhook receivers listen on loopback.
    if settings.webhooks.allow_networks.is_empty() {
        settings.webhooks.allow_networks = "127.0.0.0/8,::1/128".into();
    }
    let mut mesh = Mesh::start(settings, &Part::all()).await?;
    mesh.ready(Duration::from_secs(60)).await?;
    questline::enrol::enrol(&mesh).await?;
    let credentials = demo::ensure_loaded(&mesh.settings).await?;
    // The welcome text is for a person; a closed stdout (`questline dev | head`)
    // must not stop the engine.
    if let Err(err) = welcome(&mesh, &credentials) {
        tracing::warn!(%err, "could not print the welcome text");
    }
    mesh.run_until(questline_kit::server::shutdown_signal())
        .await
}

/// The dev operator key: made once, kept in the data directory (owner-only).
fn operator_key(data_dir: &Path) -> anyhow::Result<String> {
    let file = data_dir.join("operator.key");
    if let Ok(key) = std::fs::read_to_string(&file) {
        return Ok(key.trim().to_string());
    }
    let key = format!("qlop_{}", hex::encode(questline_kit::random_bytes::<24>()?));
    questline::write_private(&file, &key)?;
    Ok(key)
}

fn welcome(mesh: &Mesh, demo: &demo::DemoCredentials) -> anyhow::Result<()> {
    let gateway = mesh
        .addrs
        .get(&Part::Gateway)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Questline dev is up. Services (gRPC, with reflection and grpc.health.v1):"
    )?;
    for (part, addr) in &mesh.addrs {
        write!(out, "  {:<14} {addr:<16}", part.name())?;
        match mesh.admin_addrs.get(part) {
            Some(admin) => writeln!(out, "  metrics http://{admin}/metrics")?,
            None => writeln!(out)?,
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "Demo programme \"Snapping Saturday\" (tenant {}):",
        demo.tenant_id
    )?;
    writeln!(out, "  API key:  {}", demo.api_key)?;
    writeln!(
        out,
        "  member:   {} (external id {})",
        demo.member_id, demo.member_external_id
    )?;
    writeln!(out)?;
    writeln!(out, "Try it:")?;
    writeln!(
        out,
        "  export QL_KEY={} QL_MEMBER={}",
        demo.api_key, demo.member_id
    )?;
    writeln!(
        out,
        "  curl -s -X POST http://{gateway}/v1/events -H \"X-Api-Key: $QL_KEY\" -H 'content-type: application/json' \\\n    -d '{{\"event_id\":\"first-coffee\",\"member_id\":\"'$QL_MEMBER'\",\"type\":\"purchase\",\"attributes\":{{\"amount\":250}}}}'"
    )?;
    writeln!(
        out,
        "  curl -s http://{gateway}/v1/members/$QL_MEMBER/balances -H \"X-Api-Key: $QL_KEY\""
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Stop with Ctrl-C; data stays in {}.",
        mesh.settings.data_dir
    )?;
    out.flush()?;
    Ok(())
}
