//! A CLIENT span around every outgoing gRPC call, as OpenTelemetry's RPC
//! conventions draw it: the callee's SERVER span is its child (the
//! `traceparent` sent is this span's), and it ends when the answer's status
//! is known — in the headers of a failure, in the trailers of a success — so
//! trace viewers can draw caller → callee edges and find failed calls.

use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::telemetry::{self, Side};

/// Where the calls go: the `server.address` and `server.port` of every span.
#[derive(Debug, Clone)]
struct Peer {
    address: Arc<str>,
    port: u16,
}

/// A channel whose calls each get a CLIENT span.
#[derive(Debug, Clone)]
pub struct Traced<S> {
    inner: S,
    peer: Peer,
}

impl<S> Traced<S> {
    /// `url` names the peer, as the channel was built from it.
    pub fn new(inner: S, url: &http::Uri) -> Traced<S> {
        let port = url.port_u16().unwrap_or(match url.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let peer = Peer {
            address: url.host().unwrap_or_default().into(),
            port,
        };
        Traced { inner, peer }
    }
}

impl<S, B, R> tower::Service<http::Request<B>> for Traced<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<TracedBody<R>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let span = client_span(request.uri().path(), &self.peer);
        // The caller's part: the span it was made under knows it.
        telemetry::inherit_part(&span);
        telemetry::inject_headers(&span, request.headers_mut());
        let answer = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Box::pin(async move {
            let response = match answer.await {
                Ok(response) => response,
                Err(err) => {
                    // The call never got an answer: the transport failed.
                    telemetry::record_grpc_status(&span, tonic::Code::Unavailable, Side::Client);
                    return Err(err);
                }
            };
            let (head, body) = response.into_parts();
            let ended = match status_in(&head.headers) {
                Some(code) => {
                    telemetry::record_grpc_status(&span, code, Side::Client);
                    None
                }
                None => Some(span),
            };
            Ok(http::Response::from_parts(
                head,
                TracedBody {
                    inner: body,
                    span: ended,
                },
            ))
        })
    }
}

fn client_span(path: &str, peer: &Peer) -> tracing::Span {
    let span = telemetry::rpc_span(Side::Client, path, &peer.address);
    span.record("server.port", i64::from(peer.port));
    span
}

/// The `grpc-status` of a header or trailer map, if it holds one.
fn status_in(headers: &http::HeaderMap) -> Option<tonic::Code> {
    let value = headers.get("grpc-status")?;
    Some(tonic::Code::from_bytes(value.as_bytes()))
}

/// The answer's body; the span ends with it, once the trailers say how the
/// call ended (a body that ends without them was cut off).
pub struct TracedBody<B> {
    inner: B,
    span: Option<tracing::Span>,
}

/// What an interceptor answers with when it refuses a call before sending it.
impl<B: Default> Default for TracedBody<B> {
    fn default() -> Self {
        TracedBody {
            inner: B::default(),
            span: None,
        }
    }
}

impl<B: Body + Unpin> Body for TracedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame
                .trailers_ref()
                .map(|t| status_in(t).unwrap_or(tonic::Code::Unknown)),
            Poll::Ready(Some(Err(_))) | Poll::Ready(None) => Some(tonic::Code::Unavailable),
            Poll::Pending => None,
        };
        if let Some(code) = ended
            && let Some(span) = self.span.take()
        {
            telemetry::record_grpc_status(&span, code, Side::Client);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A body of given frames.
    struct Frames(VecDeque<Frame<bytes::Bytes>>);

    impl Body for Frames {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }
    }

    fn trailers(code: &str) -> Frame<bytes::Bytes> {
        let mut map = http::HeaderMap::new();
        map.insert("grpc-status", code.parse().unwrap());
        Frame::trailers(map)
    }

    #[test]
    fn the_status_in_the_trailers_ends_the_span() {
        let frames = VecDeque::from([Frame::data(bytes::Bytes::from_static(b"x")), trailers("5")]);
        let mut body = TracedBody {
            inner: Frames(frames),
            span: Some(tracing::Span::none()),
        };
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut seen = 0;
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
            seen += 1;
            assert_eq!(
                body.span.is_some(),
                frame.is_data(),
                "ended with the trailers"
            );
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn a_status_reads_from_headers_or_trailers() {
        let mut map = http::HeaderMap::new();
        assert_eq!(status_in(&map), None);
        map.insert("grpc-status", "14".parse().unwrap());
        assert_eq!(status_in(&map), Some(tonic::Code::Unavailable));
    }
}
