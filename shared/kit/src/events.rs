//! The domain-event envelope: built here so every event carries its id, type,
//! source, time and the trace context of the write that caused it.

use prost::Message;
use questline_proto::events::{Event, event::Payload};

/// The dotted type of a payload, e.g. `points.credited`.
pub fn type_of(payload: &Payload) -> &'static str {
    match payload {
        Payload::MemberUpserted(_) => "member.upserted",
        Payload::PointsCredited(_) => "points.credited",
        Payload::PointsDebited(_) => "points.debited",
        Payload::RewardRedeemed(_) => "reward.redeemed",
        Payload::TenantUpdated(_) => "tenant.updated",
        Payload::ApiClientRevoked(_) => "api_client.revoked",
        Payload::SigningKeyRetired(_) => "signing_key.retired",
        Payload::MemberConsentChanged(_) => "member.consent_changed",
        Payload::MemberErased(_) => "member.erased",
        Payload::AuditRecorded(_) => "audit.recorded",
        Payload::PointsExpired(_) => "points.expired",
        Payload::RuleMessage(_) => "rule.message",
        Payload::RuleChanged(_) => "rule.changed",
        Payload::SegmentChanged(_) => "segment.changed",
        Payload::MessageDispatched(_) => "message.dispatched",
        Payload::MessagePreferencesChanged(_) => "message_preferences.changed",
    }
}

/// The tenant id of events about the whole installation, such as a retired
/// signing key. Tenant ids start with a letter, so it names no tenant.
pub const INSTALLATION: &str = "_installation";

/// A new event from `source` about `subject` (a member id, or empty).
pub fn new_event(tenant_id: &str, source: &str, subject: &str, payload: Payload) -> Event {
    Event {
        event_id: crate::new_id(),
        tenant_id: tenant_id.to_string(),
        r#type: type_of(&payload).to_string(),
        source: source.to_string(),
        subject: subject.to_string(),
        time: Some(crate::time::to_timestamp(crate::time::now_ms())),
        trace_context: crate::telemetry::current_context(),
        payload: Some(payload),
    }
}

pub fn encode(event: &Event) -> Vec<u8> {
    event.encode_to_vec()
}

pub fn decode(bytes: &[u8]) -> Result<Event, prost::DecodeError> {
    Event::decode(bytes)
}

/// Where an event travels: the messaging system and the destination
/// (NATS subject, or the event type in one process), as spans name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub system: &'static str,
    pub destination: String,
}

/// A PRODUCER span for publishing `event` from `service`'s outbox, child of
/// the write that staged it; consumers' spans become its children.
pub fn producing_span(service: &str, event: &Event, route: &Route) -> tracing::Span {
    let span = tracing::info_span!(
        "event",
        otel.name = %format!("{} publish {}", service, event.r#type),
        otel.kind = "producer",
        otel.status_code = tracing::field::Empty,
        questline.service = service,
        messaging.system = route.system,
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = %route.destination,
        messaging.message.id = %event.event_id,
        event.r#type = %event.r#type,
    );
    crate::telemetry::adopt_context(&span, &event.trace_context);
    span
}

/// A CONSUMER span for handling `event`, child of the span that published it.
pub fn handling_span(consumer: &str, event: &Event, route: &Route) -> tracing::Span {
    let span = tracing::info_span!(
        "event",
        otel.name = %format!("{} handle {}", consumer, event.r#type),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        // Consumers are named `<service>` or `<service>-access`.
        questline.service = consumer.split('-').next().unwrap_or(consumer),
        messaging.system = route.system,
        messaging.operation.type = "process",
        messaging.operation.name = "handle",
        messaging.destination.name = %route.destination,
        messaging.consumer.group.name = consumer,
        messaging.message.id = %event.event_id,
        event.id = %event.event_id,
        event.r#type = %event.r#type,
    );
    crate::telemetry::adopt_context(&span, &event.trace_context);
    span
}

/// Runs `work` for events that travel together, each under its own span
/// (`spans`, one or more): what `work` logs goes under the first, and a
/// failure marks every span failed.
pub async fn in_spans<T, E>(
    spans: &[tracing::Span],
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    use tracing::Instrument;
    let first = spans.first().cloned().unwrap_or_else(tracing::Span::none);
    let result = work.instrument(first).await;
    if result.is_err() {
        for span in spans {
            span.record("otel.status_code", "error");
        }
    }
    result
}
