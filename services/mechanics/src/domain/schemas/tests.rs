//! Events checked against their schema, field by field, and rules checked
//! against the schemas of the events they read.

use super::*;
use crate::domain::rules::RuleSpec;
use serde_json::json;

fn purchase_schema() -> EventSchema {
    serde_json::from_value(json!({
        "attributes": [
            {"name": "amount", "type": "number", "required": true},
            {"name": "store", "type": "string"},
            {"name": "items", "type": "integer"},
            {"name": "paid_at", "type": "timestamp"},
            {"name": "location", "type": "location"}
        ]
    }))
    .unwrap()
}

fn problems(schema: &EventSchema, attributes: Json) -> Vec<(String, String)> {
    let mut v = Violations::new();
    schema.check_event(&mut v, attributes.as_object().unwrap());
    match v.finish() {
        Ok(()) => vec![],
        Err(DomainError::Invalid(list)) => {
            list.into_iter().map(|f| (f.field, f.description)).collect()
        }
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn an_event_that_fits_passes_and_one_that_does_not_names_each_field() {
    let schema = purchase_schema();
    let good = json!({"amount": 12.5, "store": "till-7", "items": 3, "paid_at": "2026-12-05T10:00:00Z",
        "location": {"lat": 51.5, "lng": -0.13}, "extra": "kept: the schema is open"});
    assert_eq!(problems(&schema, good), vec![]);
    let bad = json!({"amount": "12", "items": 2.5, "paid_at": "yesterday", "location": {"lat": 91, "lng": 0}});
    let fields: Vec<String> = problems(&schema, bad).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "attributes.amount",
            "attributes.items",
            "attributes.paid_at",
            "attributes.location"
        ]
    );
    let missing = problems(&schema, json!({"store": "till-7"}));
    assert_eq!(
        missing,
        vec![("attributes.amount".into(), "is required".into())]
    );
    assert_eq!(
        problems(&schema, json!({"amount": null})).len(),
        1,
        "null is not a value"
    );
}

#[test]
fn a_closed_schema_refuses_attributes_it_does_not_list() {
    let mut schema = purchase_schema();
    schema.closed = true;
    let found = problems(&schema, json!({"amount": 1, "coupon": "X"}));
    assert_eq!(
        found,
        vec![(
            "attributes.coupon".into(),
            "is not in the event type's schema".into()
        )]
    );
}

#[test]
fn a_schema_names_each_attribute_once_and_never_type_or_id() {
    let mut schema = purchase_schema();
    schema.attributes.push(schema.attributes[0].clone());
    schema.attributes[1].name = "id".into();
    let mut v = Violations::new();
    schema.validate(&mut v);
    let Err(DomainError::Invalid(list)) = v.finish() else {
        panic!("accepted")
    };
    let fields: Vec<_> = list.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["attributes[1].name", "attributes[5].name"]);
}

fn rule_problems(condition: &str, points: &str) -> Vec<String> {
    let schema = purchase_schema();
    let rule = RuleSpec::purchase(condition, points);
    let mut v = Violations::new();
    check_rule(&mut v, &rule, &[("purchase", &schema)]);
    match v.finish() {
        Ok(()) => vec![],
        Err(DomainError::Invalid(list)) => list
            .into_iter()
            .map(|f| format!("{}: {}", f.field, f.description))
            .collect(),
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn a_rule_reading_what_the_schema_lists_with_fitting_literals_passes() {
    let fine = rule_problems(
        r#"event.amount >= 10 && event.store == "till-7" && has(event.coupon) && event.type == "purchase""#,
        "event.amount / 10.0",
    );
    assert_eq!(fine, Vec::<String>::new());
}

#[test]
fn a_misspelt_attribute_or_a_literal_of_the_wrong_type_is_refused_with_its_position() {
    assert_eq!(
        rule_problems(r#"event.amout > 10"#, "1"),
        [
            "condition: does not fit the schema of purchase at line 1, column 6: it has no attribute 'amout'"
        ]
    );
    assert_eq!(
        rule_problems("true", r#"event.amount > "10" ? 5 : 1"#),
        [
            "actions[0].points: does not fit the schema of purchase at line 1, column 6: event.amount is a number, not comparable with a string"
        ]
    );
    assert_eq!(rule_problems(r#"event.store == 7"#, "1").len(), 1);
}
