//! `questline receive-webhooks`: a webhook receiver for trying endpoints on
//! one machine. It accepts every delivery, checks its Standard Webhooks
//! signature when given the endpoint's secret (and that it was signed within
//! five minutes, against replays), and prints each delivery as one JSON
//! line: its `webhook-id`, whether it verified, and its body. A tool for a
//! developer's machine, not a receiver to deploy.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use questline_notifications::domain::webhooks::signature::Secret;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::Arc;

/// How far a delivery's timestamp may be from now (the specification's
/// reference libraries allow five minutes).
const TOLERANCE_SECONDS: i64 = 300;

/// Receives on `listen` until Ctrl-C; `secret` empty: nothing is verified.
pub async fn run(listen: &str, secret: &str) -> anyhow::Result<()> {
    let secret = match secret {
        "" => None,
        text => Some(
            Secret::parse(text)
                .ok_or_else(|| anyhow::anyhow!("the secret is not a whsec_ secret"))?,
        ),
    };
    let secret = Arc::new(secret);
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let secret = Arc::clone(&secret);
        async move { receive(secret.as_ref().as_ref(), &headers, &body) }
    });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, "receiving webhooks");
    axum::serve(listener, app)
        .with_graceful_shutdown(questline_kit::server::shutdown_signal())
        .await?;
    Ok(())
}

fn receive(secret: Option<&Secret>, headers: &HeaderMap, body: &[u8]) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let id = header("webhook-id");
    let verified = secret.map(|s| {
        let timestamp = header("webhook-timestamp").parse::<i64>().unwrap_or(0);
        let now = questline_kit::time::now_ms() / 1000;
        let expected = s.sign(id, timestamp, body);
        (now - timestamp).abs() <= TOLERANCE_SECONDS
            && header("webhook-signature")
                .split(' ')
                .any(|sig| sig == expected)
    });
    let body: Value =
        serde_json::from_slice(body).unwrap_or_else(|_| json!(String::from_utf8_lossy(body)));
    let line = json!({"webhook_id": id, "verified": verified, "body": body});
    let mut out = std::io::stdout().lock();
    // A closed stdout ends nothing: the delivery was still received.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    StatusCode::NO_CONTENT
}
