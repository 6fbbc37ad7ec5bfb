//! An upstream killed mid-call, as an SRE would see it: the caller gets
//! UNAVAILABLE over gRPC and 503 with `Retry-After` from the gateway — the
//! answers the docs call retryable — never INTERNAL or 500, and the retry
//! counts once. A call past its deadline answers DEADLINE_EXCEEDED, and the
//! connection it came on keeps serving.

#![allow(clippy::unwrap_used)]

use prost::Message;
use questline_kit::config::ServiceKind;
use questline_proto::ledger::GetBalancesRequest;
use questline_tests::proxy::Proxy;
use questline_tests::raw::RawCall;
use questline_tests::{Api, Harness, Programme, each_backend, track};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

async fn stars(api: &mut Api, p: &Programme) -> i64 {
    let balances = api
        .ledger
        .get_balances(GetBalancesRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: p.member_id.clone(),
            expiring_within_days: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .balances;
    balances.iter().map(|b| b.total).sum()
}

/// Waits until the stalled proxy has swallowed a call.
async fn reached(proxy: &Proxy) {
    for _ in 0..200 {
        if proxy.swallowed_a_call() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no call reached the proxy");
}

/// One `POST /v1/events` over HTTP/1.1; (status, head, body).
async fn post_event(
    gateway: &str,
    api_key: &str,
    p: &Programme,
    event_id: &str,
) -> (u16, String, String) {
    let body = format!(
        r#"{{"event_id":"{event_id}","member_id":"{}","type":"purchase","attributes":{{"amount":100}}}}"#,
        p.member_id
    );
    let addr = gateway.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nX-Api-Key: {api_key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upstream_killed_mid_call_is_unavailable_and_the_retry_counts_once() {
    each_backend(|backend| async move {
        let mut harness = Harness::start(backend).await;
        let p = harness.programme("killed").await;
        let (ledger, mechanics) = (Proxy::start().await, Proxy::start().await);
        harness
            .restart_through(&[
                (ServiceKind::Ledger, &ledger),
                (ServiceKind::Mechanics, &mechanics),
            ])
            .await;
        let mut api = harness.api(Some(&p.token));
        let warm = track(&p.tenant_id, &p.member_id, "warm", 100.0);
        api.mechanics.track(warm).await.unwrap();

        // The ledger dies while mechanics waits for its credit.
        ledger.stall();
        let mut caller = harness.api(Some(&p.token));
        let during = track(&p.tenant_id, &p.member_id, "during", 100.0);
        let call = tokio::spawn(async move { caller.mechanics.track(during).await });
        reached(&ledger).await;
        ledger.cut();
        let status = call.await.unwrap().unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        ledger.mend();

        // Mechanics dies while the gateway waits for it.
        mechanics.stall();
        let gateway = harness.gateway();
        let (key, q) = (p.api_key.clone(), p.clone());
        let http = tokio::spawn(async move { post_event(&gateway, &key, &q, "gw-during").await });
        reached(&mechanics).await;
        mechanics.cut();
        let (status, head, body) = http.await.unwrap();
        assert_eq!(status, 503, "{head}\n{body}");
        assert!(head.contains("\r\nretry-after: 1"), "{head}");
        assert!(head.contains("application/problem+json"), "{head}");
        mechanics.mend();

        // Both retried: each purchase earns its 10 stars once.
        let mut api = harness.api(Some(&p.token));
        let again = track(&p.tenant_id, &p.member_id, "during", 100.0);
        let replayed = api.mechanics.track(again).await.unwrap().into_inner();
        assert_eq!(replayed.awards[0].points, 10);
        let (status, _, body) = post_event(&harness.gateway(), &p.api_key, &p, "gw-during").await;
        assert_eq!(status, 200, "{body}");
        let again = track(&p.tenant_id, &p.member_id, "during", 100.0);
        api.mechanics.track(again).await.unwrap();
        assert_eq!(stars(&mut api, &p).await, 30);
        drop((ledger, mechanics));
        harness.cleanup().await;
    })
    .await;
}

/// `message` as a raw call to mechanics' Track; the status the server sent.
async fn raw_call(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    addr: &str,
    token: &str,
    timeout: &str,
    message: &impl Message,
) -> String {
    let call = RawCall {
        addr,
        path: "/questline.mechanics.v1.MechanicsService/Track",
        token,
        headers: &[("grpc-timeout", timeout)],
    };
    call.send(client, &message.encode_to_vec()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_past_its_deadline_answers_deadline_exceeded() {
    each_backend(|backend| async move {
        let mut harness = Harness::start(backend).await;
        let p = harness.programme("deadline").await;
        let ledger = Proxy::start().await;
        harness
            .restart_through(&[(ServiceKind::Ledger, &ledger)])
            .await;
        let endpoint = harness.mesh().endpoint(ServiceKind::Mechanics);
        let addr = endpoint.trim_start_matches("http://").to_string();
        let mut client = questline_tests::raw::connect(&addr).await;

        // A flood of 1 ms deadlines on one connection: each one answered 4.
        for n in 0..50 {
            let event = track(&p.tenant_id, &p.member_id, &format!("rush-{n}"), 10.0);
            let status = raw_call(&mut client, &addr, &p.token, "1m", &event).await;
            assert_eq!(status, "4", "call {n}");
        }
        // A call that waits on a hung ledger ends at its deadline, not later.
        ledger.stall();
        let started = std::time::Instant::now();
        let slow = track(&p.tenant_id, &p.member_id, "slow", 100.0);
        let status = raw_call(&mut client, &addr, &p.token, "300m", &slow).await;
        assert_eq!(status, "4");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        // What the stall swallowed broke that connection's framing: start afresh.
        ledger.cut();
        ledger.mend();

        // The same connection still serves, and the cut-off work resumes once.
        let again = track(&p.tenant_id, &p.member_id, "slow", 100.0);
        let status = raw_call(&mut client, &addr, &p.token, "10S", &again).await;
        assert_eq!(status, "0");
        let mut api = harness.api(Some(&p.token));
        assert_eq!(stars(&mut api, &p).await, 10);
        drop(ledger);
        harness.cleanup().await;
    })
    .await;
}
