//! Rate limits per API client (governor's GCRA, one bucket per client), so
//! one noisy client never slows another. Every API answer says where the
//! caller stands in the IETF `RateLimit-Policy` and `RateLimit` fields; a
//! request over the limit is a 429 problem with `Retry-After`, refused before
//! any credential is resolved or any service called.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use crate::problem::Problem;

const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");

type Buckets = DefaultKeyedRateLimiter<String, StateInformationMiddleware>;

/// One quota for every client, and any client's own.
pub struct RateLimits {
    per_second: NonZeroU32,
    shared: Buckets,
    own: BTreeMap<String, (NonZeroU32, Buckets)>,
}

impl RateLimits {
    /// `per_second` for every client; `overrides` by client id.
    pub fn new(per_second: u32, overrides: &BTreeMap<String, u32>) -> RateLimits {
        let rate = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        let buckets = |n| {
            DefaultKeyedRateLimiter::keyed(Quota::per_second(n))
                .with_middleware::<StateInformationMiddleware>()
        };
        RateLimits {
            per_second: rate(per_second),
            shared: buckets(rate(per_second)),
            own: overrides
                .iter()
                .map(|(client, n)| (client.clone(), (rate(*n), buckets(rate(*n)))))
                .collect(),
        }
    }

    /// Takes one request from `client`'s bucket: the fields to answer with,
    /// or how long to wait.
    fn take(&self, client: &str) -> Result<Standing, Standing> {
        let (limit, buckets) = self
            .own
            .get(client)
            .map_or((self.per_second, &self.shared), |(n, b)| (*n, b));
        match buckets.check_key(&client.to_string()) {
            Ok(snapshot) => Ok(Standing {
                limit,
                remaining: snapshot.remaining_burst_capacity(),
                wait_seconds: 1,
            }),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(Standing {
                    limit,
                    remaining: 0,
                    wait_seconds: wait.as_secs_f64().ceil().max(1.0) as u64,
                })
            }
        }
    }
}

/// Where a client stands against its quota.
#[derive(Debug)]
struct Standing {
    limit: NonZeroU32,
    remaining: u32,
    wait_seconds: u64,
}

impl Standing {
    /// `RateLimit-Policy` and `RateLimit`, as draft-ietf-httpapi-ratelimit-headers writes them.
    fn write(&self, headers: &mut HeaderMap) {
        let policy = format!("\"per-client\";q={};w=1", self.limit);
        let now = format!(
            "\"per-client\";r={};t={}",
            self.remaining, self.wait_seconds
        );
        for (name, value) in [(POLICY, policy), (RATE_LIMIT, now)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
}

/// The middleware: counts the request against its client's bucket.
pub(super) async fn limit(
    State(limits): State<Arc<RateLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let client = client_of(request.headers());
    match limits.take(&client) {
        Ok(standing) => {
            let mut response = next.run(request).await;
            standing.write(response.headers_mut());
            response
        }
        Err(standing) => {
            let detail = format!("over {} requests a second; retry later", standing.limit);
            let mut response = Problem::new(StatusCode::TOO_MANY_REQUESTS, detail).into_response();
            standing.write(response.headers_mut());
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                HeaderValue::from(standing.wait_seconds),
            );
            response
        }
    }
}

/// The API client a request comes from, read without verifying anything
/// (the services verify): the id inside an API key (`ql_live_<id>_…`), or a
/// token's `cid` claim. A request that names none shares one bucket.
fn client_of(headers: &HeaderMap) -> String {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(id) =
        text("x-api-key").and_then(|key| key.strip_prefix("ql_live_")?.split('_').next())
    {
        return format!("key:{id}");
    }
    text("authorization")
        .and_then(|auth| auth.strip_prefix("Bearer "))
        .and_then(token_client)
        .map_or_else(|| "anonymous".to_string(), |cid| format!("key:{cid}"))
}

/// The `cid` claim of a JWT's payload.
fn token_client(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["cid"].as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;

    #[test]
    fn a_client_is_named_by_its_key_or_its_tokens_cid() {
        let key = headers(&[("x-api-key", "ql_live_c1cd618e13c1_2aa77fbfe448")]);
        assert_eq!(client_of(&key), "key:c1cd618e13c1");
        // {"cid":"c1cd618e13c1","sub":"x"}
        let token = headers(&[(
            "authorization",
            "Bearer eyJhbGciOiJFZERTQSJ9.eyJjaWQiOiJjMWNkNjE4ZTEzYzEiLCJzdWIiOiJ4In0.c2ln",
        )]);
        assert_eq!(client_of(&token), "key:c1cd618e13c1");
        assert_eq!(
            client_of(&headers(&[("authorization", "Bearer junk")])),
            "anonymous"
        );
        assert_eq!(client_of(&HeaderMap::new()), "anonymous");
    }

    #[test]
    fn a_client_over_its_quota_waits_and_others_do_not() {
        let overrides = BTreeMap::from([("key:vip".to_string(), 5)]);
        let limits = RateLimits::new(2, &overrides);
        assert!(limits.take("key:a").is_ok());
        assert!(limits.take("key:a").is_ok());
        let refused = limits.take("key:a").unwrap_err();
        assert!(refused.wait_seconds >= 1);
        assert!(
            limits.take("key:b").is_ok(),
            "another client's bucket is its own"
        );
        for _ in 0..5 {
            assert!(limits.take("key:vip").is_ok());
        }
        assert!(limits.take("key:vip").is_err());
    }
}
