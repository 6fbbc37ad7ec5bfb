//! The event bus behind one trait: in-process for `questline dev` and tests,
//! NATS JetStream in production. Both deliver at least once; consumers make the
//! effect exactly-once with their inbox.

use async_trait::async_trait;
use futures::StreamExt;
use questline_proto::events::Event;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, RwLock, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::{BusKind, BusSettings};
use crate::error::DomainError;
use crate::events::Route;
use crate::meter;

/// What a consumer does with one event. An error means "deliver it again later".
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(&self, event: &Event) -> Result<(), DomainError>;

    /// Whether `handle` does anything with `event`. The bus acknowledges
    /// the others without a delivery or a span: most events concern one or
    /// two of a process's consumers.
    fn wants(&self, _event: &Event) -> bool {
        true
    }
}

#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Returns once the bus has durably accepted the event.
    async fn publish(&self, event: &Event) -> anyhow::Result<()>;
    /// Registers the durable consumer `consumer` and delivers every event to
    /// `handler` in the background until `shutdown`.
    async fn subscribe(
        &self,
        consumer: &str,
        handler: Arc<dyn EventHandler>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()>;
    /// Whether the bus can take a publish now (readiness).
    fn connected(&self) -> bool;
    /// Events `consumer` has not handled yet.
    async fn pending(&self, consumer: &str) -> anyhow::Result<u64>;
    /// Where `event` travels, as spans name it.
    fn route(&self, event: &Event) -> Route;
}

/// The configured bus. `consumers` names every consumer the process will run:
/// the in-process bus holds events back until all of them have subscribed, so
/// nothing published at start-up is lost.
pub async fn connect(
    settings: &BusSettings,
    consumers: &[&str],
) -> anyhow::Result<Arc<dyn EventBus>> {
    Ok(match settings.kind {
        BusKind::Memory => Arc::new(MemoryBus::expecting(consumers)),
        BusKind::Nats => Arc::new(NatsBus::connect(settings).await?),
    })
}

type Delivery = (Event, oneshot::Sender<Result<(), DomainError>>);

/// In-process bus: `publish` hands the event to every subscriber and returns
/// when all of them have handled it, so the outbox only marks an event
/// published once its effects are committed. Only for one process.
#[derive(Default)]
pub struct MemoryBus {
    subscribers: RwLock<Vec<Subscriber>>,
    expected: Vec<String>,
    joined: Notify,
}

/// A consumer of the in-process bus: its name, what it wants, its queue.
#[derive(Clone)]
struct Subscriber {
    name: String,
    handler: Arc<dyn EventHandler>,
    deliveries: mpsc::Sender<Delivery>,
}

impl MemoryBus {
    pub fn expecting(consumers: &[&str]) -> MemoryBus {
        MemoryBus {
            expected: consumers.iter().map(|c| c.to_string()).collect(),
            ..MemoryBus::default()
        }
    }

    async fn all_joined(&self) {
        loop {
            let joined = self.joined.notified();
            {
                let subscribers = self.subscribers.read().await;
                let missing = self
                    .expected
                    .iter()
                    .any(|name| !subscribers.iter().any(|s| &s.name == name));
                if !missing {
                    return;
                }
            }
            joined.await;
        }
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, event: &Event) -> anyhow::Result<()> {
        self.all_joined().await;
        let subscribers = self.subscribers.read().await.clone();
        for subscriber in subscribers.iter().filter(|s| s.handler.wants(event)) {
            let consumer = &subscriber.name;
            let (ack, acked) = oneshot::channel();
            subscriber
                .deliveries
                .send((event.clone(), ack))
                .await
                .map_err(|_| anyhow::anyhow!("consumer {consumer} has stopped"))?;
            acked
                .await
                .map_err(|_| anyhow::anyhow!("consumer {consumer} dropped the event"))?
                .map_err(|err| anyhow::anyhow!("consumer {consumer} failed: {err}"))?;
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        consumer: &str,
        handler: Arc<dyn EventHandler>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let (sender, mut deliveries) = mpsc::channel::<Delivery>(64);
        self.subscribers.write().await.push(Subscriber {
            name: consumer.to_string(),
            handler: Arc::clone(&handler),
            deliveries: sender,
        });
        self.joined.notify_waiters();
        let consumer = consumer.to_string();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    delivery = deliveries.recv() => {
                        let Some((event, ack)) = delivery else { return };
                        let _ = ack.send(deliver_in_process(&consumer, handler.as_ref(), &event).await);
                    }
                }
            }
        });
        Ok(())
    }

    fn connected(&self) -> bool {
        true
    }

    fn route(&self, event: &Event) -> Route {
        memory_route(event)
    }

    /// Deliveries queued for the consumer; a publisher waits on each, so
    /// the outbox holds the rest of the backlog.
    async fn pending(&self, consumer: &str) -> anyhow::Result<u64> {
        let subscribers = self.subscribers.read().await;
        let queued = subscribers
            .iter()
            .filter(|s| s.name == consumer)
            .map(|s| s.deliveries.max_capacity() - s.deliveries.capacity())
            .sum::<usize>();
        Ok(queued as u64)
    }
}

/// How often a consumer is offered one event before it is set aside, so one
/// event it can never handle does not stop every later one.
pub const MAX_DELIVERIES: u32 = 10;

/// The in-process bus retries here, with a growing pause, then sets the event
/// aside with an error log (a dead-letter store comes with operations work).
async fn deliver_in_process(
    consumer: &str,
    handler: &dyn EventHandler,
    event: &Event,
) -> Result<(), DomainError> {
    let route = memory_route(event);
    for attempt in 1..=MAX_DELIVERIES {
        match handle_in_span(consumer, handler, event, &route).await {
            Ok(()) => return Ok(()),
            Err(_) if attempt < MAX_DELIVERIES => {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            Err(_) => dead_letter(consumer, event),
        }
    }
    Ok(())
}

/// In one process an event travels by its type.
fn memory_route(event: &Event) -> Route {
    Route {
        system: "questline_in_process",
        destination: event.r#type.clone(),
    }
}

/// How long JetStream waits before offering a failed event again: doubling
/// from 2 s up to 5 min, so the ten deliveries span about 13 minutes and a
/// consumer's database can be down that long before anything is set aside.
fn redelivery_delay(attempt: i64) -> Duration {
    let exponent = attempt.clamp(1, 9);
    Duration::from_secs((1u64 << exponent).min(300))
}

fn dead_letter(consumer: &str, event: &Event) {
    metrics::counter!(meter::DEAD_LETTERS, "consumer" => consumer.to_string()).increment(1);
    tracing::error!(
        consumer,
        event_id = %event.event_id,
        event_type = %event.r#type,
        attempts = MAX_DELIVERIES,
        "event set aside after repeated failures"
    );
}

async fn handle_in_span(
    consumer: &str,
    handler: &dyn EventHandler,
    event: &Event,
    route: &Route,
) -> Result<(), DomainError> {
    use tracing::Instrument;
    let span = crate::events::handling_span(consumer, event, route);
    let result = handler.handle(event).instrument(span.clone()).await;
    if result.is_err() {
        span.record("otel.status_code", "error");
    }
    let outcome = if result.is_ok() { "ok" } else { "failed" };
    metrics::counter!(meter::EVENTS_HANDLED, "consumer" => consumer.to_string(), "outcome" => outcome)
        .increment(1);
    if let Err(err) = &result {
        tracing::warn!(consumer, event_id = %event.event_id, %err, "event handling failed");
    }
    result
}

/// NATS JetStream: one stream holding `<prefix>.>`, `Nats-Msg-Id` = event id so
/// the server drops duplicate publishes, and one durable pull consumer per service.
///
/// Durability note for operators: JetStream acknowledges a publish before the
/// write is fsynced (server setting `sync_interval`, 2 minutes by default). A
/// single-node production server should set `sync_interval: always`; a
/// three-node cluster is safe with the default because a publish is acked only
/// once a quorum holds it.
pub struct NatsBus {
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    events: async_nats::jetstream::stream::Stream,
    stream: String,
    prefix: String,
}

impl NatsBus {
    /// `<prefix>.<tenant>.<type>`: one subject per tenant and event type.
    fn subject(&self, event: &Event) -> String {
        format!("{}.{}.{}", self.prefix, event.tenant_id, event.r#type)
    }

    pub async fn connect(settings: &BusSettings) -> anyhow::Result<NatsBus> {
        use async_nats::jetstream::stream;
        let client = async_nats::connect(&settings.nats_url).await?;
        let js = async_nats::jetstream::new(client.clone());
        let events = js
            .get_or_create_stream(stream::Config {
                name: settings.stream.clone(),
                subjects: vec![format!("{}.>", settings.subject_prefix)],
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                num_replicas: settings.stream_replicas,
                ..Default::default()
            })
            .await?;
        Ok(NatsBus {
            client,
            js,
            events,
            stream: settings.stream.clone(),
            prefix: settings.subject_prefix.clone(),
        })
    }

    /// Removes the stream and everything in it (tests clean up with this).
    pub async fn delete_stream(&self) -> anyhow::Result<()> {
        self.js.delete_stream(&self.stream).await?;
        Ok(())
    }
}

#[async_trait]
impl EventBus for NatsBus {
    async fn publish(&self, event: &Event) -> anyhow::Result<()> {
        let subject = self.subject(event);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, event.event_id.as_str());
        self.js
            .publish_with_headers(subject, headers, crate::events::encode(event).into())
            .await?
            .await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        consumer: &str,
        handler: Arc<dyn EventHandler>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        use async_nats::jetstream::{AckKind, consumer::pull};
        let stream = self.js.get_stream(&self.stream).await?;
        let pull_consumer = stream
            .get_or_create_consumer(
                consumer,
                pull::Config {
                    durable_name: Some(consumer.to_string()),
                    ack_wait: Duration::from_secs(30),
                    max_deliver: i64::from(MAX_DELIVERIES),
                    ..Default::default()
                },
            )
            .await?;
        let mut messages = pull_consumer.messages().await?;
        let consumer = consumer.to_string();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    next = messages.next() => next,
                };
                let message = match message {
                    Some(Ok(message)) => message,
                    Some(Err(err)) => {
                        tracing::warn!(%consumer, %err, "bus receive failed");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                    None => return,
                };
                let route = Route {
                    system: "nats",
                    destination: message.subject.to_string(),
                };
                let ack = match crate::events::decode(&message.payload) {
                    Ok(event) if !handler.wants(&event) => AckKind::Ack,
                    Ok(event) => {
                        match handle_in_span(&consumer, handler.as_ref(), &event, &route).await {
                            Ok(()) => AckKind::Ack,
                            Err(_) => {
                                let attempt = message.info().map(|i| i.delivered).unwrap_or(1);
                                if attempt >= i64::from(MAX_DELIVERIES) {
                                    dead_letter(&consumer, &event);
                                    AckKind::Term
                                } else {
                                    AckKind::Nak(Some(redelivery_delay(attempt)))
                                }
                            }
                        }
                    }
                    Err(err) => {
                        tracing::error!(%consumer, %err, "undecodable event dropped");
                        AckKind::Term
                    }
                };
                if let Err(err) = message.ack_with(ack).await {
                    tracing::warn!(%consumer, %err, "bus ack failed; the event will come again");
                }
            }
        });
        Ok(())
    }

    fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    fn route(&self, event: &Event) -> Route {
        Route {
            system: "nats",
            destination: self.subject(event),
        }
    }

    /// Not yet delivered, plus delivered and not yet acknowledged.
    async fn pending(&self, consumer: &str) -> anyhow::Result<u64> {
        let info = self.events.consumer_info(consumer).await?;
        Ok(info.num_pending + info.num_ack_pending as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use questline_proto::events::event::Payload;
    use questline_proto::events::{PointsCredited, RuleChanged};
    use std::sync::Mutex;

    /// Keeps the types of the events handed to it; wants only credits.
    #[derive(Default)]
    struct Credits(Mutex<Vec<String>>);

    #[async_trait]
    impl EventHandler for Credits {
        fn wants(&self, event: &Event) -> bool {
            matches!(event.payload, Some(Payload::PointsCredited(_)))
        }

        async fn handle(&self, event: &Event) -> Result<(), DomainError> {
            self.0.lock().expect("lock").push(event.r#type.clone());
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_in_process_bus_hands_a_consumer_only_what_it_wants() {
        let bus = MemoryBus::expecting(&["credits"]);
        let credits = Arc::new(Credits::default());
        let shutdown = CancellationToken::new();
        let handler: Arc<dyn EventHandler> = credits.clone();
        bus.subscribe("credits", handler, shutdown.clone())
            .await
            .unwrap();
        let event = |payload| crate::events::new_event("t", "test", "", payload);
        let changed = event(Payload::RuleChanged(RuleChanged::default()));
        let credited = event(Payload::PointsCredited(PointsCredited::default()));
        bus.publish(&changed).await.unwrap();
        bus.publish(&credited).await.unwrap();
        assert_eq!(*credits.0.lock().unwrap(), ["points.credited"]);
        shutdown.cancel();
    }

    #[test]
    fn redeliveries_back_off_for_minutes_before_an_event_is_set_aside() {
        let delays: Vec<u64> = (1..i64::from(MAX_DELIVERIES))
            .map(|n| redelivery_delay(n).as_secs())
            .collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(redelivery_delay(50).as_secs(), 300);
        assert_eq!(redelivery_delay(0).as_secs(), 2);
        assert!(delays.iter().sum::<u64>() > 13 * 60);
    }
}
