//! Runs some or all parts of Questline in one process. Each service gets its
//! own listener and database and talks to the others over real gRPC, exactly
//! as it would in separate pods.

use questline_kit::admin::{self, Probes};
use questline_kit::bus::EventBus;
use questline_kit::config::{ServiceKind, Settings};
use questline_kit::credential::Credentials;
use questline_kit::service::Context;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// One runnable part: a gRPC service or the REST gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Service(ServiceKind),
    Gateway,
}

impl Part {
    pub fn all() -> Vec<Part> {
        let mut parts: Vec<Part> = ServiceKind::ALL.into_iter().map(Part::Service).collect();
        parts.push(Part::Gateway);
        parts
    }

    pub fn name(self) -> &'static str {
        match self {
            Part::Service(kind) => kind.name(),
            Part::Gateway => "gateway",
        }
    }

    pub fn kind(self) -> Option<ServiceKind> {
        match self {
            Part::Service(kind) => Some(kind),
            Part::Gateway => None,
        }
    }

    fn listen(self, settings: &Settings) -> &str {
        match self {
            Part::Service(kind) => &settings.service(kind).listen,
            Part::Gateway => &settings.gateway.listen,
        }
    }

    fn admin_listen(self, settings: &Settings) -> Option<&str> {
        let listen = match self {
            Part::Service(kind) => &settings.service(kind).admin_listen,
            Part::Gateway => &settings.gateway.admin_listen,
        };
        (!listen.is_empty()).then_some(listen.as_str())
    }

    /// Every durable consumer the part runs: its own, and its access feed.
    fn consumers(self) -> Vec<&'static str> {
        let Part::Service(kind) = self else {
            return Vec::new();
        };
        let own = match kind {
            ServiceKind::Identity => Some(questline_identity::events::CONSUMER),
            ServiceKind::Ledger => Some(questline_ledger::events::CONSUMER),
            ServiceKind::Mechanics => Some(questline_mechanics::events::CONSUMER),
            ServiceKind::Rewards => Some(questline_rewards::events::CONSUMER),
            ServiceKind::Notifications => Some(questline_notifications::events::CONSUMER),
        };
        own.into_iter()
            .chain([questline_kit::access::consumer_of(kind)])
            .collect()
    }
}

impl std::str::FromStr for Part {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "gateway" {
            Ok(Part::Gateway)
        } else {
            s.parse().map(Part::Service)
        }
    }
}

/// Running parts, stopped together.
pub struct Mesh {
    pub settings: Arc<Settings>,
    pub addrs: BTreeMap<Part, SocketAddr>,
    /// Each part's admin port (`/metrics`, `/livez`, `/readyz`), where set.
    pub admin_addrs: BTreeMap<Part, SocketAddr>,
    pub bus: Arc<dyn EventBus>,
    /// The running services' own credentials (see `enrol`).
    pub credentials: Credentials,
    shutdown: CancellationToken,
    tasks: JoinSet<(Part, anyhow::Result<()>)>,
}

impl Mesh {
    /// Binds every part's listener first (so a `:0` port becomes a real one
    /// that the others can call), then starts them.
    pub async fn start(mut settings: Settings, parts: &[Part]) -> anyhow::Result<Mesh> {
        questline_kit::meter::install()?;
        let mut listeners = Vec::new();
        let mut addrs = BTreeMap::new();
        let mut admin = Vec::new();
        for part in parts {
            let listener = bind(*part, part.listen(&settings)).await?;
            if let Some(listen) = part.admin_listen(&settings) {
                admin.push((*part, bind(*part, listen).await?));
            }
            let addr = listener.local_addr()?;
            if let Part::Service(kind) = part {
                let svc = settings.service_mut(*kind);
                svc.listen = addr.to_string();
                if svc.endpoint.is_empty() {
                    svc.endpoint = format!("http://{addr}");
                }
            }
            addrs.insert(*part, addr);
            listeners.push((*part, listener));
        }
        let consumers: Vec<&str> = parts.iter().flat_map(|p| p.consumers()).collect();
        let services: Vec<ServiceKind> = parts.iter().filter_map(|p| p.kind()).collect();
        let bus = questline_kit::bus::connect(&settings.bus, &consumers).await?;
        let ctx = Context {
            credentials: Credentials::of(&settings, &services)?,
            settings: Arc::new(settings),
            bus: bus.clone(),
            shutdown: CancellationToken::new(),
            probes: Arc::new(Probes::new(bus.clone(), &consumers, &services)),
        };
        let mut tasks = JoinSet::new();
        let mut admin_addrs = BTreeMap::new();
        for (part, listener) in admin {
            admin_addrs.insert(part, listener.local_addr()?);
            let (probes, stop) = (ctx.probes.clone(), ctx.shutdown.clone());
            let kind = part.kind();
            tasks.spawn(async move { (part, admin::serve(listener, kind, probes, stop).await) });
        }
        for (part, listener) in listeners {
            let ctx = ctx.clone();
            tasks.spawn(async move { (part, run_part(part, ctx, listener).await) });
        }
        Ok(Mesh {
            settings: ctx.settings,
            addrs,
            admin_addrs,
            bus,
            credentials: ctx.credentials,
            shutdown: ctx.shutdown,
            tasks,
        })
    }

    pub fn endpoint(&self, kind: ServiceKind) -> String {
        self.settings.endpoint(kind)
    }

    /// Waits until every gRPC part answers SERVING on grpc.health.v1.
    pub async fn ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        let kinds: Vec<ServiceKind> = self.addrs.keys().filter_map(|p| p.kind()).collect();
        for kind in kinds {
            while !serving(&self.endpoint(kind), kind).await {
                if let Some(joined) = self.tasks.try_join_next() {
                    let (part, result) = joined?;
                    anyhow::bail!(
                        "{} stopped during start-up: {:?}",
                        part.name(),
                        result.err()
                    );
                }
                if tokio::time::Instant::now() > deadline {
                    anyhow::bail!("{} is not SERVING after {within:?}", kind.name());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// Runs until `stop` resolves or a part fails, then stops everything.
    pub async fn run_until(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let failure = tokio::select! {
            _ = stop => None,
            Some(joined) = self.tasks.join_next() => Some(joined),
        };
        let outcome = match failure {
            Some(Ok((part, Err(err)))) => Err(err.context(format!("{} failed", part.name()))),
            Some(Ok((part, Ok(())))) => {
                Err(anyhow::anyhow!("{} stopped unexpectedly", part.name()))
            }
            Some(Err(err)) => Err(anyhow::anyhow!("a part panicked: {err}")),
            None => Ok(()),
        };
        self.stop().await;
        outcome
    }

    /// Stops every part: in-flight calls finish, relays and consumers end.
    /// Gives up waiting after a few seconds so a stuck client cannot hold a pod.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let all_done = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(4), all_done)
            .await
            .is_err()
        {
            tracing::warn!("parts still busy after 4s; stopping anyway");
            self.tasks.abort_all();
        }
    }
}

async fn bind(part: Part, listen: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .map_err(|err| anyhow::anyhow!("{}: cannot listen on {listen}: {err}", part.name()))
}

async fn run_part(part: Part, ctx: Context, listener: TcpListener) -> anyhow::Result<()> {
    match part {
        Part::Service(ServiceKind::Identity) => questline_identity::run(ctx, listener).await,
        Part::Service(ServiceKind::Ledger) => questline_ledger::run(ctx, listener).await,
        Part::Service(ServiceKind::Mechanics) => questline_mechanics::run(ctx, listener).await,
        Part::Service(ServiceKind::Rewards) => questline_rewards::run(ctx, listener).await,
        Part::Service(ServiceKind::Notifications) => {
            questline_notifications::run(ctx, listener).await
        }
        Part::Gateway => questline_gateway::run(ctx, listener).await,
    }
}

async fn serving(endpoint: &str, kind: ServiceKind) -> bool {
    let Ok(channel) = tonic::transport::Endpoint::from_shared(endpoint.to_string()) else {
        return false;
    };
    let Ok(channel) = channel.connect().await else {
        return false;
    };
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: kind.grpc_name().into(),
        })
        .await;
    matches!(answer, Ok(r) if r.get_ref().status == ServingStatus::Serving as i32)
}
