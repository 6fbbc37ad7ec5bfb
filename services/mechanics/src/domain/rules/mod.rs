//! Rules as a programme manager writes them, and compiled for evaluation.
//!
//! A rule listens to event types. When it is in force at the event's
//! occurrence time (its schedule and special days read in its own time
//! zone) and its CEL `condition` holds over `event`, `member` and `now`, its
//! actions run, then caps and budgets settle what it may award
//! (`crate::domain::judge`). Every edit is a new immutable version.

pub mod actions;
pub mod limits;
pub mod schedule;
pub mod special_days;
mod status;

use cel::Program;
use jiff::tz::TimeZone;
use questline_kit::expr::{self, MAX_EXPRESSION};
use questline_kit::{DomainError, Violations};

use super::triggers;
use serde::{Deserialize, Serialize};

pub use actions::{Action, CompiledAction, Rounding};
pub use limits::{Budget, Cap, Measure, Period};
pub use schedule::{CompiledSchedule, Day, Schedule, Window};
pub use special_days::{CompiledSpecialDays, MemberDates, SpecialDays};
pub use status::RuleStatus;

/// The names an expression may use.
pub const VARIABLES: [&str; 3] = ["event", "member", "now"];

/// At most this many event types, caps and actions per rule.
pub const MAX_EVENT_TYPES: usize = 20;
pub const MAX_ACTIONS: usize = 10;

/// One version of a rule, as written. Stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The event types that trigger it, e.g. "purchase".
    pub event_types: Vec<String>,
    /// CEL over `event`, `member` and `now`; empty means always.
    #[serde(default)]
    pub condition: String,
    /// IANA zone in which schedule, special days and periods are read.
    pub time_zone: String,
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default)]
    pub special_days: SpecialDays,
    /// Lower runs first; ties by rule id.
    #[serde(default)]
    pub priority: i32,
    /// When it applies, rules after it do not run for the event.
    #[serde(default)]
    pub stop_after: bool,
    #[serde(default)]
    pub caps: Vec<Cap>,
    #[serde(default)]
    pub budget: Option<Budget>,
    pub actions: Vec<Action>,
    /// With `questline.inactive` among the event types: the days without an
    /// event of `inactive_of` (any type when empty) after which it fires.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inactive_days: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inactive_of: Vec<String>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// A rule version ready to evaluate.
pub struct CompiledRule {
    pub rule_id: String,
    pub version: i32,
    pub spec: RuleSpec,
    pub zone: TimeZone,
    pub condition: Option<Program>,
    pub schedule: CompiledSchedule,
    pub special_days: CompiledSpecialDays,
    pub actions: Vec<CompiledAction>,
    /// Whether an expression reads `now` (built per event only then).
    pub uses_now: bool,
    /// Whether an expression reads `member.segments` (evaluated per event
    /// only then).
    pub uses_segments: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// What a programme manager writes now: every check.
    New,
    /// A version saved earlier: checks added since must not stop it awarding,
    /// so its expressions are only parsed.
    Stored,
}

impl RuleSpec {
    /// Checks every field and expression, each mistake with its field (and
    /// line and column inside an expression).
    pub fn compile(
        self,
        rule_id: &str,
        version: i32,
        strictness: Strictness,
    ) -> Result<CompiledRule, DomainError> {
        let mut v = Violations::new();
        v.id("rule_id", rule_id)
            .text("name", &self.name)
            .optional_text("description", &self.description)
            .check(
                !self.event_types.is_empty() && self.event_types.len() <= MAX_EVENT_TYPES,
                "event_types",
                "must name 1 to 20 event types",
            )
            .check(
                !self.actions.is_empty() && self.actions.len() <= MAX_ACTIONS,
                "actions",
                "must hold 1 to 10 actions",
            )
            .check(
                self.actions.iter().filter(|a| a.moves_points()).count() <= 1,
                "actions",
                "may hold at most one action that awards or multiplies points",
            )
            .check(
                self.condition.len() <= MAX_EXPRESSION,
                "condition",
                "must be at most 4096 bytes",
            );
        for (i, t) in self.event_types.iter().enumerate() {
            v.id(&format!("event_types[{i}]"), t).check(
                !t.starts_with(triggers::PREFIX) || triggers::TYPES.contains(&t.as_str()),
                &format!("event_types[{i}]"),
                "the engine's own types are questline.birthday, questline.signup_anniversary and questline.inactive",
            );
        }
        self.check_inactivity(&mut v);
        let zone = time_zone(&mut v, &self.time_zone);
        let condition = parse(&mut v, "condition", &self.condition, strictness);
        let schedule = self.schedule.compile(&mut v, "schedule");
        let special_days = self.special_days.compile(&mut v, "special_days");
        let awards_points = self.actions.iter().any(Action::moves_points);
        limits::check(&mut v, &self.caps, self.budget.as_ref(), awards_points);
        let actions: Vec<_> = self
            .actions
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.compile(&mut v, &format!("actions[{i}]"), strictness))
            .collect();
        v.finish()?;
        let mut programs = condition
            .iter()
            .chain(actions.iter().filter_map(CompiledAction::program));
        let uses_now = programs.any(|p| p.references().has_variable("now"));
        let uses_segments = self.expressions().iter().any(|(_, source)| {
            expr::parse(source).is_ok_and(|p| {
                expr::field_uses(source, &p, "member")
                    .iter()
                    .any(|u| u.field == "segments")
            })
        });
        Ok(CompiledRule {
            uses_now,
            uses_segments,
            rule_id: rule_id.into(),
            version,
            zone: zone.unwrap_or(TimeZone::UTC),
            condition,
            schedule,
            special_days,
            actions,
            spec: self,
        })
    }

    /// Inactivity settings go with the `questline.inactive` trigger only.
    fn check_inactivity(&self, v: &mut Violations) {
        let on_inactivity = self.event_types.iter().any(|t| t == triggers::INACTIVE);
        if on_inactivity {
            v.check(
                (1..=366).contains(&self.inactive_days),
                "inactive_days",
                "must be 1 to 366 for a rule on questline.inactive",
            );
        } else {
            v.check(
                self.inactive_days == 0 && self.inactive_of.is_empty(),
                "inactive_days",
                "is for rules on questline.inactive only",
            );
        }
        v.check(
            self.inactive_of.len() <= MAX_EVENT_TYPES,
            "inactive_of",
            "must name at most 20 event types",
        );
        for (i, t) in self.inactive_of.iter().enumerate() {
            let field = format!("inactive_of[{i}]");
            v.id(&field, t).check(
                !t.starts_with(triggers::PREFIX),
                &field,
                "must be a type clients send",
            );
        }
    }

    /// Every expression of the rule, with its field: the condition, then
    /// each action's.
    pub fn expressions(&self) -> Vec<(String, &str)> {
        let condition = (!self.condition.trim().is_empty())
            .then(|| ("condition".to_string(), self.condition.as_str()));
        let actions = self
            .actions
            .iter()
            .enumerate()
            .filter_map(|(i, a)| match a {
                Action::AwardPoints { points, .. } => {
                    Some((format!("actions[{i}].points"), points.as_str()))
                }
                Action::SetAttribute { value, .. } => {
                    Some((format!("actions[{i}].value"), value.as_str()))
                }
                _ => None,
            });
        condition.into_iter().chain(actions).collect()
    }

    /// The currency the rule moves points in, if it does.
    pub fn currency(&self) -> Option<&str> {
        self.actions.iter().find_map(|a| match a {
            Action::AwardPoints { currency, .. } | Action::MultiplyAwards { currency, .. } => {
                Some(currency.as_str())
            }
            _ => None,
        })
    }
}

pub(crate) fn time_zone(v: &mut Violations, name: &str) -> Option<TimeZone> {
    let zone = (name.len() <= 64)
        .then(|| TimeZone::get(name).ok())
        .flatten();
    if zone.is_none() {
        v.add(
            "time_zone",
            "must be an IANA time zone, e.g. Asia/Singapore",
        );
    }
    zone
}

/// Parses an expression (empty is `None`), adding its mistakes to `v`.
pub(crate) fn parse(
    v: &mut Violations,
    field: &str,
    source: &str,
    strictness: Strictness,
) -> Option<Program> {
    if source.trim().is_empty() {
        return None;
    }
    let compiled = match strictness {
        Strictness::New => expr::compile(source, &VARIABLES),
        Strictness::Stored => expr::parse(source),
    };
    expr::reported(v, field, compiled)
}

#[cfg(test)]
impl RuleSpec {
    /// A rule of the tests: on `purchase` events in UTC, awarding `points` stars.
    pub(crate) fn purchase(condition: &str, points: &str) -> RuleSpec {
        RuleSpec {
            name: "a purchase rule".into(),
            description: String::new(),
            event_types: vec!["purchase".into()],
            condition: condition.into(),
            time_zone: "UTC".into(),
            schedule: Schedule::default(),
            special_days: SpecialDays::default(),
            priority: 0,
            stop_after: false,
            caps: vec![],
            budget: None,
            actions: vec![Action::AwardPoints {
                currency: "stars".into(),
                points: points.into(),
                rounding: Rounding::Floor,
            }],
            inactive_days: 0,
            inactive_of: vec![],
        }
    }
}

#[cfg(test)]
mod tests;
