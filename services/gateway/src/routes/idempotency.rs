//! `Idempotency-Key` on POSTs, as the IETF httpapi draft describes it: the
//! same key and body again replays the first answer (`Idempotent-Replayed:
//! true`), another body is 422, and a retry while the first still runs is
//! 409. Keys belong to the API client that sent them and are kept 24 hours
//! in the gateway's database, which every replica shares.
//!
//! Answers a retry could change are not kept, so the retry runs again:
//! server faults (5xx), 401 (the credentials may be fixed) and 429.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use questline_kit::error::RETRY_AFTER_SECONDS;
use sha2::{Digest, Sha256};

use super::{Gateway, IDEMPOTENCY_KEY, MAX_BODY_BYTES};
use crate::problem::Problem;
use crate::store::{Answer, Claim};

/// Marks an answer that was replayed from the key's first request.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Longest key accepted.
const MAX_KEY: usize = 255;

/// Largest answer kept for replay; a larger one is not kept.
const MAX_KEPT_ANSWER: usize = 4 * 1024 * 1024;

/// How long past the request budget a request keeps its key before
/// another may take it over (its gateway is presumed dead).
const LEASE_MARGIN_MS: i64 = 5_000;

pub(super) async fn idempotent(
    State(gateway): State<Gateway>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let key = match key(request.headers()) {
        Ok(Some(key)) => key,
        Ok(None) => return next.run(request).await,
        Err(problem) => return problem.into_response(),
    };
    match guarded(gateway, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn guarded(
    gateway: Gateway,
    key: String,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    let (credentials, claims) = gateway
        .tokens
        .caller(request.headers())
        .await
        .map_err(IntoResponse::into_response)?;
    // A key can only ever replay to the client that first sent it.
    let client = format!("{}/{}", credentials.tenant_id, claims.cid);
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(credentials);
    // Handlers read the key as sent bare, whichever form it came in.
    if let Ok(bare) = HeaderValue::from_str(&key) {
        parts.headers.insert(IDEMPOTENCY_KEY, bare);
    }
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large().into_response())?;
    let fingerprint = fingerprint(&parts.method, parts.uri.path_and_query(), &body);
    let now = questline_kit::time::now_ms();
    let budget = i64::try_from(gateway.request_budget.as_millis()).unwrap_or(i64::MAX / 2);
    let lease_until = now + budget + LEASE_MARGIN_MS;
    let claim = gateway
        .keys
        .claim(&client, &key, &fingerprint, now, lease_until)
        .await
        .map_err(|err| store_down(&err).into_response())?;
    match claim {
        Claim::Run => {}
        Claim::Replay(answer) => return Ok(replay(answer)),
        Claim::Mismatch => return Err(mismatch().into_response()),
        Claim::InFlight => {
            let mut response = in_flight().into_response();
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            return Err(response);
        }
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    Ok(settle(&gateway, &client, &key, response).await)
}

/// Keeps the answer (or frees the key when a retry should run again) and
/// gives the answer back, its body read once.
async fn settle(gateway: &Gateway, client: &str, key: &str, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_KEPT_ANSWER).await {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::error!(%err, "answer could not be read for keeping");
            release(gateway, client, key).await;
            return Problem::internal().into_response();
        }
    };
    if kept(parts.status) {
        let answer = Answer {
            status: parts.status.as_u16(),
            content_type: parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            body: bytes.to_vec(),
        };
        if let Err(err) = gateway.keys.keep(client, key, &answer).await {
            // The answer still goes out; a retry runs again and the
            // service's own idempotency gives the same result.
            tracing::warn!(%err, "idempotency answer not kept");
            release(gateway, client, key).await;
        }
    } else {
        release(gateway, client, key).await;
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn release(gateway: &Gateway, client: &str, key: &str) {
    if let Err(err) = gateway.keys.release(client, key).await {
        tracing::warn!(%err, "idempotency key not released; it frees when its lease lapses");
    }
}

fn kept(status: StatusCode) -> bool {
    !(status.is_server_error()
        || status == StatusCode::UNAUTHORIZED
        || status == StatusCode::TOO_MANY_REQUESTS)
}

/// The key, if one was sent: a structured-field string (`"abc"`, as the
/// draft writes it) or the bare text, 1 to 255 visible ASCII characters.
fn key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let text = value.to_str().map(str::trim).unwrap_or("\u{0}");
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if text.is_empty() || text.len() > MAX_KEY || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::invalid(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY} visible ASCII characters"),
        ));
    }
    Ok(Some(text.to_string()))
}

/// The request's identity: method, path with query, and the body — JSON
/// compared by value, so spacing and key order do not make it another.
fn fingerprint(method: &Method, path: Option<&http::uri::PathAndQuery>, body: &Bytes) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| serde_json::to_vec(&value).ok())
        .unwrap_or_else(|| body.to_vec());
    let mut digest = Sha256::new();
    digest.update(method.as_str());
    digest.update(b"\n");
    digest.update(path.map(|p| p.as_str()).unwrap_or_default());
    digest.update(b"\n");
    digest.update(&canonical);
    hex::encode(digest.finalize())
}

fn replay(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    if let Ok(content_type) = HeaderValue::from_str(&answer.content_type) {
        headers.insert(CONTENT_TYPE, content_type);
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

fn mismatch() -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "this Idempotency-Key was used for another request; use a new key",
    )
}

fn in_flight() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "a request with this Idempotency-Key is still running; retry later",
    )
}

fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

fn store_down(err: &sea_orm::DbErr) -> Problem {
    tracing::warn!(%err, "idempotency store unavailable");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the service is unavailable, retry later",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;

    #[test]
    fn a_key_is_a_string_item_or_bare_visible_ascii() {
        let key_of = |v| key(&headers(&[("idempotency-key", v)]));
        assert_eq!(key_of("\"8e03978e\"").unwrap().as_deref(), Some("8e03978e"));
        assert_eq!(key_of("order-1").unwrap().as_deref(), Some("order-1"));
        assert!(key_of("\"\"").is_err());
        assert!(key_of("two words").is_err());
        assert_eq!(key(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn the_fingerprint_compares_json_by_value() {
        let path = "/v1/events".parse::<http::uri::PathAndQuery>().unwrap();
        let print = |body: &'static str| {
            fingerprint(
                &Method::POST,
                Some(&path),
                &Bytes::from_static(body.as_bytes()),
            )
        };
        assert_eq!(print(r#"{"a":1,"b":2}"#), print(r#"{ "b": 2, "a": 1 }"#));
        assert_ne!(print(r#"{"a":1}"#), print(r#"{"a":2}"#));
    }

    #[test]
    fn only_answers_a_retry_cannot_change_are_kept() {
        assert!(kept(StatusCode::OK));
        assert!(kept(StatusCode::CONFLICT));
        assert!(kept(StatusCode::BAD_REQUEST));
        assert!(!kept(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!kept(StatusCode::UNAUTHORIZED));
        assert!(!kept(StatusCode::TOO_MANY_REQUESTS));
    }
}
