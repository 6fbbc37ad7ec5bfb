//! The gRPC host every service runs in: grpc.health.v1 (the service's own
//! name SERVING only while its database and the bus answer), reflection (v1
//! and v1alpha), a span and a duration metric per RPC joined to the caller's
//! trace, deadlines (DEADLINE_EXCEEDED, capped by a default), HTTP/2
//! keepalive, message-size limits and graceful shutdown.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::{Router, TcpIncoming};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::layer::util::{Identity, Stack};

use crate::admin::Probes;
use crate::config::{ServerLimits, ServiceKind};
use crate::deadline::DeadlineLayer;
use crate::meter::RpcMetricsLayer;

/// How often a service checks that it can still serve.
const READINESS_EVERY: Duration = Duration::from_secs(5);

/// How often an idle connection is pinged, and how long a ping may go
/// unanswered before the connection is closed: a peer that vanished without
/// closing (a killed pod, a cut network) does not keep its connection open.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

type Layered = Stack<DeadlineLayer, Stack<RpcMetricsLayer, Identity>>;

/// A router with the standard services, ready for the domain service to be added.
pub struct Host {
    pub kind: ServiceKind,
    pub health: HealthReporter,
    pub router: Router<Layered>,
}

impl Host {
    pub fn new(kind: ServiceKind, limits: &ServerLimits) -> anyhow::Result<Host> {
        let (health, health_service) = tonic_health::server::health_reporter();
        let own = own_descriptors(kind)?;
        let metrics = RpcMetricsLayer::new(kind.name(), known_methods(&own));
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_file_descriptor_set(own.clone())
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_file_descriptor_set(own)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        let deadline = DeadlineLayer::new(Duration::from_millis(limits.default_deadline_ms));
        let router = Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE_EVERY))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
            .trace_fn(move |request| rpc_span(kind, request))
            .layer(metrics)
            .layer(deadline)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        Ok(Host {
            kind,
            health,
            router,
        })
    }

    /// Adds the domain service(s) to the router.
    pub fn with_routes(self, f: impl FnOnce(Router<Layered>) -> Router<Layered>) -> Host {
        Host {
            router: f(self.router),
            ..self
        }
    }

    /// Serves until `shutdown` fires; in-flight calls finish first. The
    /// service's health follows `probes` while it runs.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
        probes: Arc<Probes>,
    ) -> anyhow::Result<()> {
        let name = self.kind.grpc_name();
        tracing::info!(service = name, addr = %listener.local_addr()?, "serving");
        // Replies go out at once: without TCP_NODELAY a reply's last small
        // frame waits on the peer's delayed ACK (about 40 ms) whenever the
        // connection is not busy.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        tokio::spawn(follow_readiness(
            self.health.clone(),
            self.kind,
            probes,
            shutdown.clone(),
        ));
        self.router
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await?;
        tracing::info!(service = name, "stopped");
        Ok(())
    }
}

/// Sets the service's health from its readiness every few seconds, and
/// NOT_SERVING once it stops.
async fn follow_readiness(
    health: HealthReporter,
    kind: ServiceKind,
    probes: Arc<Probes>,
    shutdown: CancellationToken,
) {
    let name = kind.grpc_name();
    let mut serving = None;
    loop {
        let ready = probes.ready(kind).await;
        if serving != Some(ready.is_ok()) {
            let status = match &ready {
                Ok(()) => ServingStatus::Serving,
                Err(why) => {
                    tracing::warn!(service = name, %why, "not ready");
                    ServingStatus::NotServing
                }
            };
            health.set_service_status(name, status).await;
            serving = Some(ready.is_ok());
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(READINESS_EVERY) => {}
        }
    }
    health
        .set_service_status(name, ServingStatus::NotServing)
        .await;
}

/// `package.Service/Method` of every method a port serves: its own, health and reflection.
fn known_methods(own: &prost_types::FileDescriptorSet) -> HashSet<String> {
    let standard = [
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ];
    let own_methods = own.file.iter().flat_map(|file| {
        file.service.iter().flat_map(move |service| {
            service
                .method
                .iter()
                .map(move |m| format!("{}.{}/{}", file.package(), service.name(), m.name()))
        })
    });
    standard
        .into_iter()
        .map(String::from)
        .chain(own_methods)
        .collect()
}

/// The descriptors of `kind`'s own package and the well-known types it uses,
/// so reflection lists only what this port serves.
fn own_descriptors(kind: ServiceKind) -> anyhow::Result<prost_types::FileDescriptorSet> {
    let all = <prost_types::FileDescriptorSet as prost::Message>::decode(
        questline_proto::FILE_DESCRIPTOR_SET,
    )?;
    let package = kind
        .grpc_name()
        .rsplit_once('.')
        .map(|(package, _)| package)
        .unwrap_or_default();
    let file = all
        .file
        .into_iter()
        .filter(|f| f.package() == package || f.package().starts_with("google."))
        .collect();
    Ok(prost_types::FileDescriptorSet { file })
}

/// The SERVER span of a call; `server.address` is the address the caller
/// dialled (its `:authority`).
fn rpc_span(kind: ServiceKind, request: &http::Request<()>) -> tracing::Span {
    use crate::telemetry::{self, Side};
    let host = request.uri().host().unwrap_or_default();
    let span = telemetry::rpc_span(Side::Server, request.uri().path(), host);
    span.record("questline.service", kind.name());
    telemetry::adopt_headers(&span, request.headers());
    span
}

/// Resolves when the process gets SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Serves a generated tonic service on `listener` with the standard services,
/// its message-size limits and graceful shutdown: the tail of every service's
/// `run`. A macro because generated servers share no trait for their limits.
#[macro_export]
macro_rules! serve {
    ($ctx:expr, $kind:expr, $listener:expr, $service:expr) => {{
        let limit = $ctx.max_message_bytes();
        let service = $service
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        $crate::server::Host::new($kind, &$ctx.settings.server)?
            .with_routes(|router| router.add_service(service))
            .serve($listener, $ctx.shutdown.clone(), $ctx.probes.clone())
            .await
    }};
}
