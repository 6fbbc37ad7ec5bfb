//! The event bus behind one trait: in-process for `questline dev` and tests,
//! NATS JetStream in production. Both deliver at least once; consumers make the
//! effect exactly-once with their inbox.

use async_trait::async_trait;
use futures::StreamExt;
use questline_proto::events::Event;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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

    /// Handles events that arrived together, to the same effect as `handle`
    /// on each in order; a consumer overrides it to share one transaction.
    /// On an error the bus hands them over again one by one, so what a
    /// failed call left done must be what a redelivery skips (the inbox).
    async fn handle_all(&self, events: &[Event]) -> Result<(), DomainError> {
        for event in events {
            self.handle(event).await?;
        }
        Ok(())
    }

    /// Whether `handle` does anything with `event`. The bus acknowledges
    /// the others without a delivery or a span: most events concern one or
    /// two of a process's consumers.
    fn wants(&self, _event: &Event) -> bool {
        true
    }
}

#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Returns once the bus has durably accepted every event, in order.
    async fn publish(&self, events: &[Event]) -> anyhow::Result<()>;
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

type Delivery = (Vec<Event>, oneshot::Sender<Result<(), DomainError>>);

/// In-process bus: `publish` hands each subscriber the events it wants, as
/// one delivery, and returns when all of them have handled theirs, so the
/// outbox only marks events published once their effects are committed.
/// Only for one process.
#[derive(Default)]
pub struct MemoryBus {
    subscribers: RwLock<Vec<Subscriber>>,
    expected: Vec<String>,
    joined: Notify,
}

/// A consumer of the in-process bus: its name, what it wants, its queue
/// and how many events wait in it.
#[derive(Clone)]
struct Subscriber {
    name: String,
    handler: Arc<dyn EventHandler>,
    deliveries: mpsc::Sender<Delivery>,
    queued: Arc<AtomicUsize>,
}

impl Subscriber {
    /// Queues the events it wants among `events`; the answer comes once
    /// they are handled (`None`: it wants none of them).
    async fn offer(
        &self,
        events: &[Event],
    ) -> anyhow::Result<Option<oneshot::Receiver<Result<(), DomainError>>>> {
        let wanted: Vec<Event> = events
            .iter()
            .filter(|e| self.handler.wants(e))
            .cloned()
            .collect();
        if wanted.is_empty() {
            return Ok(None);
        }
        let (ack, acked) = oneshot::channel();
        self.queued.fetch_add(wanted.len(), Ordering::Relaxed);
        self.deliveries
            .send((wanted, ack))
            .await
            .map_err(|_| anyhow::anyhow!("consumer {} has stopped", self.name))?;
        Ok(Some(acked))
    }
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
    async fn publish(&self, events: &[Event]) -> anyhow::Result<()> {
        self.all_joined().await;
        let subscribers = self.subscribers.read().await.clone();
        // Every consumer gets its share first, then they work side by side.
        let mut answers = Vec::with_capacity(subscribers.len());
        for subscriber in &subscribers {
            if let Some(acked) = subscriber.offer(events).await? {
                answers.push((subscriber.name.as_str(), acked));
            }
        }
        for (consumer, acked) in answers {
            acked
                .await
                .map_err(|_| anyhow::anyhow!("consumer {consumer} dropped the events"))?
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
        let queued = Arc::new(AtomicUsize::new(0));
        self.subscribers.write().await.push(Subscriber {
            name: consumer.to_string(),
            handler: Arc::clone(&handler),
            deliveries: sender,
            queued: Arc::clone(&queued),
        });
        self.joined.notify_waiters();
        let consumer = consumer.to_string();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    delivery = deliveries.recv() => {
                        let Some((events, ack)) = delivery else { return };
                        let handled = deliver_in_process(&consumer, handler.as_ref(), &events).await;
                        queued.fetch_sub(events.len(), Ordering::Relaxed);
                        let _ = ack.send(handled);
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

    /// Events handed to the consumer and not yet handled; a publisher
    /// waits on them, so the outbox holds the rest of the backlog.
    async fn pending(&self, consumer: &str) -> anyhow::Result<u64> {
        let subscribers = self.subscribers.read().await;
        let queued = subscribers
            .iter()
            .filter(|s| s.name == consumer)
            .map(|s| s.queued.load(Ordering::Relaxed))
            .sum::<usize>();
        Ok(queued as u64)
    }
}

/// How often a consumer is offered one event before it is set aside, so one
/// event it can never handle does not stop every later one.
pub const MAX_DELIVERIES: u32 = 10;

/// Events that came together are handled together; if that fails, one by
/// one, so one event that cannot be handled holds back no other.
async fn deliver_in_process(
    consumer: &str,
    handler: &dyn EventHandler,
    events: &[Event],
) -> Result<(), DomainError> {
    let routes: Vec<Route> = events.iter().map(memory_route).collect();
    if handled_together(consumer, handler, events, &routes).await {
        return Ok(());
    }
    for event in events {
        deliver_one_in_process(consumer, handler, event).await?;
    }
    Ok(())
}

/// The in-process bus retries here, with a growing pause, then sets the event
/// aside with an error log (a dead-letter store comes with operations work).
async fn deliver_one_in_process(
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
    let span = crate::events::handling_span(consumer, event, route);
    let result = crate::events::in_spans(&[span], handler.handle(event)).await;
    count(consumer, if result.is_ok() { "ok" } else { "failed" }, 1);
    if let Err(err) = &result {
        tracing::warn!(consumer, event_id = %event.event_id, %err, "event handling failed");
    }
    result
}

/// Whether `events` (two or more, each with its `routes` entry) were
/// handled in one `handle_all`. Each event keeps its own span in its own
/// trace, lasting as long as the whole call. A failure is logged at debug
/// and not counted: the caller hands the events over again one by one.
async fn handled_together(
    consumer: &str,
    handler: &dyn EventHandler,
    events: &[Event],
    routes: &[Route],
) -> bool {
    if events.len() < 2 {
        return false;
    }
    let spans: Vec<tracing::Span> = events
        .iter()
        .zip(routes)
        .map(|(event, route)| crate::events::handling_span(consumer, event, route))
        .collect();
    match crate::events::in_spans(&spans, handler.handle_all(events)).await {
        Ok(()) => {
            count(consumer, "ok", events.len());
            true
        }
        Err(err) => {
            tracing::debug!(consumer, events = events.len(), %err, "handling events together failed");
            false
        }
    }
}

fn count(consumer: &str, outcome: &'static str, events: usize) {
    metrics::counter!(meter::EVENTS_HANDLED, "consumer" => consumer.to_string(), "outcome" => outcome)
        .increment(events as u64);
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
    /// Sends the events one after another and waits for the server's
    /// confirmations behind them, a window at a time: one round trip for
    /// many events instead of one each.
    async fn publish(&self, events: &[Event]) -> anyhow::Result<()> {
        let mut unconfirmed = std::collections::VecDeque::new();
        for event in events {
            if unconfirmed.len() == CONFIRMATION_WINDOW
                && let Some(confirmation) = unconfirmed.pop_front()
            {
                confirmation.await?;
            }
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, event.event_id.as_str());
            let payload = crate::events::encode(event).into();
            unconfirmed.push_back(
                self.js
                    .publish_with_headers(self.subject(event), headers, payload)
                    .await?,
            );
        }
        for confirmation in unconfirmed {
            confirmation.await?;
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        consumer: &str,
        handler: Arc<dyn EventHandler>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        use async_nats::jetstream::consumer::pull;
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
        // Whatever has arrived is taken together; no waiting for more.
        let mut arrivals = pull_consumer.messages().await?.ready_chunks(MOST_TOGETHER);
        let consumer = consumer.to_string();
        tokio::spawn(async move {
            loop {
                let arrived = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    next = arrivals.next() => next,
                };
                let Some(arrived) = arrived else { return };
                let mut messages = Vec::with_capacity(arrived.len());
                let mut failed = false;
                for message in arrived {
                    match message {
                        Ok(message) => messages.push(message),
                        Err(err) => {
                            tracing::warn!(%consumer, %err, "bus receive failed");
                            failed = true;
                        }
                    }
                }
                consume(&consumer, handler.as_ref(), messages).await;
                if failed {
                    tokio::time::sleep(Duration::from_millis(500)).await;
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

/// Publishes sent to JetStream and not yet confirmed, at most.
const CONFIRMATION_WINDOW: usize = 256;

/// Messages a JetStream consumer takes at once, at most.
const MOST_TOGETHER: usize = 256;

/// Handles what JetStream delivered together, then acknowledges each
/// message by its fate: ignored and undecodable ones at once.
async fn consume(
    consumer: &str,
    handler: &dyn EventHandler,
    messages: Vec<async_nats::jetstream::Message>,
) {
    use async_nats::jetstream::AckKind;
    let mut acks = Vec::with_capacity(messages.len());
    let (mut wanted, mut events) = (Vec::new(), Vec::new());
    for message in messages {
        match crate::events::decode(&message.payload) {
            Ok(event) if !handler.wants(&event) => acks.push((message, AckKind::Ack)),
            Ok(event) => {
                wanted.push(message);
                events.push(event);
            }
            Err(err) => {
                tracing::error!(%consumer, %err, "undecodable event dropped");
                acks.push((message, AckKind::Term));
            }
        }
    }
    acks.extend(handle_delivered(consumer, handler, wanted, events).await);
    for (message, ack) in acks {
        if let Err(err) = message.ack_with(ack).await {
            tracing::warn!(%consumer, %err, "bus ack failed; the event will come again");
        }
    }
}

/// Handles `events` (from `messages`, in step) together; if that fails,
/// one by one, each acknowledged by its own fate.
async fn handle_delivered(
    consumer: &str,
    handler: &dyn EventHandler,
    messages: Vec<async_nats::jetstream::Message>,
    events: Vec<Event>,
) -> Vec<(
    async_nats::jetstream::Message,
    async_nats::jetstream::AckKind,
)> {
    use async_nats::jetstream::AckKind;
    let routes: Vec<Route> = messages
        .iter()
        .map(|message| Route {
            system: "nats",
            destination: message.subject.to_string(),
        })
        .collect();
    if handled_together(consumer, handler, &events, &routes).await {
        return messages.into_iter().map(|m| (m, AckKind::Ack)).collect();
    }
    let mut acks = Vec::with_capacity(messages.len());
    for ((message, event), route) in messages.into_iter().zip(&events).zip(&routes) {
        let ack = match handle_in_span(consumer, handler, event, route).await {
            Ok(()) => AckKind::Ack,
            Err(_) => {
                let attempt = message.info().map(|i| i.delivered).unwrap_or(1);
                if attempt >= i64::from(MAX_DELIVERIES) {
                    dead_letter(consumer, event);
                    AckKind::Term
                } else {
                    AckKind::Nak(Some(redelivery_delay(attempt)))
                }
            }
        };
        acks.push((message, ack));
    }
    acks
}

#[cfg(test)]
mod tests {
    use super::*;
    use questline_proto::events::event::Payload;
    use questline_proto::events::{PointsCredited, RuleChanged};
    use std::sync::Mutex;

    /// Keeps, per call, the amounts of the credits handed to it (its only
    /// wanted events); with `together_fails`, every `handle_all` fails.
    #[derive(Default)]
    struct Credits {
        calls: Mutex<Vec<Vec<i64>>>,
        together_fails: bool,
    }

    fn amount(event: &Event) -> i64 {
        match &event.payload {
            Some(Payload::PointsCredited(p)) => p.amount,
            _ => -1,
        }
    }

    #[async_trait]
    impl EventHandler for Credits {
        fn wants(&self, event: &Event) -> bool {
            matches!(event.payload, Some(Payload::PointsCredited(_)))
        }

        async fn handle(&self, event: &Event) -> Result<(), DomainError> {
            self.calls.lock().expect("lock").push(vec![amount(event)]);
            Ok(())
        }

        async fn handle_all(&self, events: &[Event]) -> Result<(), DomainError> {
            if self.together_fails {
                return Err(DomainError::Unavailable("down".into()));
            }
            let amounts = events.iter().map(amount).collect();
            self.calls.lock().expect("lock").push(amounts);
            Ok(())
        }
    }

    /// An in-process bus with `credits` subscribed; the token stops it.
    async fn bus_with(credits: &Arc<Credits>) -> (MemoryBus, CancellationToken) {
        let bus = MemoryBus::expecting(&["credits"]);
        let shutdown = CancellationToken::new();
        let handler: Arc<dyn EventHandler> = credits.clone();
        bus.subscribe("credits", handler, shutdown.clone())
            .await
            .unwrap();
        (bus, shutdown)
    }

    fn published() -> Vec<Event> {
        let event = |payload| crate::events::new_event("t", "test", "", payload);
        let credit = |amount| {
            event(Payload::PointsCredited(PointsCredited {
                amount,
                ..Default::default()
            }))
        };
        let changed = event(Payload::RuleChanged(RuleChanged::default()));
        vec![credit(1), changed, credit(2), credit(3)]
    }

    #[tokio::test]
    async fn the_in_process_bus_hands_a_consumer_what_it_wants_together() {
        let credits = Arc::new(Credits::default());
        let (bus, shutdown) = bus_with(&credits).await;
        bus.publish(&published()).await.unwrap();
        bus.publish(&published()[1..3]).await.unwrap();
        assert_eq!(*credits.calls.lock().unwrap(), [vec![1, 2, 3], vec![2]]);
        assert_eq!(bus.pending("credits").await.unwrap(), 0);
        shutdown.cancel();
    }

    #[tokio::test]
    async fn events_that_fail_together_are_handled_again_one_by_one() {
        let credits = Arc::new(Credits {
            together_fails: true,
            ..Credits::default()
        });
        let (bus, shutdown) = bus_with(&credits).await;
        bus.publish(&published()).await.unwrap();
        assert_eq!(*credits.calls.lock().unwrap(), [vec![1], vec![2], vec![3]]);
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
