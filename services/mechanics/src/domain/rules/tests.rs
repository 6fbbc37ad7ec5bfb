//! Rules checked at save: every mistake at once, with its position.

use super::*;

fn violations(spec: RuleSpec) -> Vec<(String, String)> {
    match spec.compile("r1", 1, Strictness::New) {
        Err(DomainError::Invalid(found)) => found
            .into_iter()
            .map(|v| (v.field, v.description))
            .collect(),
        Err(other) => panic!("not a violation: {other:?}"),
        Ok(_) => vec![],
    }
}

#[test]
fn a_good_rule_compiles() {
    assert_eq!(
        violations(RuleSpec::purchase(
            "event.amount > 0.0",
            "event.amount / 10.0"
        )),
        []
    );
}

#[test]
fn malformed_cel_names_its_line_and_column() {
    let found = violations(RuleSpec::purchase("event.amount >\n  && true", "1"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "condition");
    assert!(found[0].1.contains("line 2, column 3"), "{found:?}");
}

#[test]
fn unknown_names_are_mistakes_with_their_position() {
    let found = violations(RuleSpec::purchase(
        "event.amount > 1.0 && membr.tier == 'gold'",
        "evnt.amount",
    ));
    let got: Vec<_> = found
        .iter()
        .map(|(f, d)| (f.as_str(), d.as_str()))
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, "condition");
    assert!(
        got[0].1.contains("line 1, column 23") && got[0].1.contains("membr"),
        "{got:?}"
    );
    assert_eq!(got[1].0, "actions[0].points");
    assert!(
        got[1].1.contains("line 1, column 1") && got[1].1.contains("evnt"),
        "{got:?}"
    );
}

#[test]
fn every_bad_field_is_reported_at_once() {
    let mut spec = RuleSpec::purchase("", "1");
    spec.name = String::new();
    spec.event_types = vec![];
    spec.time_zone = "Mars/Olympus".into();
    spec.actions.push(Action::MultiplyAwards {
        currency: "stars".into(),
        factor: 2.0,
    });
    let fields: Vec<_> = violations(spec).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["name", "event_types", "actions", "time_zone"]);
}

#[test]
fn stored_versions_are_only_parsed() {
    // A name check added after a version was saved must not stop it awarding.
    let spec = RuleSpec::purchase("legacy.flag", "1");
    assert!(spec.clone().compile("r1", 1, Strictness::New).is_err());
    assert!(spec.compile("r1", 1, Strictness::Stored).is_ok());
}

#[test]
fn specs_round_trip_as_json_and_old_json_gets_defaults() {
    let spec = RuleSpec::purchase("event.amount > 0.0", "event.amount / 10.0");
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(serde_json::from_str::<RuleSpec>(&json).unwrap(), spec);
    let minimal = r#"{"name":"n","event_types":["scan"],"time_zone":"UTC",
        "actions":[{"kind":"add_tag","tag":"scanner"}]}"#;
    let parsed: RuleSpec = serde_json::from_str(minimal).unwrap();
    assert_eq!(parsed.priority, 0);
    assert!(parsed.caps.is_empty() && parsed.budget.is_none());
    assert_eq!(parsed.currency(), None);
}
