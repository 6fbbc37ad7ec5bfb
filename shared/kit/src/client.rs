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
