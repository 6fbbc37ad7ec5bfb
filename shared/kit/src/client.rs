//! Outgoing gRPC: lazy channels whose calls each get a CLIENT span, and the
//! interceptor that carries the caller's credentials on every hop.

mod traced;

use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::Endpoint;

pub use traced::{Traced, TracedBody};

/// A channel to another service: every call traced as a CLIENT span.
pub type Channel = Traced<tonic::transport::Channel>;

/// A channel that connects on first use and reconnects by itself.
pub fn channel(url: &str) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true);
    let uri = endpoint.uri().clone();
    Ok(Traced::new(endpoint.connect_lazy(), &uri))
}

/// Several connections to one service, taken in turn. One HTTP/2
/// connection is driven by one task on each side, which caps a caller that
/// multiplexes every request onto it (the gateway) near one core's worth of
/// frames; a few connections spread that work over the cores.
#[derive(Clone)]
pub struct Pool {
    channels: std::sync::Arc<[Channel]>,
    next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Pool {
    /// `connections` lazy channels to `url` (at least one).
    pub fn new(url: &str, connections: usize) -> anyhow::Result<Pool> {
        let channels = (0..connections.max(1))
            .map(|_| channel(url))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Pool {
            channels: channels.into(),
            next: Default::default(),
        })
    }

    /// The next connection's channel.
    pub fn get(&self) -> Channel {
        let turn = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.channels[turn % self.channels.len()].clone()
    }
}

/// Adds `authorization: Bearer <token>` when set. The trace context is the
/// CLIENT span's, put by `Traced` on every call of a `Channel`.
#[derive(Clone, Default)]
pub struct Outgoing {
    bearer: Option<MetadataValue<Ascii>>,
}

impl Outgoing {
    /// Acts with `token`: a service forwards its caller's token downstream.
    pub fn bearer(token: &str) -> Outgoing {
        Outgoing {
            bearer: MetadataValue::try_from(format!("Bearer {token}")).ok(),
        }
    }
}

impl Interceptor for Outgoing {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(bearer) = &self.bearer {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
        }
        Ok(request)
    }
}

pub type Intercepted = tonic::service::interceptor::InterceptedService<Channel, Outgoing>;
