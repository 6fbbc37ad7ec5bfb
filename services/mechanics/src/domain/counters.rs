//! Counters: per-member aggregates over events — purchases in the last 30
//! days, spend this month, scans today — kept by the engine in the event's
//! own transaction and read by rules as `member.counters.<counter_id>`.
//!
//! A counter counts (or sums one attribute of) the events of its types that
//! pass its condition. Its value lives in buckets: a day for rolling
//! windows (the last N days, today included), the period itself for
//! calendar windows (day, week, month) and one bucket for a lifetime. A
//! rule sees the values from before the event it judges; the event itself
//! is `event`.

use cel::Program;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use questline_kit::expr::{self, MAX_EXPRESSION, Scope};
use questline_kit::{DomainError, Violations};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::rules::{MAX_EVENT_TYPES, Period, RuleSpec, time_zone};
use super::track::MAX_LATENESS_MS;

/// The longest rolling window, in days.
pub const MAX_ROLLING_DAYS: i32 = 366;
/// At most this many counters per programme.
pub const MAX_COUNTERS: usize = 50;

/// Over which time a counter adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// The calendar period holding the event (in the counter's time zone).
    Period(Period),
    /// The last N days, the event's day included.
    RollingDays(i32),
}

/// One counter, as written. Stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterSpec {
    #[serde(default)]
    pub description: String,
    pub event_types: Vec<String>,
    /// CEL over `event`; empty counts every event of those types.
    #[serde(default)]
    pub condition: String,
    /// The attribute summed; empty counts events.
    #[serde(default)]
    pub sum_of: String,
    pub window: Window,
    pub time_zone: String,
}

impl CounterSpec {
    /// Whether `other` counts the same events the same way (a change of
    /// window or description keeps the values kept so far).
    pub fn counts_like(&self, other: &CounterSpec) -> bool {
        (&self.event_types, &self.condition, &self.sum_of)
            == (&other.event_types, &other.condition, &other.sum_of)
    }

    pub fn compile(self, counter_id: &str) -> Result<CompiledCounter, DomainError> {
        let mut v = Violations::new();
        v.check(
            is_identifier(counter_id),
            "counter_id",
            "must be a CEL name: a letter, then letters, digits or '_' (at most 64)",
        )
        .optional_text("description", &self.description)
        .check(
            (1..=MAX_EVENT_TYPES).contains(&self.event_types.len()),
            "event_types",
            "must name 1 to 20 event types",
        )
        .check(
            self.condition.len() <= MAX_EXPRESSION,
            "condition",
            "must be at most 4096 bytes",
        );
        for (i, t) in self.event_types.iter().enumerate() {
            v.id(&format!("event_types[{i}]"), t);
        }
        if !self.sum_of.is_empty() {
            v.id("sum_of", &self.sum_of);
        }
        if let Window::RollingDays(days) = self.window {
            v.check(
                (1..=MAX_ROLLING_DAYS).contains(&days),
                "rolling_days",
                "must be 1 to 366",
            );
        }
        let zone = time_zone(&mut v, &self.time_zone);
        let condition = if self.condition.trim().is_empty() {
            None
        } else {
            expr::reported(
                &mut v,
                "condition",
                expr::compile(&self.condition, &["event"]),
            )
        };
        v.finish()?;
        Ok(CompiledCounter {
            counter_id: counter_id.into(),
            zone: zone.unwrap_or(TimeZone::UTC),
            condition,
            spec: self,
        })
    }
}

/// A CEL identifier, so `member.counters.<id>` reads it.
fn is_identifier(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A counter ready to count and be read.
pub struct CompiledCounter {
    pub counter_id: String,
    pub spec: CounterSpec,
    pub zone: TimeZone,
    pub condition: Option<Program>,
}

/// One stored bucket of one counter.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub counter_id: String,
    pub bucket: String,
    pub value: f64,
}

/// What an event adds to one counter: the bucket and the amount, and the
/// buckets before `prune_before` that no read needs any more.
#[derive(Debug, Clone, PartialEq)]
pub struct Addition {
    pub counter_id: String,
    pub bucket: String,
    pub amount: f64,
    pub prune_before: Option<String>,
}

impl CompiledCounter {
    fn listens_to(&self, event_type: &str) -> bool {
        self.spec.event_types.iter().any(|t| t == event_type)
    }

    /// The bucket holding `at_ms`.
    pub fn bucket(&self, at_ms: i64) -> String {
        match self.spec.window {
            Window::Period(period) => period.key(&self.zone, at_ms),
            Window::RollingDays(_) => Period::Day.key(&self.zone, at_ms),
        }
    }

    /// The oldest bucket a read at `at_ms` (or an event up to the lateness
    /// window before it) still needs; `None` for a lifetime.
    fn oldest_needed(&self, at_ms: i64) -> Option<String> {
        let earliest = at_ms - MAX_LATENESS_MS;
        match self.spec.window {
            Window::Period(Period::Lifetime) => None,
            Window::Period(period) => Some(period.key(&self.zone, earliest)),
            Window::RollingDays(days) => Some(day_before(&self.zone, earliest, days - 1)),
        }
    }

    /// The value at `at_ms` from the member's buckets of this counter.
    pub fn value(&self, buckets: &[Bucket], at_ms: i64) -> f64 {
        let mine = buckets.iter().filter(|b| b.counter_id == self.counter_id);
        match self.spec.window {
            Window::Period(_) => {
                let key = self.bucket(at_ms);
                mine.filter(|b| b.bucket == key).map(|b| b.value).sum()
            }
            Window::RollingDays(days) => {
                let last = Period::Day.key(&self.zone, at_ms);
                let first = day_before(&self.zone, at_ms, days - 1);
                mine.filter(|b| b.bucket >= first && b.bucket <= last)
                    .map(|b| b.value)
                    .sum()
            }
        }
    }

    /// What `event` (with `type`) adds, if this counter counts it; an
    /// expression that fails counts nothing.
    fn addition(&self, event: &Json, scope: &Scope<'_>, at_ms: i64) -> Option<Addition> {
        let event_type = event.get("type").and_then(Json::as_str)?;
        if !self.listens_to(event_type) {
            return None;
        }
        if let Some(condition) = &self.condition
            && !scope.holds(condition).unwrap_or(false)
        {
            return None;
        }
        let amount = if self.spec.sum_of.is_empty() {
            1.0
        } else {
            event.get(&self.spec.sum_of).and_then(Json::as_f64)?
        };
        Some(Addition {
            counter_id: self.counter_id.clone(),
            bucket: self.bucket(at_ms),
            amount,
            prune_before: self.oldest_needed(at_ms),
        })
    }
}

/// `days` days before the day holding `at_ms`, as a day bucket.
fn day_before(zone: &TimeZone, at_ms: i64, days: i32) -> String {
    let Ok(instant) = Timestamp::from_millisecond(at_ms) else {
        return String::new();
    };
    let day = instant.to_zoned(zone.clone()).date();
    let earlier = day.checked_sub(days.days()).unwrap_or(day);
    format!("day:{earlier}")
}

/// Adds to `v` each `member.counters.<name>` that `rule` reads and the
/// programme does not count (unless only tested with `has`).
pub fn check_rule(v: &mut Violations, rule: &RuleSpec, counters: &[CompiledCounter]) {
    let names: Vec<&str> = counters.iter().map(|c| c.counter_id.as_str()).collect();
    check_names(v, rule, &names);
}

/// Like `check_rule`, against counter ids.
pub fn check_names(v: &mut Violations, rule: &RuleSpec, names: &[&str]) {
    for (field, source) in rule.expressions() {
        let Ok(program) = expr::parse(source) else {
            continue;
        };
        for used in expr::field_uses(source, &program, "member.counters") {
            if !used.tested && !names.contains(&used.field.as_str()) {
                v.add(
                    &field,
                    format!(
                        "reads an unknown counter at line {}, column {}: '{}'",
                        used.line, used.column, used.field
                    ),
                );
            }
        }
    }
}

/// The values every counter of `counters` has at `at_ms`, by id: what
/// `member.counters` holds.
pub fn values(counters: &[CompiledCounter], buckets: &[Bucket], at_ms: i64) -> Map<String, Json> {
    counters
        .iter()
        .map(|c| (c.counter_id.clone(), number(c.value(buckets, at_ms))))
        .collect()
}

/// A whole value as an integer (so `== 2` holds for a count of two), any
/// other as a double.
fn number(value: f64) -> Json {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Json::from(value as i64)
    } else {
        Json::from(value)
    }
}

/// Keeps the pruning of `additions` only where `buckets` (the member's, read
/// before the event) hold one older than what is kept: most events find
/// nothing to prune, and a delete that finds nothing still costs a trip.
/// A bucket written concurrently is a current one, never a stale one.
pub fn prune_only_stale(additions: &mut [Addition], buckets: &[Bucket]) {
    for a in additions {
        let stale = a.prune_before.as_ref().is_some_and(|oldest| {
            buckets
                .iter()
                .any(|b| b.counter_id == a.counter_id && b.bucket < *oldest)
        });
        if !stale {
            a.prune_before = None;
        }
    }
}

/// What `event` adds to each of `counters`.
pub fn additions(counters: &[CompiledCounter], event: &Json, at_ms: i64) -> Vec<Addition> {
    let Some(event_type) = event.get("type").and_then(Json::as_str) else {
        return vec![];
    };
    if !counters.iter().any(|c| c.listens_to(event_type)) {
        return vec![];
    }
    let bound = expr::value(event);
    expr::in_scope(&[("event", &bound)], |scope| {
        counters
            .iter()
            .filter_map(|c| c.addition(event, scope, at_ms))
            .collect()
    })
}

#[cfg(test)]
mod tests;
