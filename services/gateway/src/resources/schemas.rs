//! JSON Schemas of protobuf messages, for the OpenAPI document: what a
//! request may hold (strict: unknown fields refused, each field as the
//! services validate it) and what an answer holds. Nested messages become
//! components named `<package>.<Message>` (`<package>.<Message>Input` in
//! requests).

use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Which side of a call a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Request,
    Answer,
}

/// The components found while describing messages.
#[derive(Default)]
pub struct Schemas {
    pub components: BTreeMap<String, Value>,
}

impl Schemas {
    /// The object schema of `desc`, leaving out the fields in `skip` (the
    /// tenant and those the path gives).
    pub fn object(&mut self, desc: &MessageDescriptor, side: Side, skip: &[&str]) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in desc.fields() {
            // The tenant is always the credentials', at any depth.
            let tenant = side == Side::Request && field.name() == "tenant_id";
            if skip.contains(&field.name()) || tenant {
                continue;
            }
            if side == Side::Request && super::rules::required(desc, &field) {
                required.push(Value::from(field.name()));
            }
            let schema = self.field(desc, &field, side);
            properties.insert(field.name().to_string(), schema);
        }
        let mut object = json!({"type": "object", "properties": properties});
        if side == Side::Request {
            object["additionalProperties"] = Value::Bool(false);
            if !required.is_empty() {
                object["required"] = Value::Array(required);
            }
            // A message whose fields are all one `oneof` takes one of them.
            if one_oneof(desc) {
                object["maxProperties"] = json!(1);
            }
        }
        object
    }

    fn field(&mut self, message: &MessageDescriptor, field: &FieldDescriptor, side: Side) -> Value {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return json!({"type": "object"});
            };
            let value = entry.map_entry_value_field();
            return json!({"type": "object", "additionalProperties": self.single(message, &value, side)});
        }
        let one = self.single(message, field, side);
        if field.is_list() {
            let mut list = json!({"type": "array", "items": one});
            if side == Side::Request {
                list["maxItems"] = json!(super::rules::MAX_LIST);
                super::rules::narrow_list(field, &mut list);
            }
            list
        } else {
            one
        }
    }

    fn single(
        &mut self,
        message: &MessageDescriptor,
        field: &FieldDescriptor,
        side: Side,
    ) -> Value {
        let mut schema = match field.kind() {
            Kind::Double | Kind::Float => json!({"type": "number"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32", "minimum": i32::MIN, "maximum": i32::MAX})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "minimum": 0, "maximum": u32::MAX})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX})
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})
            }
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
            Kind::Enum(e) => enumeration(&e, side),
            Kind::Message(m) => self.message(&m, side),
        };
        if side == Side::Request {
            super::rules::narrow(message, field, &mut schema);
        }
        schema
    }

    /// A message: well-known types as JSON writes them, ours by reference
    /// to a component (added on first use).
    pub fn message(&mut self, desc: &MessageDescriptor, side: Side) -> Value {
        match desc.full_name() {
            "google.protobuf.Timestamp" => {
                return json!({"type": "string", "format": "date-time"});
            }
            "google.protobuf.Duration" => {
                return json!({"type": "string", "pattern": "^-?[0-9]{1,12}(\\.[0-9]{1,9})?s$"});
            }
            "google.protobuf.Struct" => return json!({"type": "object"}),
            "google.protobuf.Value" => return json!({}),
            "google.protobuf.Empty" => return json!({"type": "object"}),
            _ => {}
        }
        let name = component_name(desc, side);
        if !self.components.contains_key(&name) {
            // Placed first so a message that contains itself ends.
            self.components.insert(name.clone(), Value::Null);
            let object = self.object(desc, side, &[]);
            self.components.insert(name.clone(), object);
        }
        json!({"$ref": format!("#/components/schemas/{name}")})
    }
}

/// `questline.identity.v1.Profile` → `identity.Profile` (`identity.ProfileInput`).
pub fn component_name(desc: &MessageDescriptor, side: Side) -> String {
    let package = desc
        .package_name()
        .split('.')
        .nth(1)
        .unwrap_or(desc.package_name());
    let suffix = if side == Side::Request { "Input" } else { "" };
    format!("{package}.{}{suffix}", desc.name())
}

/// Enum values by name; a request never sends the unset value.
fn enumeration(desc: &EnumDescriptor, side: Side) -> Value {
    let names: Vec<Value> = desc
        .values()
        .filter(|v| side == Side::Answer || v.number() != 0)
        .map(|v| Value::from(v.name()))
        .collect();
    json!({"type": "string", "enum": names})
}

fn one_oneof(desc: &MessageDescriptor) -> bool {
    let mut oneofs = desc
        .fields()
        .map(|f| f.containing_oneof().map(|o| o.name().to_string()));
    match oneofs.next() {
        Some(Some(first)) => oneofs.all(|o| o.as_deref() == Some(first.as_str())),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::messages::pool;

    fn message(name: &str) -> MessageDescriptor {
        pool().get_message_by_name(name).unwrap()
    }

    #[test]
    fn a_request_is_strict_and_refers_to_its_parts() {
        let mut schemas = Schemas::default();
        let upsert = message("questline.identity.v1.UpsertMemberRequest");
        let object = schemas.object(&upsert, Side::Request, &["tenant_id"]);
        assert_eq!(object["additionalProperties"], false);
        assert!(object["properties"].get("tenant_id").is_none());
        assert_eq!(
            object["properties"]["profile"]["$ref"],
            "#/components/schemas/identity.ProfileInput"
        );
        assert!(schemas.components.contains_key("identity.ProfileInput"));
    }

    #[test]
    fn answers_name_every_enum_value_and_times_are_rfc3339() {
        let mut schemas = Schemas::default();
        let reward = message("questline.rewards.v1.Reward");
        let object = schemas.object(&reward, Side::Answer, &[]);
        assert_eq!(object["properties"]["create_time"]["format"], "date-time");
        assert_eq!(object["properties"]["price"]["format"], "int64");
        let sources = object["properties"]["voucher_source"]["enum"]
            .as_array()
            .unwrap();
        assert!(sources.contains(&json!("VOUCHER_SOURCE_UNSPECIFIED")));
    }
}
