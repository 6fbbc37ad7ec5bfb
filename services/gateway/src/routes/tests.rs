//! The router answered without any service behind it: bad requests fail first.

use super::*;
use crate::problem::CONTENT_TYPE_PROBLEM;
use crate::test_support::headers;
use axum::body::Body;
use axum::extract::Request;
use http::header::CONTENT_TYPE;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use tower::ServiceExt;

#[test]
fn the_idempotency_key_stands_in_for_a_missing_id() {
    let key = headers(&[("idempotency-key", "k-1")]);
    assert_eq!(client_id("event_id", None, &key).unwrap(), "k-1");
    assert_eq!(
        client_id("event_id", Some(String::new()), &key).unwrap(),
        "k-1"
    );
    assert_eq!(
        client_id("event_id", Some("k-1".into()), &key).unwrap(),
        "k-1"
    );
    assert_eq!(
        client_id("event_id", Some("e-9".into()), &HeaderMap::new()).unwrap(),
        "e-9"
    );
}

#[test]
fn a_missing_id_is_a_bad_request_and_the_body_wins() {
    let key = headers(&[("idempotency-key", "k-1")]);
    assert_eq!(
        client_id("event_id", Some("e-9".into()), &key).unwrap(),
        "e-9"
    );
    let missing = client_id("redemption_id", None, &HeaderMap::new()).unwrap_err();
    assert_eq!(missing.errors[0].field, "redemption_id");
}

#[test]
fn occurred_at_must_be_rfc3339() {
    assert_eq!(
        rfc3339("2025-05-03T09:30:00+02:00").unwrap().seconds,
        1_746_257_400
    );
    assert_eq!(
        rfc3339("saturday").unwrap_err().errors[0].field,
        "occurred_at"
    );
}

/// A gateway whose services are never reached: every request here fails first.
async fn app() -> Router {
    gateway(NOWHERE, Duration::from_secs(10), 1000).await
}

const NOWHERE: &str = "http://127.0.0.1:9";

/// A gateway with mechanics at `mechanics` and every other service at
/// `NOWHERE`, a request budget and a rate limit per client.
async fn gateway(mechanics: &str, request_budget: Duration, per_second: u32) -> Router {
    let channel = |url: &str| questline_kit::client::channel(url).unwrap();
    let pool = |url: &str| Pool::new(url, 1).unwrap();
    // Left behind in the temp directory: the router may outlive this call.
    let dir = tempfile::tempdir().unwrap().keep();
    let url = format!("sqlite://{}/gateway.db?mode=rwc", dir.display());
    let db = questline_kit::db::connect::<crate::store::migrations::Migrator>(&url)
        .await
        .unwrap();
    router(Gateway::new(Shared {
        keys: Keys::new(db),
        identity: pool(NOWHERE),
        tokens: Arc::new(TokenCache::new(channel(NOWHERE))),
        ledger: pool(NOWHERE),
        mechanics: pool(mechanics),
        rewards: pool(NOWHERE),
        notifications: pool(NOWHERE),
        request_budget,
        limits: Arc::new(RateLimits::new(per_second, &Default::default())),
        origins: Arc::new(Origins::new(&BTreeMap::from([(
            "acme".to_string(),
            "https://app.acme.example".to_string(),
        )]))),
    }))
}

fn post_event() -> http::request::Builder {
    Request::post("/v1/events")
        .header("authorization", "Bearer eyJ.a.b")
        .header("x-tenant-id", "acme")
        .header(CONTENT_TYPE, "application/json")
}

async fn send(request: http::Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = app().await.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    (status, headers, serde_json::from_slice(&bytes).unwrap())
}

async fn problem(request: http::Request<Body>) -> (StatusCode, Value) {
    let (status, headers, body) = send(request).await;
    assert_eq!(headers[CONTENT_TYPE], CONTENT_TYPE_PROBLEM);
    assert_eq!(body["status"], status.as_u16());
    (status, body)
}

#[tokio::test]
async fn health_answers_ok() {
    let (status, _, body) = send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "status": "ok" }));
}

#[tokio::test]
async fn bad_json_is_a_problem_not_plain_text() {
    let malformed = post_event().body(Body::from("{\"member_id\":")).unwrap();
    assert_eq!(problem(malformed).await.0, StatusCode::BAD_REQUEST);
    let wrong_type = post_event()
        .body(Body::from(r#"{"member_id": 5, "type": "purchase"}"#))
        .unwrap();
    assert_eq!(problem(wrong_type).await.0, StatusCode::BAD_REQUEST);
    let not_an_object = post_event()
        .body(Body::from(
            r#"{"event_id": "e1", "member_id": "m1", "type": "purchase", "attributes": [1]}"#,
        ))
        .unwrap();
    assert_eq!(problem(not_an_object).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bodies_over_a_mebibyte_are_refused() {
    let big = format!(
        r#"{{"member_id": "m1", "type": "purchase", "attributes": {{"x": "{}"}}}}"#,
        "a".repeat(MAX_BODY_BYTES)
    );
    let request = post_event().body(Body::from(big)).unwrap();
    assert_eq!(problem(request).await.0, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn no_credentials_no_entry() {
    let request = Request::get("/v1/members/m1/balances")
        .body(Body::empty())
        .unwrap();
    assert_eq!(problem(request).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_query_parameters_and_an_unknown_path_are_problems() {
    for uri in [
        "/v1/members/m1/inbox?page_size=many",
        "/v1/members/m1/balances?expiring_within_days=soon",
        "/v1/members/m1/balances?expiring_within_days=99999999999",
    ] {
        let request = Request::get(uri)
            .header("authorization", "Bearer eyJ.a.b")
            .header("x-tenant-id", "acme")
            .body(Body::empty())
            .unwrap();
        assert_eq!(problem(request).await.0, StatusCode::BAD_REQUEST, "{uri}");
    }
    let unknown = Request::get("/v1/nothing").body(Body::empty()).unwrap();
    assert_eq!(problem(unknown).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_it_serves() {
    let (status, headers, document) =
        send(Request::get("/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = document["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/events", "post"),
        ("/v1/members/{member_id}/balances", "get"),
        ("/v1/redemptions", "post"),
        ("/v1/members/{member_id}/inbox", "get"),
    ] {
        let operation = &paths[path][method];
        assert!(operation["operationId"].is_string(), "{method} {path}");
        for status in ["401", "403", "429", "503", "504"] {
            let refusal = &operation["responses"][status]["content"]["application/problem+json"];
            assert!(
                refusal["schema"].is_object(),
                "{method} {path}: no {status} problem"
            );
        }
        // Every documented route answers something other than the fallback's 404.
        let uri = path.replace("{member_id}", "m1");
        let request = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&uri)
            .body(Body::empty())
            .unwrap();
        let (status, body) = problem(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
    }
    let schemas = document["components"]["schemas"].as_object().unwrap();
    for body in ["TrackBody", "RedeemBody"] {
        assert!(
            schemas[body]["example"].is_object(),
            "{body} has no example"
        );
    }
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary() {
    let request = Request::get("/docs/").body(Body::empty()).unwrap();
    let response = app().await.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let page = String::from_utf8_lossy(&bytes);
    assert!(page.contains("swagger-ui"), "{page}");
    assert!(
        !page.contains("https://"),
        "the page loads nothing from elsewhere"
    );
}

#[tokio::test]
async fn every_answer_carries_the_callers_request_id_or_a_new_one() {
    let given = Request::get("/v1/nothing")
        .header("x-request-id", "req-42")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(given).await;
    assert_eq!(headers["x-request-id"], "req-42");
    for request in [
        Request::get("/healthz").body(Body::empty()).unwrap(),
        Request::get("/healthz")
            .header("x-request-id", "has spaces")
            .body(Body::empty())
            .unwrap(),
    ] {
        let (_, headers, _) = send(request).await;
        let id = headers["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 36, "a new UUID: {id}");
    }
}

#[tokio::test]
async fn a_service_that_never_answers_is_a_504_problem() {
    // Accepts connections and says nothing: a hung mechanics.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let gateway = gateway(&format!("http://{addr}"), Duration::from_millis(300), 1000).await;
    let request = post_event()
        .body(Body::from(
            r#"{"event_id": "e1", "member_id": "m1", "type": "purchase"}"#,
        ))
        .unwrap();
    let started = std::time::Instant::now();
    let response = gateway.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(response.headers()[CONTENT_TYPE], CONTENT_TYPE_PROBLEM);
    assert!(started.elapsed() < Duration::from_secs(3));
    held.abort();
}

#[tokio::test]
async fn a_burst_over_the_limit_is_429_and_another_client_is_not_slowed() {
    let gateway = gateway(NOWHERE, Duration::from_secs(10), 3).await;
    let as_client = |key: &str| {
        Request::get("/v1/members/m1/balances")
            .header("x-api-key", format!("ql_live_{key}_secret"))
            .body(Body::empty())
            .unwrap()
    };
    for _ in 0..3 {
        let answer = gateway.clone().oneshot(as_client("noisy")).await.unwrap();
        assert_ne!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            answer.headers()["ratelimit-policy"],
            "\"per-client\";q=3;w=1"
        );
        assert!(answer.headers().contains_key("ratelimit"));
    }
    let refused = gateway.clone().oneshot(as_client("noisy")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()[CONTENT_TYPE], CONTENT_TYPE_PROBLEM);
    assert!(
        refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert!(
        refused.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .contains("r=0")
    );
    // In the same second, a quiet client is served as if nobody else were there.
    for _ in 0..3 {
        let answer = gateway.clone().oneshot(as_client("quiet")).await.unwrap();
        assert_ne!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}

#[tokio::test]
async fn a_tenant_s_origin_passes_the_preflight_and_reads_its_own_answers() {
    let preflight = |origin: &'static str| {
        Request::options("/v1/events")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = app()
        .await
        .oneshot(preflight("https://app.acme.example"))
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.acme.example"
    );
    assert!(
        allowed.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("idempotency-key")
    );
    let stranger = app()
        .await
        .oneshot(preflight("https://evil.example"))
        .await
        .unwrap();
    assert_eq!(stranger.status(), StatusCode::FORBIDDEN);
    assert!(
        !stranger
            .headers()
            .contains_key("access-control-allow-origin")
    );

    // The request itself: readable by its own tenant's origin only.
    let as_tenant = |tenant: &'static str| {
        Request::get("/v1/members/m1/balances")
            .header("origin", "https://app.acme.example")
            .header("authorization", "Bearer eyJ.a.b")
            .header("x-tenant-id", tenant)
            .body(Body::empty())
            .unwrap()
    };
    let own = app().await.oneshot(as_tenant("acme")).await.unwrap();
    assert_eq!(
        own.headers()["access-control-allow-origin"],
        "https://app.acme.example"
    );
    assert!(
        own.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-request-id")
    );
    let other = app().await.oneshot(as_tenant("globex")).await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    assert_eq!(other.headers()["vary"], "origin");
}
