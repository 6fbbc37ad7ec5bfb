//! Event schemas: for one event type, the attributes its events carry, their
//! types, and which are required. Track refuses an event that does not fit,
//! naming each field; a rule is checked at save against the schemas of its
//! event types, so `event.amout` or `event.amount > "10"` never meets live
//! traffic. An event type without a schema takes any attributes.

use questline_kit::expr::{self, FieldUse};
use questline_kit::{DomainError, Violations};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::rules::RuleSpec;

/// At most this many attributes per schema.
pub const MAX_ATTRIBUTES: usize = 100;

/// What an attribute holds. A location is `{"lat": …, "lng": …}` in degrees;
/// a timestamp an RFC 3339 string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeType {
    Number,
    Integer,
    String,
    Boolean,
    Timestamp,
    Location,
    List,
    Object,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttributeType,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: String,
}

/// One event type's schema, as written. Stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSchema {
    #[serde(default)]
    pub description: String,
    pub attributes: Vec<AttributeSpec>,
    /// Refuse attributes the schema does not list.
    #[serde(default)]
    pub closed: bool,
}

/// Names every event has besides its attributes (`event.type`, `event.id`).
const RESERVED: [&str; 2] = ["type", "id"];

impl EventSchema {
    /// Checks the schema itself: unique, well-formed attribute names.
    pub fn validate(&self, v: &mut Violations) {
        v.optional_text("description", &self.description).check(
            self.attributes.len() <= MAX_ATTRIBUTES,
            "attributes",
            "must list at most 100 attributes",
        );
        for (i, a) in self.attributes.iter().enumerate() {
            let field = format!("attributes[{i}].name");
            v.id(&field, &a.name)
                .optional_text(&format!("attributes[{i}].description"), &a.description)
                .check(
                    !RESERVED.contains(&a.name.as_str()),
                    &field,
                    "type and id are the event's own, not attributes",
                )
                .check(
                    self.attributes[..i].iter().all(|b| b.name != a.name),
                    &field,
                    "is listed twice",
                );
        }
    }

    fn attribute(&self, name: &str) -> Option<&AttributeSpec> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Adds to `v` each way `attributes` does not fit, as `attributes.<name>`.
    pub fn check_event(&self, v: &mut Violations, attributes: &Map<String, Json>) {
        for a in &self.attributes {
            let field = format!("attributes.{}", a.name);
            match attributes.get(&a.name) {
                None | Some(Json::Null) if a.required => v.add(&field, "is required"),
                Some(value) if !value.is_null() && !a.kind.fits(value) => {
                    v.add(&field, format!("must be {}", a.kind.described()))
                }
                _ => v,
            };
        }
        if self.closed {
            for name in attributes.keys().filter(|n| self.attribute(n).is_none()) {
                v.add(
                    &format!("attributes.{name}"),
                    "is not in the event type's schema",
                );
            }
        }
    }
}

impl AttributeType {
    fn fits(self, value: &Json) -> bool {
        match self {
            AttributeType::Number => value.is_number(),
            AttributeType::Integer => value.as_f64().is_some_and(|n| n.fract() == 0.0),
            AttributeType::String => value.is_string(),
            AttributeType::Boolean => value.is_boolean(),
            AttributeType::Timestamp => value
                .as_str()
                .is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok()),
            AttributeType::Location => is_location(value),
            AttributeType::List => value.is_array(),
            AttributeType::Object => value.is_object(),
        }
    }

    fn described(self) -> &'static str {
        match self {
            AttributeType::Number => "a number",
            AttributeType::Integer => "a whole number",
            AttributeType::String => "a string",
            AttributeType::Boolean => "true or false",
            AttributeType::Timestamp => "an RFC 3339 timestamp",
            AttributeType::Location => "a location: {\"lat\": -90..90, \"lng\": -180..180}",
            AttributeType::List => "a list",
            AttributeType::Object => "an object",
        }
    }

    /// Whether a CEL literal of type `literal` can meet it in an operator.
    fn meets(self, literal: &str) -> bool {
        match self {
            AttributeType::Number | AttributeType::Integer => {
                matches!(literal, "int" | "uint" | "double" | "null")
            }
            AttributeType::String | AttributeType::Timestamp => {
                matches!(literal, "string" | "null")
            }
            AttributeType::Boolean => matches!(literal, "bool" | "null"),
            AttributeType::Location | AttributeType::List | AttributeType::Object => {
                literal == "null"
            }
        }
    }
}

fn is_location(value: &Json) -> bool {
    let degrees = |key: &str, limit: f64| {
        value
            .get(key)
            .and_then(Json::as_f64)
            .is_some_and(|d| d.abs() <= limit)
    };
    degrees("lat", 90.0) && degrees("lng", 180.0)
}

/// Adds to `v` each read of `event` in `rule`'s expressions that the schemas
/// of its event types (`schemas`, by type) refuse: an attribute a schema
/// does not list (unless only tested with `has`), or a literal of the wrong
/// type beside it.
pub fn check_rule(v: &mut Violations, rule: &RuleSpec, schemas: &[(&str, &EventSchema)]) {
    if schemas.is_empty() {
        return;
    }
    for (field, source) in rule.expressions() {
        let Ok(program) = expr::parse(source) else {
            continue;
        };
        for used in expr::field_uses(source, &program, "event") {
            if RESERVED.contains(&used.field.as_str()) {
                continue;
            }
            for (event_type, schema) in schemas {
                if let Some(problem) = misfit(&used, schema) {
                    v.add(
                        &field,
                        format!(
                            "does not fit the schema of {event_type} at line {}, column {}: {problem}",
                            used.line, used.column
                        ),
                    );
                }
            }
        }
    }
}

fn misfit(used: &FieldUse, schema: &EventSchema) -> Option<String> {
    let name = &used.field;
    match schema.attribute(name) {
        None if used.tested => None,
        None => Some(format!("it has no attribute '{name}'")),
        Some(spec) => used
            .against
            .filter(|literal| !spec.kind.meets(literal))
            .map(|literal| {
                format!(
                    "event.{name} is {}, not comparable with a {literal}",
                    spec.kind.described()
                )
            }),
    }
}

/// An event type's schema from its stored JSON.
pub fn read(spec: &str) -> Result<EventSchema, DomainError> {
    serde_json::from_str(spec).map_err(DomainError::internal)
}

#[cfg(test)]
mod tests;
