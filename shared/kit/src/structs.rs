//! `google.protobuf.Struct` to JSON and back: event attributes, member
//! attributes and member facts travel as Structs and are read as JSON.

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};
use serde_json::{Map, Value as Json};

pub fn to_json(fields: Struct) -> Map<String, Json> {
    fields
        .fields
        .into_iter()
        .map(|(k, v)| (k, value_to_json(v)))
        .collect()
}

fn value_to_json(value: Value) -> Json {
    match value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(b),
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(n)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Some(Kind::StringValue(s)) => Json::String(s),
        Some(Kind::ListValue(list)) => {
            Json::Array(list.values.into_iter().map(value_to_json).collect())
        }
        Some(Kind::StructValue(s)) => Json::Object(to_json(s)),
    }
}

/// JSON as a protobuf `Struct`. Protobuf has one number type, so every
/// number becomes an `f64`: integers beyond 2^53 lose precision.
pub fn from_json(object: &Map<String, Json>) -> Struct {
    Struct {
        fields: object
            .iter()
            .map(|(k, v)| (k.clone(), value_from_json(v)))
            .collect(),
    }
}

fn value_from_json(json: &Json) -> Value {
    let kind = match json {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(value_from_json).collect(),
        }),
        Json::Object(o) => Kind::StructValue(from_json(o)),
    };
    Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_survive_both_ways() {
        let json = serde_json::json!({
            "amount": 120.5,
            "item": {"sku": "pizza", "tags": ["hot", "veg"]},
            "member": true,
        });
        let Json::Object(object) = json.clone() else {
            unreachable!()
        };
        assert_eq!(Json::Object(to_json(from_json(&object))), json);
    }

    #[test]
    fn json_attributes_become_a_struct() {
        let Json::Object(object) = serde_json::json!({
            "amount": 42,
            "ratio": 0.5,
            "store": "paris-01",
            "first": true,
            "coupon": null,
            "items": [1, "two", {"sku": "A1"}],
        }) else {
            unreachable!()
        };
        let fields = from_json(&object).fields;
        let kind = |name: &str| fields[name].kind.clone().unwrap();
        assert_eq!(kind("amount"), Kind::NumberValue(42.0));
        assert_eq!(kind("ratio"), Kind::NumberValue(0.5));
        assert_eq!(kind("store"), Kind::StringValue("paris-01".into()));
        assert_eq!(kind("first"), Kind::BoolValue(true));
        assert_eq!(kind("coupon"), Kind::NullValue(0));
        let Kind::ListValue(items) = kind("items") else {
            panic!("a list")
        };
        assert_eq!(items.values[0].kind, Some(Kind::NumberValue(1.0)));
        let Some(Kind::StructValue(nested)) = &items.values[2].kind else {
            panic!("a struct")
        };
        assert_eq!(
            nested.fields["sku"].kind,
            Some(Kind::StringValue("A1".into()))
        );
    }
}
