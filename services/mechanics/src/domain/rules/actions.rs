//! What a rule does when it applies. Adding an action is one variant here,
//! its check in `Action::compile`, and its effect in `CompiledAction::perform`.

use cel::{Program, Value};
use questline_kit::Violations;
use questline_kit::expr::Scope;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{Strictness, parse};

/// The most points one rule may award for one event (the ledger's own bound).
pub const MAX_POINTS: i64 = 1_000_000_000_000;

/// How a points formula's result becomes whole points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Rounding {
    /// Down: 12.9 → 12.
    #[default]
    Floor,
    /// To the nearest, halves up: 12.5 → 13.
    Nearest,
    /// Up: 12.1 → 13.
    Ceiling,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Points in `currency`: a number, or a CEL formula such as `event.amount / 10.0`.
    AwardPoints {
        currency: String,
        points: String,
        #[serde(default)]
        rounding: Rounding,
    },
    /// Multiplies what the event's other rules award in `currency`: the rule
    /// awards `(factor − 1) ×` their points, under its own caps and budget.
    MultiplyAwards { currency: String, factor: f64 },
    /// Sets a member attribute that later conditions read as `member.attributes.<name>`.
    SetAttribute { name: String, value: String },
    /// Adds a tag that later conditions read in `member.tags`.
    AddTag { tag: String },
    /// Publishes a `rule.message` event of `message_type` for notifications.
    EmitMessage { message_type: String },
}

/// The largest multiplier accepted.
pub const MAX_FACTOR: f64 = 100.0;

/// An action with its expressions parsed.
pub enum CompiledAction {
    Award {
        currency: String,
        points: Program,
        rounding: Rounding,
    },
    Multiply {
        currency: String,
        factor: f64,
    },
    SetAttribute {
        name: String,
        value: Program,
    },
    AddTag(String),
    EmitMessage(String),
}

impl Action {
    /// Whether the action puts points in a member's wallet.
    pub fn moves_points(&self) -> bool {
        matches!(
            self,
            Action::AwardPoints { .. } | Action::MultiplyAwards { .. }
        )
    }

    pub fn compile(
        &self,
        v: &mut Violations,
        field: &str,
        strictness: Strictness,
    ) -> Option<CompiledAction> {
        let at = |part: &str| format!("{field}.{part}");
        let expression = |v: &mut Violations, part: &str, source: &str| {
            v.check(!source.trim().is_empty(), &at(part), "is required");
            parse(v, &at(part), source, strictness)
        };
        match self {
            Action::AwardPoints {
                currency,
                points,
                rounding,
            } => {
                v.id(&at("currency"), currency);
                let points = expression(v, "points", points);
                Some(CompiledAction::Award {
                    currency: currency.clone(),
                    points: points?,
                    rounding: *rounding,
                })
            }
            Action::MultiplyAwards { currency, factor } => {
                v.id(&at("currency"), currency);
                let ok = factor.is_finite() && *factor > 1.0 && *factor <= MAX_FACTOR;
                v.check(ok, &at("factor"), "must be more than 1 and at most 100");
                ok.then(|| CompiledAction::Multiply {
                    currency: currency.clone(),
                    factor: *factor,
                })
            }
            Action::SetAttribute { name, value } => {
                v.id(&at("name"), name);
                let value = expression(v, "value", value);
                Some(CompiledAction::SetAttribute {
                    name: name.clone(),
                    value: value?,
                })
            }
            Action::AddTag { tag } => {
                v.id(&at("tag"), tag);
                Some(CompiledAction::AddTag(tag.clone()))
            }
            Action::EmitMessage { message_type } => {
                v.id(&at("message_type"), message_type);
                Some(CompiledAction::EmitMessage(message_type.clone()))
            }
        }
    }
}

/// Points a rule asks for, before caps, budgets and multipliers are settled.
#[derive(Debug, Clone, PartialEq)]
pub enum Points {
    Award { currency: String, points: i64 },
    Multiply { currency: String, factor: f64 },
}

/// Everything one rule's actions would do for one event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    pub points: Option<Points>,
    pub attributes: Vec<(String, Json)>,
    pub tags: Vec<String>,
    pub messages: Vec<String>,
}

impl CompiledAction {
    /// The action's expression, if it has one.
    pub fn program(&self) -> Option<&Program> {
        match self {
            CompiledAction::Award { points, .. } => Some(points),
            CompiledAction::SetAttribute { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Adds this action's effect; an expression that fails is an error for
    /// the whole rule, which then does nothing.
    pub fn perform(&self, scope: &Scope<'_>, effects: &mut Effects) -> Result<(), String> {
        match self {
            CompiledAction::Award {
                currency,
                points,
                rounding,
            } => {
                let points = whole_points(scope.run(points)?, *rounding)?;
                effects.points = Some(Points::Award {
                    currency: currency.clone(),
                    points,
                });
            }
            CompiledAction::Multiply { currency, factor } => {
                effects.points = Some(Points::Multiply {
                    currency: currency.clone(),
                    factor: *factor,
                });
            }
            CompiledAction::SetAttribute { name, value } => {
                let value = scalar(scope.run(value)?)?;
                effects.attributes.push((name.clone(), value));
            }
            CompiledAction::AddTag(tag) => effects.tags.push(tag.clone()),
            CompiledAction::EmitMessage(kind) => effects.messages.push(kind.clone()),
        }
        Ok(())
    }
}

/// A formula's number as whole points by `rounding`; below one is zero.
pub fn whole_points(value: Value, rounding: Rounding) -> Result<i64, String> {
    let number = match value {
        Value::Int(i) => i as f64,
        Value::UInt(u) => u as f64,
        Value::Float(f) if f.is_finite() => f,
        other => return Err(format!("points gave {other:?}, not a number")),
    };
    let whole = rounding.apply(number);
    if whole > MAX_POINTS as f64 {
        return Err(format!("points {whole} exceed the maximum of {MAX_POINTS}"));
    }
    Ok(whole.max(0.0) as i64)
}

impl Rounding {
    pub fn apply(self, number: f64) -> f64 {
        match self {
            Rounding::Floor => number.floor(),
            Rounding::Nearest => (number + 0.5).floor(),
            Rounding::Ceiling => number.ceil(),
        }
    }
}

/// An attribute value: a string, number, bool or null.
fn scalar(value: Value) -> Result<Json, String> {
    Ok(match value {
        Value::String(s) => Json::from(s.as_str()),
        Value::Int(i) => Json::from(i),
        Value::UInt(u) => Json::from(u),
        Value::Float(f) if f.is_finite() => Json::from(f),
        Value::Bool(b) => Json::from(b),
        Value::Null => Json::Null,
        other => {
            return Err(format!(
                "attribute value {other:?} is not a string, number or bool"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_rules() {
        let table = [
            (12.9, Rounding::Floor, 12),
            (12.5, Rounding::Nearest, 13),
            (12.49, Rounding::Nearest, 12),
            (12.1, Rounding::Ceiling, 13),
            (12.0, Rounding::Ceiling, 12),
            (0.4, Rounding::Floor, 0),
            (-3.0, Rounding::Ceiling, 0),
        ];
        for (number, rounding, want) in table {
            assert_eq!(
                whole_points(Value::Float(number), rounding),
                Ok(want),
                "{number} {rounding:?}"
            );
        }
        assert!(whole_points(Value::Float(1e300), Rounding::Floor).is_err());
        assert!(whole_points(Value::Float(f64::NAN), Rounding::Floor).is_err());
        assert!(whole_points(Value::String("lots".to_string().into()), Rounding::Floor).is_err());
    }

    #[test]
    fn actions_are_checked_at_save() {
        let mut v = Violations::new();
        let bad = [
            Action::AwardPoints {
                currency: "".into(),
                points: "event.amount /".into(),
                rounding: Rounding::Floor,
            },
            Action::MultiplyAwards {
                currency: "stars".into(),
                factor: 1.0,
            },
            Action::SetAttribute {
                name: "vip level".into(),
                value: "evnt.x".into(),
            },
        ];
        for (i, action) in bad.iter().enumerate() {
            let field = format!("actions[{i}]");
            assert!(action.compile(&mut v, &field, Strictness::New).is_none());
        }
        let Err(questline_kit::DomainError::Invalid(found)) = v.finish() else {
            panic!("expected violations");
        };
        let fields: Vec<_> = found.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "actions[0].currency",
                "actions[0].points",
                "actions[1].factor",
                "actions[2].name",
                "actions[2].value"
            ]
        );
    }

    #[test]
    fn actions_round_trip_as_json() {
        let action = Action::AwardPoints {
            currency: "stars".into(),
            points: "event.amount / 10.0".into(),
            rounding: Rounding::Nearest,
        };
        let json = serde_json::to_string(&action).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"award_points","currency":"stars","points":"event.amount / 10.0","rounding":"NEAREST"}"#
        );
        assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), action);
    }
}
