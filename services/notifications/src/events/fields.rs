//! An event as its template sees it: the payload's fields by their
//! `.proto` names, read through the descriptors, so every event type the
//! contract gains is known here without code. Also what a template of a
//! type may name, and a made-up event of the type for previews.

use prost::Message;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, SerializeOptions};
use questline_proto::events::{Event, event::Payload};
use serde_json::{Map, Value, json};

use crate::domain::triggers::{MEMBER_EVENTS, RULE_MESSAGE, triggerable};
use crate::domain::variables::ALWAYS;

/// The type `event` triggers as: its own, or a rule's message's
/// `rule.message.<message_type>`; None for an event that cannot trigger.
pub fn triggered_as(event: &Event) -> Option<String> {
    match event.payload.as_ref()? {
        Payload::RuleMessage(m) => {
            Some(format!("{RULE_MESSAGE}{}", m.message_type)).filter(|t| triggerable(t))
        }
        _ => MEMBER_EVENTS
            .contains(&event.r#type.as_str())
            .then(|| event.r#type.clone()),
    }
}

/// The payload message each triggering event type carries.
fn payload_message(event_type: &str) -> Option<&'static str> {
    if event_type.starts_with(RULE_MESSAGE) {
        return Some("RuleMessage");
    }
    Some(match event_type {
        "points.credited" => "PointsCredited",
        "points.debited" => "PointsDebited",
        "points.expired" => "PointsExpired",
        "reward.redeemed" => "RewardRedeemed",
        _ => return None,
    })
}

fn descriptor(name: &str) -> Option<MessageDescriptor> {
    questline_proto::pool().get_message_by_name(&format!("questline.events.v1.{name}"))
}

/// The variables a template of `event_type` may use; None for a type
/// that triggers nothing.
pub fn known(event_type: &str) -> Option<Vec<String>> {
    let message = descriptor(payload_message(event_type)?)?;
    let mut names: Vec<String> = message.fields().map(|f| f.name().to_string()).collect();
    names.extend(ALWAYS.iter().map(|n| n.to_string()));
    names.sort();
    names.dedup();
    Some(names)
}

/// An event of `event_type` made up for previews: each field shows its
/// own name (`<reward_name>`), numbers are 100.
pub fn sample(event_type: &str) -> Map<String, Value> {
    let mut fields = Map::new();
    if let Some(message) = payload_message(event_type).and_then(descriptor) {
        for field in message.fields() {
            fields.insert(field.name().into(), sample_value(&field));
        }
    }
    if let Some(message_type) = event_type.strip_prefix(RULE_MESSAGE) {
        fields.insert("message_type".into(), json!(message_type));
    }
    fields.insert("event_id".into(), json!("<event_id>"));
    fields.insert("member_id".into(), json!("<member_id>"));
    fields
}

fn sample_value(field: &FieldDescriptor) -> Value {
    match field.kind() {
        Kind::String => json!(format!("<{}>", field.name())),
        Kind::Bool => json!(true),
        Kind::Double | Kind::Float => json!(100.0),
        Kind::Message(_) => json!({}),
        Kind::Bytes => json!(""),
        _ => json!(100),
    }
}

/// The payload's fields with `event_id` (and `member_id` where the event
/// is about one member and the payload does not name it already).
pub fn of(event: &Event) -> Result<Map<String, Value>, String> {
    let descriptor = descriptor("Event").ok_or("the event descriptor is missing")?;
    let message = DynamicMessage::decode(descriptor, event.encode_to_vec().as_slice())
        .map_err(|err| err.to_string())?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .skip_default_fields(false);
    let whole = message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|err| err.to_string())?;
    // The oneof's one field set: the payload, named after its type.
    let payload = whole
        .as_object()
        .and_then(|fields| {
            fields
                .iter()
                .find(|(name, value)| !ENVELOPE.contains(&name.as_str()) && value.is_object())
        })
        .map(|(_, value)| value.clone());
    let mut data = match payload {
        Some(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    // A rule's message names the event that caused it: that one stays.
    data.entry("event_id").or_insert(json!(event.event_id));
    if !event.subject.is_empty() {
        data.entry("member_id").or_insert(json!(event.subject));
    }
    Ok(data)
}

/// The envelope's own fields, not the payload.
const ENVELOPE: &[&str] = &[
    "event_id",
    "tenant_id",
    "type",
    "source",
    "subject",
    "time",
    "trace_context",
];

#[cfg(test)]
mod tests {
    use super::*;
    use questline_kit::events::new_event;
    use questline_proto::events::{MemberErased, PointsCredited, RuleMessage};

    #[test]
    fn a_type_knows_its_payloads_fields_and_the_member() {
        let redeemed = known("reward.redeemed").unwrap();
        for name in ["reward_name", "voucher_code", "member", "event_id"] {
            assert!(redeemed.iter().any(|k| k == name), "{name}");
        }
        let rule = known("rule.message.birthday").unwrap();
        assert!(rule.iter().any(|k| k == "attributes"));
        assert_eq!(known("member.erased"), None);
    }

    #[test]
    fn samples_name_their_fields() {
        let redeemed = sample("reward.redeemed");
        assert_eq!(redeemed["reward_name"], "<reward_name>");
        assert_eq!(redeemed["price"], 100);
        let rule = sample("rule.message.birthday");
        assert_eq!(rule["message_type"], "birthday");
        assert_eq!(rule["attributes"], json!({}));
    }

    #[test]
    fn events_trigger_as_their_type_or_their_rule_message() {
        let credited = Payload::PointsCredited(PointsCredited::default());
        let credited = new_event("acme", "ledger", "m1", credited);
        assert_eq!(triggered_as(&credited).as_deref(), Some("points.credited"));
        let message = Payload::RuleMessage(RuleMessage {
            message_type: "birthday_greeting".into(),
            ..Default::default()
        });
        let message = new_event("acme", "mechanics", "m1", message);
        assert_eq!(
            triggered_as(&message).as_deref(),
            Some("rule.message.birthday_greeting")
        );
        let erased = Payload::MemberErased(MemberErased::default());
        let erased = new_event("acme", "identity", "m1", erased);
        assert_eq!(triggered_as(&erased), None);
    }
}
