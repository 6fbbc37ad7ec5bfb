//! Every gRPC call's deadline: the caller's `grpc-timeout`, capped by the
//! server's default. A call still unanswered then is answered
//! DEADLINE_EXCEEDED, as gRPC's status table says, and its handler is
//! dropped. (tonic's own timeout answers CANCELLED "Timeout expired"; this
//! layer ends the call a moment before tonic's would, so tonic's never fires.)

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// How much sooner than tonic's timer this layer ends a call, so that of two
/// timers set for the same deadline ours is the one that fires.
const AHEAD: Duration = Duration::from_millis(2);

#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    default: Duration,
}

impl DeadlineLayer {
    pub fn new(default: Duration) -> DeadlineLayer {
        DeadlineLayer { default }
    }
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;
    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            default: self.default,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    default: Duration,
}

impl<S, B, R> tower::Service<http::Request<B>> for Deadline<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let budget = requested(request.headers())
            .map_or(self.default, |asked| asked.min(self.default))
            .saturating_sub(AHEAD);
        let ends = Instant::now() + budget;
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut answer = std::pin::pin!(answer);
            let mut timer = std::pin::pin!(tokio::time::sleep_until(ends));
            std::future::poll_fn(|cx| {
                // The clock first: when tonic's timer wakes the call, ours
                // has passed even if its own timer has not been seen to fire.
                if Instant::now() >= ends {
                    return Poll::Ready(Ok(past_deadline()));
                }
                if let Poll::Ready(answered) = answer.as_mut().poll(cx) {
                    return Poll::Ready(answered);
                }
                timer.as_mut().poll(cx).map(|()| Ok(past_deadline()))
            })
            .await
        })
    }
}

fn past_deadline<R: Default>() -> http::Response<R> {
    tonic::Status::deadline_exceeded("the call's deadline passed").into_http()
}

/// The caller's `grpc-timeout`: at most eight digits and a unit (gRPC over
/// HTTP/2). A malformed value is ignored, leaving the server's default.
fn requested(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, Service, ServiceExt};

    fn headers(timeout: &str) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        map.insert("grpc-timeout", timeout.parse().unwrap());
        map
    }

    #[test]
    fn reads_every_unit_of_grpc_timeout() {
        assert_eq!(requested(&headers("1m")), Some(Duration::from_millis(1)));
        assert_eq!(requested(&headers("2S")), Some(Duration::from_secs(2)));
        assert_eq!(requested(&headers("3M")), Some(Duration::from_secs(180)));
        assert_eq!(requested(&headers("1H")), Some(Duration::from_secs(3600)));
        assert_eq!(
            requested(&headers("500u")),
            Some(Duration::from_micros(500))
        );
        assert_eq!(requested(&headers("7n")), Some(Duration::from_nanos(7)));
        for bad in ["", "m", "123456789m", "1x", "-1m", "1.5S"] {
            assert_eq!(requested(&headers(bad)), None, "{bad:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_call_is_answered_deadline_exceeded() {
        let slow = tower::service_fn(|_: http::Request<()>| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        });
        let mut service = DeadlineLayer::new(Duration::from_secs(30)).layer(slow);
        let mut request = http::Request::new(());
        *request.headers_mut() = headers("10m");
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(response.headers()["grpc-status"], "4");
    }

    #[tokio::test(start_paused = true)]
    async fn the_servers_default_caps_a_longer_deadline() {
        let slow = tower::service_fn(|_: http::Request<()>| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        });
        let mut service = DeadlineLayer::new(Duration::from_secs(1)).layer(slow);
        let mut request = http::Request::new(());
        *request.headers_mut() = headers("1H");
        let started = Instant::now();
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(response.headers()["grpc-status"], "4");
        assert!(started.elapsed() <= Duration::from_secs(1));
    }
}
