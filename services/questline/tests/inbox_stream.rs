//! Issue 23, check 4, against the real `questline dev`: a member app
//! watching its inbox — over gRPC (`WatchInbox`) and over the gateway's
//! Server-Sent Events — hears of a new message within 500 ms of the event
//! that caused it, each message once, in the order they came.

#![allow(clippy::unwrap_used)]

mod support;

use questline_proto::notifications::WatchInboxRequest;
use questline_proto::notifications::notifications_service_client::NotificationsServiceClient;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long after its event a watcher may hear of a message.
const WITHIN: Duration = Duration::from_millis(500);

/// Opens the gateway's stream of `member_id`'s inbox; each `message`
/// event's id arrives on the channel as it is read.
fn sse(dev: &support::Dev, member_id: &str) -> mpsc::Receiver<String> {
    let mut stream = TcpStream::connect(&dev.gateway).unwrap();
    write!(
        stream,
        "GET /v1/members/{member_id}/inbox/stream HTTP/1.1\r\nHost: {}\r\nX-Api-Key: {}\r\nAccept: text/event-stream\r\n\r\n",
        dev.gateway, dev.api_key
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // An event's fields until its blank line; chunk sizes read as
        // lines of their own and are passed over.
        let (mut name, mut id) = (String::new(), String::new());
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            let line = line.trim_end_matches('\r');
            if let Some(value) = line.strip_prefix("event: ") {
                name = value.to_string();
            } else if let Some(value) = line.strip_prefix("id: ") {
                id = value.to_string();
            } else if line.is_empty() {
                if name == "message" && tx.send(std::mem::take(&mut id)).is_err() {
                    return;
                }
                name.clear();
            }
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watching_app_hears_of_each_new_message_within_500_ms() {
    let root = tempfile::tempdir().unwrap();
    let dev = support::start(&root.path().join("data"));
    let token = dev.token().await;
    let mut request = tonic::Request::new(WatchInboxRequest {
        tenant_id: dev.tenant_id.clone(),
        member_id: dev.member_id.clone(),
        after_message_id: String::new(),
    });
    let bearer = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", bearer);
    let mut grpc = NotificationsServiceClient::new(dev.channel("notifications"))
        .watch_inbox(request)
        .await
        .unwrap()
        .into_inner();
    let events = sse(&dev, &dev.member_id);
    // The stream is open once the gateway answered its headers; a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut heard = Vec::new();
    for round in 0..5 {
        let sent = Instant::now();
        let body = support::purchase(&dev.member_id, &format!("watched-{round}"), 100);
        let dev_ref = &dev;
        let (status, answer) =
            tokio::task::block_in_place(|| dev_ref.http("POST", "/v1/events", &body));
        assert_eq!(status, 200, "{answer}");
        let by_grpc = tokio::time::timeout(Duration::from_secs(5), grpc.message())
            .await
            .expect("a message on the gRPC stream")
            .unwrap()
            .unwrap()
            .message
            .unwrap();
        let grpc_after = sent.elapsed();
        let by_sse = tokio::task::block_in_place(|| events.recv_timeout(Duration::from_secs(5)))
            .expect("a message on the SSE stream");
        let sse_after = sent.elapsed();
        assert_eq!(by_sse, by_grpc.message_id, "the same message on both");
        assert_eq!(by_grpc.title, "You earned 10 stars");
        heard.push((grpc_after, sse_after));
    }
    for (grpc_after, sse_after) in &heard {
        assert!(*grpc_after <= WITHIN && *sse_after <= WITHIN, "{heard:?}");
    }
    // Nothing more: each message came once.
    let more = tokio::time::timeout(Duration::from_millis(300), grpc.message()).await;
    assert!(more.is_err(), "a message came twice: {more:?}");
    dev.terminate();
}
