//! Judging one event: which rules in force at its occurrence time apply, and
//! what each may award once caps and budgets have spoken.
//!
//! Two steps, so the store can take the usage rows under lock in between:
//! `consider` runs schedules, special days, conditions and actions (pure,
//! before any write); `settle` walks the rules in priority order against the
//! usage read in the event's transaction, applying stop-after, caps,
//! budgets, then multipliers. Shadow rules are settled in a second pass
//! against their own usage: recorded, never applied.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use questline_kit::expr::{self, Scope, Variable};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::book::RuleBook;
use super::rules::actions::{Effects, Points};
use super::rules::limits::{self, Grant, Limit, Used};
use super::rules::{CompiledRule, Day, Measure, MemberDates, Period};

/// An event as the rules see it.
pub struct Occasion<'a> {
    pub at_ms: i64,
    /// The attributes, with `type` and `id`.
    pub event: &'a Json,
    /// What the engine knows of the member (`kit::expr::member` plus tags),
    /// as expressions see it (`kit::expr::value`).
    pub member: &'a Variable,
    pub dates: MemberDates,
}

/// A rule version in force at the occurrence time.
pub struct InForce<'r> {
    pub rule: &'r CompiledRule,
    pub shadow: bool,
}

/// Why a rule did or did not apply to an event: what Explain shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Applied {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cut_by: Option<String>,
    },
    OutsideSchedule,
    NotSpecialDay,
    ConditionFalse,
    NothingToAward,
    CapReached {
        limit: String,
    },
    BudgetExhausted {
        limit: String,
    },
    Stopped {
        by: String,
    },
    Error {
        message: String,
    },
}

impl Verdict {
    fn limited(limit: Limit) -> Verdict {
        match limit {
            Limit::Cap(..) => Verdict::CapReached {
                limit: describe(limit),
            },
            Limit::Budget(_) => Verdict::BudgetExhausted {
                limit: describe(limit),
            },
        }
    }

    /// The short name counted in metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Applied { .. } => "applied",
            Verdict::OutsideSchedule => "outside_schedule",
            Verdict::NotSpecialDay => "not_special_day",
            Verdict::ConditionFalse => "condition_false",
            Verdict::NothingToAward => "nothing_to_award",
            Verdict::CapReached { .. } => "cap_reached",
            Verdict::BudgetExhausted { .. } => "budget_exhausted",
            Verdict::Stopped { .. } => "stopped",
            Verdict::Error { .. } => "error",
        }
    }
}

/// "day count cap", "lifetime budget".
fn describe(limit: Limit) -> String {
    let period = |p: Period| format!("{p:?}").to_lowercase();
    match limit {
        Limit::Cap(p, Measure::Count) => format!("{} count cap", period(p)),
        Limit::Cap(p, Measure::Points) => format!("{} points cap", period(p)),
        Limit::Budget(p) => format!("{} budget", period(p)),
    }
}

/// One rule's outcome before limits.
pub struct Considered<'r> {
    pub rule: &'r CompiledRule,
    pub shadow: bool,
    pub outcome: Result<Effects, Verdict>,
}

/// Runs every rule's schedule, special days, condition and actions.
pub fn consider<'r>(rules: &[InForce<'r>], occasion: &Occasion) -> Vec<Considered<'r>> {
    let event = expr::value(occasion.event);
    let bindings = [("event", &event), ("member", occasion.member)];
    expr::in_scope(&bindings, |scope| {
        let mut nows = Nows::default();
        rules
            .iter()
            .map(|r| Considered {
                rule: r.rule,
                shadow: r.shadow,
                outcome: effects(r.rule, scope, occasion, &mut nows),
            })
            .collect()
    })
}

/// `now` per time zone, built for the first rule that reads it.
#[derive(Default)]
struct Nows(HashMap<String, Variable>);

impl Nows {
    fn of(&mut self, rule: &CompiledRule, at_ms: i64) -> &Variable {
        self.0
            .entry(rule.spec.time_zone.clone())
            .or_insert_with(|| expr::value(&now(at_ms, &rule.zone)))
    }
}

/// `now`: the occurrence time, read in the rule's zone.
pub fn now(at_ms: i64, zone: &TimeZone) -> Json {
    let Ok(instant) = Timestamp::from_millisecond(at_ms) else {
        return json!({ "ms": at_ms });
    };
    let local = instant.to_zoned(zone.clone());
    let weekday = Day::from_number(local.weekday().to_monday_one_offset())
        .map(|d| format!("{d:?}").to_uppercase())
        .unwrap_or_default();
    json!({
        "ms": at_ms,
        "time": local.timestamp().to_string(),
        "date": local.date().to_string(),
        "hour": local.hour(),
        "minute": local.minute(),
        "weekday": weekday,
    })
}

fn effects(
    rule: &CompiledRule,
    scope: &Scope,
    occasion: &Occasion,
    nows: &mut Nows,
) -> Result<Effects, Verdict> {
    if !rule.schedule.contains(&rule.zone, occasion.at_ms) {
        return Err(Verdict::OutsideSchedule);
    }
    if !rule.special_days.is_everyday() {
        let today = Timestamp::from_millisecond(occasion.at_ms)
            .map(|t| t.to_zoned(rule.zone.clone()).date())
            .map_err(|e| Verdict::Error {
                message: e.to_string(),
            })?;
        if !rule.special_days.includes(today, occasion.dates) {
            return Err(Verdict::NotSpecialDay);
        }
    }
    if !rule.uses_now {
        return run(rule, scope);
    }
    let now = nows.of(rule, occasion.at_ms);
    scope.with(&[("now", now)], |scope| run(rule, scope))
}

/// The condition, then the actions.
fn run(rule: &CompiledRule, scope: &Scope) -> Result<Effects, Verdict> {
    let error = |message: String| Verdict::Error { message };
    if let Some(condition) = &rule.condition {
        match scope.holds(condition) {
            Ok(true) => {}
            Ok(false) => return Err(Verdict::ConditionFalse),
            Err(e) => return Err(error(format!("condition {e}"))),
        }
    }
    let mut effects = Effects::default();
    for (i, action) in rule.actions.iter().enumerate() {
        action
            .perform(scope, &mut effects)
            .map_err(|e| error(format!("actions[{i}] {e}")))?;
    }
    if let Some(Points::Award { points: 0, .. }) = effects.points {
        return Err(Verdict::NothingToAward);
    }
    Ok(effects)
}

/// A usage row an event reads and moves: a member's use of a rule in a
/// period (its caps), or a rule's spend in a period (its budget). Shadow
/// rules count apart from live ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UsageKey {
    Member { rule_id: String, period: String },
    Rule { rule_id: String, period: String },
}

/// Where one rule's use is counted for an event at `at_ms`.
struct Counted<'r> {
    rule: &'r CompiledRule,
    shadow: bool,
    at_ms: i64,
}

impl Counted<'_> {
    fn period(&self, period: Period) -> String {
        let key = period.key(&self.rule.zone, self.at_ms);
        if self.shadow {
            format!("shadow:{key}")
        } else {
            key
        }
    }

    /// The member's row for a cap of `period`.
    fn member(&self, period: Period) -> UsageKey {
        UsageKey::Member {
            rule_id: self.rule.rule_id.clone(),
            period: self.period(period),
        }
    }

    /// The rule's row for a budget of `period`.
    fn budget(&self, period: Period) -> UsageKey {
        UsageKey::Rule {
            rule_id: self.rule.rule_id.clone(),
            period: self.period(period),
        }
    }
}

/// The usage rows `settle` needs, in one order for every event (locks are
/// taken in it, so two events never wait on each other in a cycle).
pub fn usage_keys(considered: &[Considered], at_ms: i64) -> Vec<UsageKey> {
    let mut keys = BTreeSet::new();
    for c in considered.iter().filter(|c| c.outcome.is_ok()) {
        let counted = Counted {
            rule: c.rule,
            shadow: c.shadow,
            at_ms,
        };
        for cap in &c.rule.spec.caps {
            keys.insert(counted.member(cap.period));
        }
        if let Some(b) = &c.rule.spec.budget {
            keys.insert(counted.budget(b.period));
        }
    }
    keys.into_iter().collect()
}

/// What one rule did for the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub rule_id: String,
    pub version: i32,
    pub rule_name: String,
    pub shadow: bool,
    pub verdict: Verdict,
    /// Points awarded (or, in shadow, that would have been), with their currency.
    pub points: Option<(String, i64)>,
    /// The rest of its effects, when it applied.
    pub effects: Effects,
}

/// The outcome of one event: every rule considered, and how usage moves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settlement {
    pub rules: Vec<Settled>,
    pub usage: Vec<(UsageKey, Used)>,
}

impl Settlement {
    /// The live rules that applied.
    pub fn applied(&self) -> impl Iterator<Item = &Settled> {
        self.rules
            .iter()
            .filter(|s| !s.shadow && matches!(s.verdict, Verdict::Applied { .. }))
    }
}

/// An event's rules considered, with the book they came from: what the
/// store settles later, in a batch, once it holds the usage rows.
pub struct Judged {
    book: Arc<RuleBook>,
    event_type: String,
    at_ms: i64,
    outcomes: Vec<Result<Effects, Verdict>>,
}

impl Judged {
    /// `considered` must be `consider`'s answer for `book.in_force(event_type, at_ms)`.
    pub fn new(
        book: Arc<RuleBook>,
        event_type: &str,
        at_ms: i64,
        considered: Vec<Considered>,
    ) -> Judged {
        Judged {
            outcomes: considered.into_iter().map(|c| c.outcome).collect(),
            book,
            event_type: event_type.into(),
            at_ms,
        }
    }

    /// `settle` of the same rules, found again in the book: the book's
    /// rules in force are the same list in the same order every time.
    pub fn settle(&self, usage: &HashMap<UsageKey, Used>) -> Settlement {
        let in_force = self.book.in_force(&self.event_type, self.at_ms);
        let considered = in_force
            .into_iter()
            .zip(self.outcomes.iter().cloned())
            .map(|(f, outcome)| Considered {
                rule: f.rule,
                shadow: f.shadow,
                outcome,
            })
            .collect();
        settle(considered, usage, self.at_ms)
    }
}

/// Settles the considered rules against `usage` (rows absent count as unused).
pub fn settle(
    considered: Vec<Considered>,
    usage: &HashMap<UsageKey, Used>,
    at_ms: i64,
) -> Settlement {
    let mut settlement = Settlement::default();
    let (live, shadow): (Vec<_>, Vec<_>) = considered.into_iter().partition(|c| !c.shadow);
    let base = settle_pass(live, usage, at_ms, &HashMap::new(), &mut settlement);
    settle_pass(shadow, usage, at_ms, &base, &mut settlement);
    settlement
}

/// One pass over rules in priority order; answers the points its award
/// rules gave per currency, which multipliers (and shadow multipliers) read.
fn settle_pass(
    considered: Vec<Considered>,
    usage: &HashMap<UsageKey, Used>,
    at_ms: i64,
    live_base: &HashMap<String, i64>,
    out: &mut Settlement,
) -> HashMap<String, i64> {
    let mut base: HashMap<String, i64> = HashMap::new();
    let mut stopped_by: Option<String> = None;
    let mut multipliers = Vec::new();
    for c in considered {
        let index = out.rules.len();
        let mut settled = Settled {
            rule_id: c.rule.rule_id.clone(),
            version: c.rule.version,
            rule_name: c.rule.spec.name.clone(),
            shadow: c.shadow,
            verdict: Verdict::ConditionFalse,
            points: None,
            effects: Effects::default(),
        };
        let effects = match (&stopped_by, c.outcome) {
            (Some(by), Ok(_)) => {
                settled.verdict = Verdict::Stopped { by: by.clone() };
                out.rules.push(settled);
                continue;
            }
            (_, Err(verdict)) => {
                settled.verdict = verdict;
                out.rules.push(settled);
                continue;
            }
            (None, Ok(effects)) => effects,
        };
        if c.rule.spec.stop_after {
            stopped_by = Some(c.rule.rule_id.clone());
        }
        match &effects.points {
            Some(Points::Multiply { .. }) => multipliers.push((index, c.rule, effects)),
            other => {
                let asked = match other {
                    Some(Points::Award { points, .. }) => *points,
                    _ => 0,
                };
                let given = apply(&mut settled, c.rule, effects, asked, usage, at_ms, out);
                if let Some((currency, points)) = given {
                    *base.entry(currency).or_default() += points;
                }
            }
        }
        out.rules.push(settled);
    }
    for (index, rule, effects) in multipliers {
        let Some(Points::Multiply { currency, factor }) = &effects.points else {
            continue;
        };
        let sum = base
            .get(currency)
            .or(live_base.get(currency))
            .copied()
            .unwrap_or(0);
        let bonus = (sum as f64 * (factor - 1.0)).floor() as i64;
        let mut settled = out.rules[index].clone();
        if bonus <= 0 {
            settled.verdict = Verdict::NothingToAward;
        } else {
            apply(&mut settled, rule, effects, bonus, usage, at_ms, out);
        }
        out.rules[index] = settled;
    }
    base
}

/// Grants `asked` points under the rule's limits; on success records the
/// verdict, effects and usage, and answers the points given.
fn apply(
    settled: &mut Settled,
    rule: &CompiledRule,
    mut effects: Effects,
    asked: i64,
    usage: &HashMap<UsageKey, Used>,
    at_ms: i64,
    out: &mut Settlement,
) -> Option<(String, i64)> {
    let counted = Counted {
        rule,
        shadow: settled.shadow,
        at_ms,
    };
    let used = |key: &UsageKey| usage.get(key).copied().unwrap_or_default();
    let caps: Vec<_> = rule
        .spec
        .caps
        .iter()
        .map(|cap| (*cap, used(&counted.member(cap.period))))
        .collect();
    let budget = rule
        .spec
        .budget
        .map(|b| (b, used(&counted.budget(b.period)).points));
    match limits::grant(asked, &caps, budget) {
        Grant::Refused(limit) => {
            settled.verdict = Verdict::limited(limit);
            None
        }
        Grant::Allowed { points, cut_by } => {
            settled.verdict = Verdict::Applied {
                cut_by: cut_by.map(describe),
            };
            let mut periods: Vec<_> = rule.spec.caps.iter().map(|c| c.period).collect();
            periods.sort_by_key(|p| *p as u8);
            periods.dedup();
            for period in periods {
                let delta = Used { count: 1, points };
                out.usage.push((counted.member(period), delta));
            }
            if let Some(b) = &rule.spec.budget {
                let delta = Used { count: 1, points };
                out.usage.push((counted.budget(b.period), delta));
            }
            let currency = rule.spec.currency().map(str::to_string);
            settled.points = currency.filter(|_| points > 0).map(|c| (c, points));
            effects.points = None;
            settled.effects = effects;
            settled.points.clone()
        }
    }
}

#[cfg(test)]
mod tests;
