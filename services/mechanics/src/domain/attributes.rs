//! Event attributes arrive as a `google.protobuf.Struct`; rules read them as JSON.

use prost_types::value::Kind;
use prost_types::{Struct, Value};
use serde_json::{Map, Value as Json};

pub fn to_json(attributes: Struct) -> Map<String, Json> {
    attributes
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_survive() {
        let mut inner = Struct::default();
        inner.fields.insert(
            "sku".into(),
            Value {
                kind: Some(Kind::StringValue("pizza".into())),
            },
        );
        let mut outer = Struct::default();
        outer.fields.insert(
            "amount".into(),
            Value {
                kind: Some(Kind::NumberValue(120.5)),
            },
        );
        outer.fields.insert(
            "item".into(),
            Value {
                kind: Some(Kind::StructValue(inner)),
            },
        );
        let json = Json::Object(to_json(outer));
        assert_eq!(
            json,
            serde_json::json!({"amount": 120.5, "item": {"sku": "pizza"}})
        );
    }
}
