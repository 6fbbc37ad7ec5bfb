//! Webhooks as a brand's receiver sees them (Standard Webhooks): every
//! attempt signed over `id.timestamp.body` — checked here with HMAC code of
//! the test's own, not the engine's — retried on the schedule until a 2xx,
//! dead-lettered after the last attempt and sent again on request, and an
//! endpoint answering 410 disabled.

#![allow(clippy::unwrap_used)]

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use questline_proto::notifications::{self as pb, WebhookDeliveryStatus as Status};
use questline_tests::{Api, Harness, Programme, each_backend, eventually, track};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tonic::Code;

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: i64,
    signature: String,
    body: String,
    answered: u16,
}

/// A receiver whose paths answer as scripted: `flaky` fails three times
/// then accepts, `down` fails until told to recover, `gone` answers 410,
/// any other path accepts.
#[derive(Default)]
struct Receiver {
    got: Mutex<HashMap<String, Vec<Received>>>,
    recovered: Mutex<bool>,
}

impl Receiver {
    fn answer(&self, path: &str) -> u16 {
        let seen = self.got.lock().unwrap().get(path).map_or(0, Vec::len);
        match path {
            "flaky" if seen < 3 => 500,
            "down" if !*self.recovered.lock().unwrap() => 503,
            "gone" => 410,
            _ => 200,
        }
    }

    fn requests(&self, path: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .unwrap_or_default()
    }
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let answered = receiver.answer(&path);
    let got = Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or(0),
        signature: header("webhook-signature"),
        body,
        answered,
    };
    receiver
        .got
        .lock()
        .unwrap()
        .entry(path)
        .or_default()
        .push(got);
    StatusCode::from_u16(answered).unwrap()
}

/// Starts the receiver on loopback; its base URL.
async fn start_receiver(receiver: Arc<Receiver>) -> String {
    let app = axum::Router::new()
        .route("/{path}", axum::routing::post(receive))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{at}")
}

/// The Standard Webhooks check, written from the specification: some
/// `v1,` signature in the header is the base64 HMAC-SHA256, keyed with
/// the secret's bytes, of `id.timestamp.body`; the timestamp is recent.
fn verifies(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (now - r.timestamp).abs() <= 300 && r.signature.split(' ').any(|s| s == expected)
}

async fn put(
    api: &mut Api,
    p: &Programme,
    id: &str,
    url: &str,
    types: &[&str],
) -> Result<pb::WebhookEndpoint, tonic::Status> {
    let request = pb::PutWebhookEndpointRequest {
        tenant_id: p.tenant_id.clone(),
        endpoint_id: id.into(),
        url: url.into(),
        description: format!("the {id} receiver"),
        event_types: types.iter().map(|t| t.to_string()).collect(),
        enabled: true,
        expected_version: 0,
    };
    let answer = api.notifications.put_webhook_endpoint(request).await?;
    Ok(answer.into_inner().endpoint.unwrap())
}

async fn deliveries(api: &mut Api, p: &Programme, endpoint_id: &str) -> Vec<pb::WebhookDelivery> {
    let request = pb::ListWebhookDeliveriesRequest {
        tenant_id: p.tenant_id.clone(),
        endpoint_id: endpoint_id.into(),
        ..Default::default()
    };
    let answer = api
        .notifications
        .list_webhook_deliveries(request)
        .await
        .unwrap();
    answer.into_inner().deliveries
}

/// The endpoint's only delivery once it is in `status`.
async fn settled(
    api: &Api,
    p: &Programme,
    endpoint_id: &str,
    status: Status,
) -> pb::WebhookDelivery {
    eventually(&format!("{endpoint_id}'s delivery {status:?}"), || {
        let mut api = api.clone();
        async move {
            let found = deliveries(&mut api, p, endpoint_id).await;
            found.into_iter().find(|d| d.status == status as i32)
        }
    })
    .await
}

async fn attempts(api: &mut Api, p: &Programme, delivery_id: &str) -> Vec<i32> {
    let request = pb::GetWebhookDeliveryRequest {
        tenant_id: p.tenant_id.clone(),
        delivery_id: delivery_id.into(),
    };
    let answer = api
        .notifications
        .get_webhook_delivery(request)
        .await
        .unwrap()
        .into_inner();
    answer.attempts.iter().map(|a| a.status_code).collect()
}

async fn secret(api: &mut Api, p: &Programme, endpoint_id: &str) -> String {
    let request = pb::GetWebhookSecretRequest {
        tenant_id: p.tenant_id.clone(),
        endpoint_id: endpoint_id.into(),
    };
    api.notifications
        .get_webhook_secret(request)
        .await
        .unwrap()
        .into_inner()
        .secret
}

#[tokio::test]
async fn webhooks_are_signed_retried_dead_lettered_redelivered_and_stopped_by_410() {
    each_backend(|backend| async move {
        let mut h = Harness::start(backend).await;
        h.settings.webhooks.allow_networks = "127.0.0.0/8".into();
        h.settings.webhooks.retry_schedule = "50ms,50ms,50ms".into();
        h.restart().await;
        let p = h.programme("hooks").await;
        let mut api = h.api(Some(&p.token));
        let receiver = Arc::new(Receiver::default());
        let base = start_receiver(Arc::clone(&receiver)).await;
        let credited = ["points.credited"];
        for id in ["flaky", "down", "gone"] {
            put(&mut api, &p, id, &format!("{base}/{id}"), &credited)
                .await
                .unwrap();
        }
        put(
            &mut api,
            &p,
            "rewards-only",
            &format!("{base}/rewards-only"),
            &["reward.redeemed"],
        )
        .await
        .unwrap();
        let flaky_secret = secret(&mut api, &p, "flaky").await;

        api.mechanics
            .track(track(&p.tenant_id, &p.member_id, "hook-1", 100.0))
            .await
            .unwrap();

        // Three failures, then one accepted delivery: four attempts, one id.
        let flaky = settled(&api, &p, "flaky", Status::Delivered).await;
        assert_eq!(flaky.attempts, 4);
        assert_eq!(
            attempts(&mut api, &p, &flaky.delivery_id).await,
            [500, 500, 500, 200]
        );
        let got = receiver.requests("flaky");
        assert_eq!(
            got.iter().map(|r| r.answered).collect::<Vec<_>>(),
            [500, 500, 500, 200]
        );
        for r in &got {
            assert_eq!(r.id, flaky.delivery_id, "one webhook-id for every attempt");
            assert!(verifies(&flaky_secret, r), "signature of {r:?}");
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(body["type"], "points.credited");
            assert_eq!(body["data"]["member_id"], p.member_id.as_str());
            assert_eq!(body["data"]["amount"], 10);
        }
        let wrong = "whsec_".to_string() + &STANDARD.encode([7u8; 32]);
        assert!(!verifies(&wrong, &got[0]), "another secret does not verify");

        // Always failing: a dead letter after the schedule, then redelivered.
        let down = settled(&api, &p, "down", Status::Failed).await;
        assert_eq!(down.attempts, 4);
        assert_eq!(receiver.requests("down").len(), 4);
        *receiver.recovered.lock().unwrap() = true;
        let again = pb::RedeliverWebhookRequest {
            tenant_id: p.tenant_id.clone(),
            delivery_id: down.delivery_id.clone(),
        };
        api.notifications.redeliver_webhook(again).await.unwrap();
        let down = settled(&api, &p, "down", Status::Delivered).await;
        assert_eq!(down.attempts, 5);
        assert_eq!(
            attempts(&mut api, &p, &down.delivery_id).await,
            [503, 503, 503, 503, 200]
        );

        // 410: the endpoint is disabled after one attempt and gets nothing more.
        let gone = settled(&api, &p, "gone", Status::Failed).await;
        assert_eq!(gone.attempts, 1);
        let request = pb::GetWebhookEndpointRequest {
            tenant_id: p.tenant_id.clone(),
            endpoint_id: "gone".into(),
        };
        let endpoint = api
            .notifications
            .get_webhook_endpoint(request)
            .await
            .unwrap()
            .into_inner()
            .endpoint
            .unwrap();
        assert!(!endpoint.enabled);
        assert!(
            endpoint.disabled_reason.contains("410"),
            "{}",
            endpoint.disabled_reason
        );
        let again = pb::RedeliverWebhookRequest {
            tenant_id: p.tenant_id.clone(),
            delivery_id: gone.delivery_id.clone(),
        };
        let refused = api
            .notifications
            .redeliver_webhook(again)
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::FailedPrecondition,
            "a disabled endpoint's delivery waits"
        );

        // A rotation: both secrets sign while the grace lasts.
        let rotate = pb::RotateWebhookSecretRequest {
            tenant_id: p.tenant_id.clone(),
            endpoint_id: "flaky".into(),
            grace_seconds: 3600,
            idempotency_key: "rotate-1".into(),
        };
        let rotated = api
            .notifications
            .rotate_webhook_secret(rotate.clone())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(rotated.previous_secret, flaky_secret);
        let replayed = api
            .notifications
            .rotate_webhook_secret(rotate)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            replayed.secret, rotated.secret,
            "a replayed rotation rotates once"
        );
        api.mechanics
            .track(track(&p.tenant_id, &p.member_id, "hook-2", 50.0))
            .await
            .unwrap();
        eventually("the second event at flaky", || async {
            (receiver.requests("flaky").len() == 5).then_some(())
        })
        .await;
        let second = receiver.requests("flaky")[4].clone();
        assert_eq!(second.signature.split(' ').count(), 2);
        assert!(verifies(&rotated.secret, &second) && verifies(&flaky_secret, &second));
        assert_eq!(
            receiver.requests("gone").len(),
            1,
            "a disabled endpoint gets nothing"
        );
        assert!(
            deliveries(&mut api, &p, "rewards-only").await.is_empty(),
            "its filter wants no credits"
        );

        // Bad input and other tenants: refused, nothing changes.
        let refused = put(&mut api, &p, "inside", "http://10.0.0.1/hook", &credited)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        let refused = put(
            &mut api,
            &p,
            "bad/id",
            &format!("{base}/x"),
            &["audit.recorded"],
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        let other = h.programme("other").await;
        let mut theirs = h.api(Some(&other.token));
        let peek = pb::GetWebhookDeliveryRequest {
            tenant_id: other.tenant_id.clone(),
            delivery_id: flaky.delivery_id.clone(),
        };
        let status = theirs
            .notifications
            .get_webhook_delivery(peek)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        let cross = pb::GetWebhookSecretRequest {
            tenant_id: p.tenant_id.clone(),
            endpoint_id: "flaky".into(),
        };
        let status = theirs
            .notifications
            .get_webhook_secret(cross)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        let member = h.member_token(&p, &p.member_id).await;
        let mut app = h.api(Some(&member));
        let list = pb::ListWebhookEndpointsRequest {
            tenant_id: p.tenant_id.clone(),
            ..Default::default()
        };
        assert_eq!(
            app.notifications
                .list_webhook_endpoints(list)
                .await
                .unwrap_err()
                .code(),
            Code::PermissionDenied
        );
        h.cleanup().await;
    })
    .await;
}
