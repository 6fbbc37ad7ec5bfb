//! The webhook sender: looks for due deliveries when woken (a delivery
//! staged, an attempt due) and at least once a second, claims each for one
//! attempt, and sends it with every secret in force. Each endpoint has at
//! most `per_endpoint` attempts under way, so a slow or dead receiver
//! holds up only its own deliveries; every attempt is timed out.

use questline_kit::DomainError;
use questline_kit::config::WebhookSettings;
use questline_kit::time::now_ms;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::webhooks::destination::{self, Allowed};
use crate::domain::webhooks::endpoint::EndpointSpec;
use crate::domain::webhooks::schedule::{self, Schedule};
use crate::domain::webhooks::signature::{self, Secret};
use crate::domain::webhooks::{Verdict, verdict};
use crate::flow::sending::{POLL, describe, jitter, millis, truncated};
use crate::store::Store;
use crate::store::entities::{attempt, delivery, endpoint};
use crate::store::webhooks::{AttemptDone, DELIVERED, Due, FAILED, PENDING};

/// Most endpoints with due deliveries looked at per look.
const LOOK: u64 = 200;
/// How long a claim outlives an attempt's timeout: a sender that died
/// mid-attempt leaves the delivery to another after it.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

pub struct Sender {
    store: Store,
    client: reqwest::Client,
    schedule: Schedule,
    allowed: Allowed,
    timeout: Duration,
    per_endpoint: usize,
    wake: Notify,
    /// Attempts under way per (tenant, endpoint).
    busy: Mutex<HashMap<(String, String), usize>>,
}

impl Sender {
    pub fn new(store: Store, settings: &WebhookSettings) -> anyhow::Result<Arc<Sender>> {
        let allowed = Allowed::parse(&settings.allow_networks).map_err(anyhow::Error::msg)?;
        let schedule = Schedule::parse(&settings.retry_schedule).map_err(anyhow::Error::msg)?;
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A redirect is a failure (the endpoint's URL should change),
            // and a proxy from the environment would skip the address check.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(Checked(allowed.clone())))
            .user_agent(concat!("Questline-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Arc::new(Sender {
            store,
            client,
            schedule,
            allowed,
            timeout,
            per_endpoint: settings.per_endpoint.max(1),
            wake: Notify::new(),
            busy: Mutex::new(HashMap::new()),
        }))
    }

    /// Stages a delivery of each carried event to each of its tenant's
    /// enabled endpoints that wants it, and looks at once.
    pub async fn stage(&self, carried: Vec<Carried>) -> Result<(), DomainError> {
        if carried.is_empty() {
            return Ok(());
        }
        let mut tenants: Vec<&str> = carried.iter().map(|c| c.tenant_id.as_str()).collect();
        tenants.sort_unstable();
        tenants.dedup();
        // Each endpoint's filter read once, for every event of the batch.
        let endpoints: Vec<(endpoint::Model, Vec<String>)> = self
            .store
            .enabled_endpoints(&tenants)
            .await?
            .into_iter()
            .filter_map(|e| types_of(&e).map(|types| (e, types)))
            .collect();
        let mut rows = Vec::new();
        for event in &carried {
            let wanting = endpoints.iter().filter(|(e, types)| {
                e.tenant_id == event.tenant_id && EndpointSpec::wants(types, &event.event_type)
            });
            rows.extend(wanting.map(|(endpoint, _)| delivery_of(event, endpoint)));
        }
        if self.store.stage_deliveries(rows).await? {
            self.wake();
        }
        Ok(())
    }

    /// The networks webhooks may reach although private, as the operator set them.
    pub fn allowed(&self) -> &Allowed {
        &self.allowed
    }

    /// Looks again now: something was staged or became due.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Sends due deliveries until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let look = || Arc::clone(&self).look();
        super::sending::keep_looking("webhooks", &self.wake, shutdown, look).await;
    }

    /// Starts an attempt for every due delivery whose endpoint has room,
    /// endpoint by endpoint, so one endpoint's backlog crowds out no other.
    async fn look(self: Arc<Self>) -> Result<(), DomainError> {
        let now = now_ms();
        for key in self.store.due_endpoints(now, LOOK).await? {
            let room = self.room(&key);
            if room == 0 {
                continue;
            }
            for due in self.store.due(&key, now, room as u64).await? {
                let Some(slot) = Slot::take(&self, &key) else {
                    break;
                };
                let lease = self.lease();
                if !self.store.claim(&due.delivery, lease).await? {
                    continue;
                }
                tokio::spawn(Arc::clone(&self).work(due, lease, slot));
            }
        }
        Ok(())
    }

    /// Makes the claimed attempt, then, holding the same slot, takes the
    /// endpoint's next due delivery until none is left: a backlog drains
    /// without a look over every endpoint after each attempt.
    async fn work(self: Arc<Self>, first: Due, lease: i64, slot: Slot) {
        let mut next = Some((first, lease));
        while let Some((due, lease)) = next.take() {
            let id = due.delivery.delivery_id.clone();
            if let Err(err) = self.attempt(due, lease).await {
                tracing::warn!(%err, delivery_id = %id, "webhooks: recording an attempt failed");
                break;
            }
            next = match self.next_due(&slot.key).await {
                Ok(found) => found,
                Err(err) => {
                    tracing::warn!(%err, "webhooks: looking for the endpoint's next delivery failed");
                    None
                }
            };
        }
        drop(slot);
    }

    /// Claims the endpoint's next due delivery, if there is one no other
    /// attempt took first.
    async fn next_due(&self, key: &(String, String)) -> Result<Option<(Due, i64)>, DomainError> {
        let most = self.per_endpoint as u64;
        for due in self.store.due(key, now_ms(), most).await? {
            let lease = self.lease();
            if self.store.claim(&due.delivery, lease).await? {
                return Ok(Some((due, lease)));
            }
        }
        Ok(None)
    }

    /// Until when a claim made now holds its delivery.
    fn lease(&self) -> i64 {
        now_ms() + millis(self.timeout + LEASE_MARGIN)
    }

    /// How many more attempts `key`'s endpoint may have under way here.
    fn room(&self, key: &(String, String)) -> usize {
        let busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        self.per_endpoint
            .saturating_sub(busy.get(key).copied().unwrap_or(0))
    }

    /// One attempt: sent, answered (or not), recorded with what follows.
    async fn attempt(self: &Arc<Self>, due: Due, lease: i64) -> Result<(), DomainError> {
        let Due { delivery, endpoint } = due;
        let started = Instant::now();
        let at = now_ms();
        let answer = self.send(&delivery, &endpoint, at).await;
        let latency_ms = started.elapsed().as_millis() as i64;
        let (status_code, retry_after, error) = match answer {
            Ok((status, retry_after)) => (Some(status), retry_after, String::new()),
            Err(err) => (None, None, err),
        };
        let made = delivery.round_attempts as usize + 1;
        let (status, next_attempt_at, disable_because) = match verdict(status_code) {
            Verdict::Delivered => (DELIVERED, at, None),
            Verdict::Gone => (
                FAILED,
                at,
                Some("the receiver answered 410 Gone".to_string()),
            ),
            Verdict::Retry => match self.schedule.next(made, jitter(), retry_after) {
                Some(wait) => {
                    self.wake_after(wait);
                    (PENDING, now_ms() + millis(wait), None)
                }
                None => (FAILED, at, None),
            },
        };
        let error = match (status_code, error) {
            (Some(code), e) if e.is_empty() && !(200..300).contains(&code) => {
                format!("the receiver answered {code}")
            }
            (_, e) => e,
        };
        let attempt = attempt::Model {
            delivery_id: delivery.delivery_id.clone(),
            attempt: delivery.attempts + 1,
            tenant_id: delivery.tenant_id.clone(),
            at,
            status_code: status_code.map_or(0, i32::from),
            latency_ms,
            error: truncated(error),
        };
        let done = AttemptDone {
            attempt,
            status,
            next_attempt_at,
            disable_because,
            lease,
            endpoint_version: endpoint.version,
        };
        if self.store.record_attempt(&delivery, done).await? {
            count(status);
        } else {
            tracing::debug!(delivery_id = %delivery.delivery_id, "webhooks: the delivery changed during its attempt");
        }
        Ok(())
    }

    /// Posts the delivery; the answer's status and `Retry-After`, or why
    /// none came.
    async fn send(
        &self,
        delivery: &delivery::Model,
        endpoint: &endpoint::Model,
        at_ms: i64,
    ) -> Result<(u16, Option<Duration>), String> {
        // The URL again: the operator's allowed networks may have changed.
        destination::check_url(&endpoint.url, &self.allowed)?;
        let secrets = secrets_in_force(endpoint, at_ms)?;
        let timestamp = at_ms / 1000;
        let body = delivery.payload.as_bytes();
        let signature = signature::header(&secrets, &delivery.delivery_id, timestamp, body);
        let answer = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.delivery_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(describe)?;
        let retry_after = answer
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(schedule::retry_after);
        Ok((answer.status().as_u16(), retry_after))
    }
}

impl Sender {
    /// Looks again once `wait` has passed, when that is before the poll.
    fn wake_after(self: &Arc<Self>, wait: Duration) {
        if wait < POLL {
            let sender = Arc::clone(self);
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                sender.wake();
            });
        }
    }
}

/// A domain event webhooks carry, with the body they send.
pub struct Carried {
    pub tenant_id: String,
    pub event_id: String,
    pub event_type: String,
    /// The member it is about, if any.
    pub member_id: String,
    pub body: String,
}

/// One attempt's place among its endpoint's: given back when dropped, even
/// if the attempt panics.
struct Slot {
    sender: Arc<Sender>,
    key: (String, String),
}

impl Slot {
    fn take(sender: &Arc<Sender>, key: &(String, String)) -> Option<Slot> {
        let mut busy = sender.busy.lock().unwrap_or_else(|p| p.into_inner());
        let n = busy.entry(key.clone()).or_default();
        if *n >= sender.per_endpoint {
            return None;
        }
        *n += 1;
        Some(Slot {
            sender: Arc::clone(sender),
            key: key.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut busy = self.sender.busy.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = busy.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                busy.remove(&self.key);
            }
        }
    }
}

/// A new delivery of `event` to `endpoint`, due now.
fn delivery_of(event: &Carried, endpoint: &endpoint::Model) -> delivery::Model {
    let now = now_ms();
    delivery::Model {
        delivery_id: format!("msg_{}", questline_kit::new_id()),
        tenant_id: event.tenant_id.clone(),
        endpoint_id: endpoint.endpoint_id.clone(),
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        member_id: event.member_id.clone(),
        payload: event.body.clone(),
        status: PENDING.into(),
        attempts: 0,
        round_attempts: 0,
        last_status_code: 0,
        last_error: String::new(),
        next_attempt_at: now,
        created_at: now,
    }
}

/// The event types an endpoint filters for, as stored; `None` when the
/// stored list is unreadable (the endpoint then gets nothing).
pub fn types_of(endpoint: &endpoint::Model) -> Option<Vec<String>> {
    let types = serde_json::from_str(&endpoint.event_types);
    if types.is_err() {
        tracing::warn!(endpoint_id = %endpoint.endpoint_id, "webhooks: unreadable event types; the endpoint gets nothing");
    }
    types.ok()
}

/// The endpoint's secrets that sign at `at_ms`: the current one, and the
/// one rotated out while its grace lasts. Never an unsigned delivery: an
/// unreadable stored secret fails the attempt.
fn secrets_in_force(endpoint: &endpoint::Model, at_ms: i64) -> Result<Vec<Secret>, String> {
    let unreadable = || "the endpoint's secret is unreadable".to_string();
    [
        Some(endpoint.secret.as_str()),
        endpoint.previous_secret_at(at_ms),
    ]
    .into_iter()
    .flatten()
    .map(|text| Secret::parse(text).ok_or_else(unreadable))
    .collect()
}

/// A number in [0, 1) from the system's randomness (0 if it fails).
/// Counts what attempts led to on the webhook channel.
fn count(status: &str) {
    let outcome = match status {
        DELIVERED => "sent",
        FAILED => "failed",
        _ => "retried",
    };
    metrics::counter!(questline_kit::meter::NOTIFICATIONS, "channel" => "webhook", "outcome" => outcome)
        .increment(1);
}

/// Resolves a host to the addresses webhooks may reach: a name that
/// resolves only inside the cluster is refused before any connection.
struct Checked(Allowed);

impl Resolve for Checked {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let permitted: Vec<SocketAddr> = found.filter(|a| allowed.permits(a.ip())).collect();
            if permitted.is_empty() {
                let why = format!(
                    "no address of {host} is a public one (the operator may allow its network)"
                );
                return Err(why.into());
            }
            let addrs: Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}
