//! Issue 18, check 2: `Idempotency-Key` through the gateway as the IETF
//! httpapi draft defines it — replay with `Idempotent-Replayed: true`, 422
//! for another body, 409 while the first request runs, keys per client,
//! kept across a restart and seen by a second gateway — on both backends.

#![allow(clippy::unwrap_used)]

use questline::mesh::{Mesh, Part};
use questline_kit::config::ServiceKind;
use questline_tests::proxy::Proxy;
use questline_tests::{Answer, Harness, Programme, Rest, each_backend, eventually};
use serde_json::{Value, json};
use std::time::Duration;

fn purchase(p: &Programme, event_id: &str, amount: u32) -> Value {
    json!({"event_id": event_id, "member_id": p.member_id, "type": "purchase",
           "attributes": {"amount": amount}})
}

async fn post(rest: &Rest, api_key: &str, key: &str, body: &Value) -> Answer {
    let headers = [("x-api-key", api_key), ("idempotency-key", key)];
    rest.post("/v1/events", &headers, body).await
}

async fn stars(rest: &Rest, p: &Programme) -> i64 {
    let path = format!("/v1/members/{}/balances", p.member_id);
    let answer = rest.get(&path, &[("x-api-key", &p.api_key)]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["currency"] == "stars")
        .map_or(0, |b| b["available"].as_i64().unwrap())
}

fn replayed(answer: &Answer) -> bool {
    answer.header("idempotent-replayed") == Some("true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_replays_its_answer_and_refuses_another_body() {
    each_backend(|backend| async move {
        let harness = Harness::start(backend).await;
        let p = harness.programme("keys").await;
        let rest = harness.rest();

        let first = post(
            &rest,
            &p.api_key,
            "\"order-1\"",
            &purchase(&p, "order-1", 250),
        )
        .await;
        assert_eq!(first.status, 200, "{:?}", first.body);
        assert!(!replayed(&first));
        // The same key and body, with its JSON spelled otherwise: the same answer.
        let again = json!({"attributes": {"amount": 250}, "type": "purchase",
                           "member_id": p.member_id, "event_id": "order-1"});
        let second = post(&rest, &p.api_key, "\"order-1\"", &again).await;
        assert_eq!(second.status, 200);
        assert!(replayed(&second));
        assert_eq!(second.bytes, first.bytes);
        assert_eq!(stars(&rest, &p).await, 25);

        // The same key for another request: 422, and nothing happens.
        let other = post(
            &rest,
            &p.api_key,
            "\"order-1\"",
            &purchase(&p, "order-2", 900),
        )
        .await;
        assert_eq!(other.status, 422);
        assert_eq!(
            other.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(stars(&rest, &p).await, 25);

        // A refusal is an answer too: replayed, not run again.
        let broke = json!({"redemption_id": "r-1", "member_id": p.member_id, "reward_id": "nope"});
        let headers = [
            ("x-api-key", p.api_key.as_str()),
            ("idempotency-key", "r-1"),
        ];
        let refused = rest.post("/v1/redemptions", &headers, &broke).await;
        assert_eq!(refused.status, 404);
        let refused_again = rest.post("/v1/redemptions", &headers, &broke).await;
        assert_eq!(refused_again.status, 404);
        assert!(replayed(&refused_again));

        // A malformed key is refused before anything runs.
        let bad = post(&rest, &p.api_key, "two words", &purchase(&p, "order-3", 10)).await;
        assert_eq!(bad.status, 400);
        assert_eq!(bad.body["errors"][0]["field"], "Idempotency-Key");
        harness.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_while_the_first_runs_is_409_and_a_failed_first_runs_again() {
    each_backend(|backend| async move {
        let mut harness = Harness::start(backend).await;
        let p = harness.programme("inflight").await;
        let mechanics = Proxy::start().await;
        harness
            .restart_through(&[(ServiceKind::Mechanics, &mechanics)])
            .await;
        let rest = harness.rest();
        let body = purchase(&p, "slow-1", 100);
        mechanics.stall();
        let first = tokio::spawn({
            let (rest, key, body) = (rest.clone(), p.api_key.clone(), body.clone());
            async move { post(&rest, &key, "slow-1", &body).await }
        });
        eventually("the first request reaches mechanics", || async {
            mechanics.swallowed_a_call().then_some(())
        })
        .await;
        let retry = post(&rest, &p.api_key, "slow-1", &body).await;
        assert_eq!(retry.status, 409, "{:?}", retry.body);
        assert_eq!(retry.header("retry-after"), Some("1"));

        // The first dies with mechanics' connection: a 503 is not kept…
        mechanics.cut();
        assert_eq!(first.await.unwrap().status, 503);
        mechanics.mend();
        // …so the retry runs, once, and is replayed after.
        let ran = post(&rest, &p.api_key, "slow-1", &body).await;
        assert_eq!(ran.status, 200, "{:?}", ran.body);
        assert!(!replayed(&ran));
        assert!(replayed(&post(&rest, &p.api_key, "slow-1", &body).await));
        assert_eq!(stars(&rest, &p).await, 10);
        harness.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_are_per_client_and_outlive_a_restart_and_a_replica() {
    each_backend(|backend| async move {
        let mut harness = Harness::start(backend).await;
        let p = harness.programme("replicas").await;
        let rest = harness.rest();
        let first = post(&rest, &p.api_key, "shared", &purchase(&p, "till-1", 100)).await;
        assert_eq!(first.status, 200, "{:?}", first.body);

        // Another client's same key is its own: it runs, with its own body.
        let till = harness.server_client(&p, "till").await;
        let theirs = post(&rest, &till, "shared", &purchase(&p, "till-2", 200)).await;
        assert_eq!(theirs.status, 200, "{:?}", theirs.body);
        assert!(!replayed(&theirs));
        assert_eq!(stars(&rest, &p).await, 30);

        // After a restart of every part, the key still replays.
        harness.restart().await;
        let rest = harness.rest();
        let after = post(&rest, &p.api_key, "shared", &purchase(&p, "till-1", 100)).await;
        assert!(replayed(&after));
        assert_eq!(after.bytes, first.bytes);

        // A second gateway on the same database sees it too.
        let mut settings = (*harness.mesh().settings).clone();
        settings.gateway.listen = "127.0.0.1:0".into();
        settings.gateway.admin_listen = String::new();
        let replica = Mesh::start(settings, &[Part::Gateway]).await.unwrap();
        let other = Rest {
            base: format!("http://{}", replica.addrs[&Part::Gateway]),
            http: reqwest::Client::new(),
        };
        let there = post(&other, &p.api_key, "shared", &purchase(&p, "till-1", 100)).await;
        assert!(replayed(&there), "{:?}", there.body);
        let mismatch = post(&other, &p.api_key, "shared", &purchase(&p, "till-9", 1)).await;
        assert_eq!(mismatch.status, 422);
        assert_eq!(stars(&other, &p).await, 30);
        replica.stop().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        harness.cleanup().await;
    })
    .await;
}
