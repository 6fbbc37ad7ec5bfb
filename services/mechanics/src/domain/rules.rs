//! Rules and their CEL expressions.

use cel::{Program, Value};
use questline_kit::expr::{self, MAX_EXPRESSION};
use questline_kit::{DomainError, Violations};

/// The most points one rule may award for one event (the ledger's own bound).
pub const MAX_POINTS: i64 = 1_000_000_000_000;

/// A rule as the programme manager wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub rule_id: String,
    pub name: String,
    pub event_type: String,
    pub condition: String,
    pub points: String,
    pub currency: String,
}

/// A rule ready to evaluate: both expressions parsed.
pub struct CompiledRule {
    pub spec: RuleSpec,
    condition: Option<Program>,
    points: Program,
}

impl RuleSpec {
    /// Checks every field and that both expressions are valid CEL naming
    /// only `event` and `member`: for a rule being written.
    pub fn compile(self) -> Result<CompiledRule, DomainError> {
        self.compile_with(Strictness::NewRule)
    }

    /// Compiles a rule as saved: checks added since it was written must not
    /// silently stop it awarding.
    pub fn compile_stored(self) -> Result<CompiledRule, DomainError> {
        self.compile_with(Strictness::Stored)
    }

    fn compile_with(self, strictness: Strictness) -> Result<CompiledRule, DomainError> {
        let mut v = Violations::new();
        v.id("rule_id", &self.rule_id)
            .text("name", &self.name)
            .id("event_type", &self.event_type)
            .id("currency", &self.currency)
            .text("points", &self.points)
            .check(
                self.condition.len() <= MAX_EXPRESSION,
                "condition",
                "must be at most 4096 bytes",
            )
            .check(
                self.points.len() <= MAX_EXPRESSION,
                "points",
                "must be at most 4096 bytes",
            );
        let condition = if self.condition.trim().is_empty() {
            None
        } else {
            parse(&mut v, "condition", &self.condition, strictness)
        };
        let points = parse(&mut v, "points", &self.points, strictness);
        v.finish()?;
        let points = points.ok_or_else(|| DomainError::invalid("points", "is required"))?;
        Ok(CompiledRule {
            spec: self,
            condition,
            points,
        })
    }
}

/// The names an expression may use.
const VARIABLES: [&str; 2] = ["event", "member"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strictness {
    NewRule,
    Stored,
}

fn parse(v: &mut Violations, field: &str, source: &str, strictness: Strictness) -> Option<Program> {
    if source.trim().is_empty() {
        return None;
    }
    let compiled = match strictness {
        Strictness::NewRule => expr::compile(source, &VARIABLES),
        Strictness::Stored => expr::parse(source),
    };
    expr::reported(v, field, compiled)
}

/// What the expressions see: `event` (its attributes plus `type`) and `member`
/// (`id`, `external_id`, and identity's facts: `locale`, `country`,
/// `birthday`, `attributes`, `consent`).
pub struct Facts {
    pub event: serde_json::Value,
    pub member: serde_json::Value,
}

impl Facts {
    pub fn new(
        event_type: &str,
        attributes: serde_json::Map<String, serde_json::Value>,
        member_id: &str,
        external_id: &str,
        facts: &serde_json::Map<String, serde_json::Value>,
    ) -> Facts {
        let mut event = attributes;
        event.insert("type".into(), event_type.into());
        Facts {
            event: serde_json::Value::Object(event),
            member: expr::member(member_id, external_id, facts),
        }
    }
}

/// Why a rule did not award, for the logs.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Award(i64),
    ConditionFalse,
    /// The expression failed on this event (a missing attribute, a wrong type).
    Error(String),
}

impl CompiledRule {
    pub fn evaluate(&self, facts: &Facts) -> Outcome {
        let bindings = [("event", &facts.event), ("member", &facts.member)];
        if let Some(condition) = &self.condition {
            match expr::holds(condition, &bindings) {
                Ok(true) => {}
                Ok(false) => return Outcome::ConditionFalse,
                Err(err) => return Outcome::Error(format!("condition {err}")),
            }
        }
        match expr::run(&self.points, &bindings) {
            Ok(value) => points_of(value),
            Err(err) => Outcome::Error(err),
        }
    }
}

/// `floor` of a number, within `0..=MAX_POINTS`.
fn points_of(value: Value) -> Outcome {
    let floored = match value {
        Value::Int(i) => i as f64,
        Value::UInt(u) => u as f64,
        Value::Float(f) if f.is_finite() => f.floor(),
        other => return Outcome::Error(format!("points gave {other:?}, not a number")),
    };
    if floored > MAX_POINTS as f64 {
        Outcome::Error(format!(
            "points {floored} exceed the maximum of {MAX_POINTS}"
        ))
    } else if floored < 1.0 {
        Outcome::ConditionFalse
    } else {
        Outcome::Award(floored as i64)
    }
}

#[cfg(test)]
impl RuleSpec {
    /// A rule of the tests: on `purchase` events, in stars, named as its id.
    pub(crate) fn purchase(rule_id: &str, condition: &str, points: &str) -> RuleSpec {
        RuleSpec {
            rule_id: rule_id.into(),
            name: rule_id.into(),
            event_type: "purchase".into(),
            condition: condition.into(),
            points: points.into(),
            currency: "stars".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(condition: &str, points: &str) -> Result<CompiledRule, DomainError> {
        RuleSpec::purchase("r1", condition, points).compile()
    }

    fn facts(amount: f64, tier: &str) -> Facts {
        let mut attributes = serde_json::Map::new();
        attributes.insert("amount".into(), amount.into());
        let facts = serde_json::json!({"attributes": {"tier": tier}, "country": "SG"});
        Facts::new(
            "purchase",
            attributes,
            "m1",
            "alice",
            facts.as_object().unwrap(),
        )
    }

    #[test]
    fn one_star_per_ten_spent_is_floored() {
        let r = rule("event.amount > 0.0", "event.amount / 10.0").unwrap();
        assert_eq!(r.evaluate(&facts(125.0, "green")), Outcome::Award(12));
        assert_eq!(r.evaluate(&facts(9.0, "green")), Outcome::ConditionFalse);
    }

    #[test]
    fn conditions_see_the_member_profile() {
        let r = rule(
            "member.attributes.tier == 'gold' && member.country == 'SG'",
            "5",
        )
        .unwrap();
        assert_eq!(r.evaluate(&facts(1.0, "gold")), Outcome::Award(5));
        assert_eq!(r.evaluate(&facts(1.0, "green")), Outcome::ConditionFalse);
    }

    #[test]
    fn malformed_cel_is_a_field_violation() {
        let Err(DomainError::Invalid(v)) = rule("event.amount >", "1") else {
            panic!("expected a violation");
        };
        assert_eq!(v[0].field, "condition");
        assert!(rule("true", "").is_err());
        let Err(DomainError::Invalid(v)) = rule("evnt.amount > 1.0", "1") else {
            panic!("an unknown name is a mistake");
        };
        assert!(v[0].description.contains("line 1, column 1"), "{v:?}");
    }

    #[test]
    fn a_missing_attribute_or_wrong_type_never_awards() {
        let r = rule("event.missing > 1", "1").unwrap();
        assert!(matches!(r.evaluate(&facts(1.0, "g")), Outcome::Error(_)));
        let r = rule("", "'lots'").unwrap();
        assert!(matches!(r.evaluate(&facts(1.0, "g")), Outcome::Error(_)));
        let r = rule("", "1e300").unwrap();
        assert!(matches!(r.evaluate(&facts(1.0, "g")), Outcome::Error(_)));
        let r = rule("", "-5").unwrap();
        assert_eq!(r.evaluate(&facts(1.0, "g")), Outcome::ConditionFalse);
    }
}
