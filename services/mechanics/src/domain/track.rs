//! Evaluating one tracked event against the active rules, and the keys that
//! make its credits happen once.

use questline_kit::{DomainError, Violations};
use serde_json::{Map, Value as Json};

use super::rules::{CompiledRule, Facts, Outcome};

/// An event to track, decoded and checked: what the flow records and evaluates.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub tenant_id: String,
    pub event_id: String,
    pub member_id: String,
    pub event_type: String,
    pub attributes: Map<String, Json>,
    /// When it happened, in ms; `None` means when it is recorded.
    pub occurred_at: Option<i64>,
    /// The request's fingerprint: the same event id with another request is refused.
    pub fingerprint: String,
}

/// Where a tracked event stands: `Pending` until every award has reached the
/// ledger, then `Applied`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    Pending,
    Applied,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Pending => "pending",
            EventStatus::Applied => "applied",
        }
    }

    pub fn parse(s: &str) -> Result<EventStatus, DomainError> {
        match s {
            "pending" => Ok(EventStatus::Pending),
            "applied" => Ok(EventStatus::Applied),
            other => Err(DomainError::internal(format!(
                "unknown tracked event status {other}"
            ))),
        }
    }
}

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
) -> Result<(), DomainError> {
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

/// A rule whose expression failed on an event (a missing attribute, a wrong
/// type): it awards nothing. `why` can quote event or profile values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub rule_id: String,
    pub why: String,
}

/// What one event earns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// The awards of every rule that fires, in rule order.
    pub awards: Vec<Award>,
    pub skipped: Vec<Skipped>,
}

/// Runs every rule on the event's facts.
pub fn evaluate(rules: &[CompiledRule], facts: &Facts) -> Evaluation {
    let mut evaluation = Evaluation::default();
    for rule in rules {
        match rule.evaluate(facts) {
            Outcome::Award(points) => evaluation.awards.push(Award {
                rule_id: rule.spec.rule_id.clone(),
                rule_name: rule.spec.name.clone(),
                currency: rule.spec.currency.clone(),
                points,
            }),
            Outcome::ConditionFalse => {}
            Outcome::Error(why) => evaluation.skipped.push(Skipped {
                rule_id: rule.spec.rule_id.clone(),
                why,
            }),
        }
    }
    evaluation
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
        RuleSpec::purchase(id, condition, points).compile().unwrap()
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
        let evaluation = evaluate(&rules, &facts);
        let got: Vec<_> = evaluation
            .awards
            .iter()
            .map(|a| (a.rule_id.as_str(), a.points))
            .collect();
        assert_eq!(got, [("base", 12), ("big", 5)]);
        let skipped: Vec<_> = evaluation
            .skipped
            .iter()
            .map(|s| s.rule_id.as_str())
            .collect();
        assert_eq!(skipped, ["broken"]);
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
    fn an_award_key_is_track_then_the_sha256_of_event_and_rule() {
        let key = award_key("e1", "r1");
        let digest = key.strip_prefix("track:").expect("the track: prefix");
        assert_eq!(digest.len(), 64);
        assert!(digest.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        // Length-prefixed parts, not `track:e1:r1`.
        assert_ne!(key, "track:e1:r1");
        assert_eq!(
            key,
            questline_kit::fingerprint::key_of("track:", &["e1", "r1"])
        );
    }

    #[test]
    fn event_statuses_round_trip_and_unknown_ones_are_refused() {
        for status in [EventStatus::Pending, EventStatus::Applied] {
            assert_eq!(EventStatus::parse(status.as_str()).ok(), Some(status));
        }
        assert!(EventStatus::parse("done").is_err());
    }

    #[test]
    fn oversized_attributes_are_refused() {
        assert!(validate("acme", "e1", "m1", "purchase", MAX_ATTRIBUTES_BYTES + 1).is_err());
        assert!(validate("acme", "e1", "m1", "purchase", 10).is_ok());
        assert!(validate("", "e1", "m1", "purchase", 10).is_err());
    }
}
