//! Evaluating one tracked event against the active rules.

use questline_kit::Violations;

use super::rules::{CompiledRule, Facts, Outcome};

/// Points a rule awards for an event, before the ledger has carried them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Award {
    pub rule_id: String,
    pub rule_name: String,
    pub currency: String,
    pub points: i64,
}

/// Largest attributes object accepted, as JSON.
pub const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;

pub fn validate(
    tenant_id: &str,
    event_id: &str,
    member_id: &str,
    event_type: &str,
    attributes_len: usize,
) -> Result<(), questline_kit::DomainError> {
    Violations::new()
        .id("tenant_id", tenant_id)
        .id("event_id", event_id)
        .id("member_id", member_id)
        .id("event_type", event_type)
        .check(
            attributes_len <= MAX_ATTRIBUTES_BYTES,
            "attributes",
            "must be at most 16 KiB as JSON",
        )
        .finish()
}

/// The awards of every rule that fires, in rule order. A rule whose
/// expression fails on this event awards nothing and is logged.
pub fn evaluate(rules: &[CompiledRule], facts: &Facts) -> Vec<Award> {
    rules
        .iter()
        .filter_map(|rule| match rule.evaluate(facts) {
            Outcome::Award(points) => Some(Award {
                rule_id: rule.spec.rule_id.clone(),
                rule_name: rule.spec.name.clone(),
                currency: rule.spec.currency.clone(),
                points,
            }),
            Outcome::ConditionFalse => None,
            Outcome::Error(why) => {
                // The reason can quote event or profile values: debug level only.
                tracing::warn!(rule_id = %rule.spec.rule_id, "rule skipped: its expression failed");
                tracing::debug!(rule_id = %rule.spec.rule_id, %why, "rule expression error");
                None
            }
        })
        .collect()
}

/// The ledger idempotency key of an award: one credit per (event, rule), ever.
pub fn award_key(event_id: &str, rule_id: &str) -> String {
    questline_kit::fingerprint::key_of("track:", &[event_id, rule_id])
}

/// What the member's history shows for an award, within the ledger's limit.
pub fn award_reason(rule_name: &str) -> String {
    questline_kit::error::clip(&format!("rule {rule_name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::RuleSpec;

    fn spec(id: &str, condition: &str, points: &str) -> CompiledRule {
        RuleSpec {
            rule_id: id.into(),
            name: id.into(),
            event_type: "purchase".into(),
            condition: condition.into(),
            points: points.into(),
            currency: "stars".into(),
        }
        .compile()
        .unwrap()
    }

    #[test]
    fn every_firing_rule_awards_and_broken_ones_are_skipped() {
        let rules = [
            spec("base", "", "event.amount / 10.0"),
            spec("big", "event.amount >= 100.0", "5"),
            spec("broken", "event.nope", "1"),
        ];
        let mut attributes = serde_json::Map::new();
        attributes.insert("amount".into(), 120.0.into());
        let facts = Facts::new(
            "purchase",
            attributes,
            "m1",
            "alice",
            &serde_json::Map::new(),
        );
        let awards = evaluate(&rules, &facts);
        let got: Vec<_> = awards
            .iter()
            .map(|a| (a.rule_id.as_str(), a.points))
            .collect();
        assert_eq!(got, [("base", 12), ("big", 5)]);
    }

    #[test]
    fn award_keys_are_stable_short_and_never_collide() {
        assert_eq!(award_key("e1", "r1"), award_key("e1", "r1"));
        assert_ne!(award_key("e1", "r1"), award_key("e1", "r2"));
        assert_ne!(award_key("a:b", "c"), award_key("a", "b:c"));
        let long = "x".repeat(256);
        assert!(award_key(&long, &long).len() <= 256);
        assert_eq!(award_reason(&long).chars().count(), 256);
    }

    #[test]
    fn oversized_attributes_are_refused() {
        assert!(validate("acme", "e1", "m1", "purchase", MAX_ATTRIBUTES_BYTES + 1).is_err());
        assert!(validate("acme", "e1", "m1", "purchase", 10).is_ok());
        assert!(validate("", "e1", "m1", "purchase", 10).is_err());
    }
}
