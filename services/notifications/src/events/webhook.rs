//! The body a webhook carries, as Standard Webhooks lays it out:
//! `{"type", "timestamp", "data"}`, the data being the event's payload in
//! the proto's JSON form (field names as in the `.proto`) with the event's
//! id, so a receiver can tie it to the engine's records.

use questline_kit::DomainError;
use questline_proto::events::Event;
use serde_json::{Value, json};

use crate::domain::webhooks::payload;
use crate::flow::webhooks::Carried;

/// The events among `events` that webhooks carry, each with its body.
pub fn carried(events: &[Event]) -> Result<Vec<Carried>, DomainError> {
    events
        .iter()
        .filter(|e| payload::carries(&e.r#type))
        .map(|e| {
            Ok(Carried {
                tenant_id: e.tenant_id.clone(),
                event_id: e.event_id.clone(),
                event_type: e.r#type.clone(),
                member_id: e.subject.clone(),
                body: body(e).map_err(DomainError::internal)?,
            })
        })
        .collect()
}

/// The JSON body for `event`.
pub fn body(event: &Event) -> Result<String, String> {
    let data = Value::Object(super::fields::of(event)?);
    let timestamp = event.time.map(|t| t.to_string()).unwrap_or_default();
    let body = json!({"type": event.r#type, "timestamp": timestamp, "data": data});
    serde_json::to_string(&body).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use questline_proto::events::{PointsCredited, event::Payload};

    fn credited() -> Event {
        let mut event = questline_kit::events::new_event(
            "acme",
            "ledger",
            "m1",
            Payload::PointsCredited(PointsCredited {
                member_id: "m1".into(),
                currency: "stars".into(),
                amount: 5,
                balance: 25,
                reason: "purchase".into(),
                ..Default::default()
            }),
        );
        event.time = Some(prost_types::Timestamp {
            seconds: 1_765_000_000,
            nanos: 0,
        });
        event
            .trace_context
            .insert("traceparent".into(), "00-abc-def-01".into());
        event
    }

    #[test]
    fn the_body_is_type_timestamp_and_the_payload_with_its_event_id() {
        let event = credited();
        let body: Value = serde_json::from_str(&body(&event).unwrap()).unwrap();
        assert_eq!(body["type"], "points.credited");
        assert_eq!(body["timestamp"], "2025-12-06T05:46:40Z");
        assert_eq!(body["data"]["event_id"], json!(event.event_id));
        assert_eq!(body["data"]["member_id"], "m1");
        assert_eq!(body["data"]["amount"], 5);
        assert_eq!(body["data"]["balance"], 25);
        assert_eq!(body["data"]["currency"], "stars");
        let text = body.to_string();
        assert!(
            !text.contains("traceparent"),
            "the trace stays inside: {text}"
        );
    }
}
