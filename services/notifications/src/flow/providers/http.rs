//! The generic HTTP provider for push and SMS: each message is a JSON POST
//! signed as Standard Webhooks sign (`webhook-id` is the dispatch id, so a
//! gateway drops a retried one it already took). A 2xx answer is sent; a
//! 4xx but 408 and 429 is refused for good; anything else is tried again.

use async_trait::async_trait;
use serde_json::json;
use std::time::Duration;

use super::{Failure, Letter, Provider};
use crate::domain::channels::Channel;
use crate::domain::webhooks::signature::{self, Secret};
use crate::flow::sending::describe;

pub struct HttpProvider {
    channel: Channel,
    url: String,
    secret: Secret,
    client: reqwest::Client,
}

impl HttpProvider {
    pub fn new(
        channel: Channel,
        url: &str,
        secret: &str,
        timeout: Duration,
    ) -> anyhow::Result<HttpProvider> {
        let name = channel.name();
        let parsed =
            url::Url::parse(url).map_err(|err| anyhow::anyhow!("messaging.{name}_url: {err}"))?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "http" | "https"),
            "messaging.{name}_url must be http(s)"
        );
        let secret = Secret::parse(secret)
            .ok_or_else(|| anyhow::anyhow!("messaging.{name}_secret must be a whsec_ secret"))?;
        // The operator's own gateway: no redirects, no proxy from the environment.
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("Questline-Messaging/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HttpProvider {
            channel,
            url: url.into(),
            secret,
            client,
        })
    }

    fn body(&self, letter: &Letter<'_>) -> serde_json::Value {
        let d = letter.dispatch;
        let mut body = json!({
            "type": self.channel.name(),
            "id": d.dispatch_id,
            "tenant_id": d.tenant_id,
            "member_id": d.member_id,
            "purpose": d.purpose,
            "topic": d.topic,
            "event_type": d.event_type,
            "event_id": d.event_id,
            "body": d.body,
        });
        match self.channel {
            Channel::Push => {
                body["external_id"] = letter.to.clone().into();
                body["title"] = d.subject.clone().into();
            }
            _ => body["to"] = letter.to.clone().into(),
        }
        body
    }
}

#[async_trait]
impl Provider for HttpProvider {
    async fn send(&self, letter: &Letter<'_>) -> Result<(), Failure> {
        let body = self.body(letter).to_string();
        let timestamp = questline_kit::time::now_ms() / 1000;
        let id = &letter.dispatch.dispatch_id;
        let signed = signature::header(
            std::slice::from_ref(&self.secret),
            id,
            timestamp,
            body.as_bytes(),
        );
        let answer = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signed)
            .body(body)
            .send()
            .await
            .map_err(|err| Failure::transient(describe(err)))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        let words = format!("the {} provider answered {status}", self.channel.name());
        let retry = status.is_server_error() || matches!(status.as_u16(), 408 | 429);
        Err(if retry {
            Failure::transient(words)
        } else {
            Failure::permanent(words)
        })
    }
}
