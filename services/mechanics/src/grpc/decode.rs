//! Requests to checked domain values, every bad field reported at once.

use questline_kit::error::Violation;
use questline_kit::paging::{self, Page};
use questline_kit::time::{from_timestamp, now_ms};
use questline_kit::{DomainError, Violations, fingerprint, structs};
use questline_proto::mechanics as pb;

use crate::domain::rules::{
    Action, Budget, Cap, CompiledRule, Day, Measure, Period, Rounding, RuleSpec, Schedule,
    SpecialDays, Strictness, Window,
};
use crate::domain::track::{self, Track};
use crate::domain::triggers;

/// A rule definition, compiled: every mistake in it as a violation of
/// `rule.<field>` (expressions with their line and column).
pub fn rule(tenant_id: &str, rule: Option<&pb::Rule>) -> Result<CompiledRule, DomainError> {
    tenant(tenant_id)?;
    let Some(rule) = rule else {
        return Err(DomainError::invalid("rule", "is required"));
    };
    definition(rule, "rule", 1)
}

/// `rule` compiled as `version`, each mistake named under `field`.
fn definition(rule: &pb::Rule, field: &str, version: i32) -> Result<CompiledRule, DomainError> {
    let mut v = Violations::new();
    let spec = spec(&mut v, rule);
    let mut found = invalid(v.finish());
    match spec.compile(&rule.rule_id, version, Strictness::New) {
        Ok(compiled) if found.is_empty() => Ok(compiled),
        Ok(_) => Err(DomainError::Invalid(under(field, found))),
        Err(DomainError::Invalid(more)) => {
            found.extend(more);
            Err(DomainError::Invalid(under(field, found)))
        }
        Err(other) => Err(other),
    }
}

/// The violations a `Violations::finish` gave, none when it passed.
pub(super) fn invalid(checked: Result<(), DomainError>) -> Vec<Violation> {
    match checked {
        Err(DomainError::Invalid(found)) => found,
        _ => vec![],
    }
}

pub(super) fn under(field: &str, found: Vec<Violation>) -> Vec<Violation> {
    found
        .into_iter()
        .map(|v| Violation {
            field: format!("{field}.{}", v.field),
            description: v.description,
        })
        .collect()
}

fn spec(v: &mut Violations, r: &pb::Rule) -> RuleSpec {
    // Output only, and documented as never negative.
    v.check(r.version >= 0, "version", "must not be negative");
    RuleSpec {
        name: r.name.clone(),
        description: r.description.clone(),
        event_types: r.event_types.clone(),
        condition: r.condition.clone(),
        time_zone: r.time_zone.clone(),
        schedule: schedule(v, r.schedule.as_ref()),
        special_days: r
            .special_days
            .as_ref()
            .map(|s| SpecialDays {
                birthday: s.birthday,
                signup_anniversary: s.signup_anniversary,
                dates: s.dates.clone(),
            })
            .unwrap_or_default(),
        priority: r.priority,
        stop_after: r.stop_after,
        inactive_days: r.inactive_days,
        inactive_of: r.inactive_of.clone(),
        caps: r
            .caps
            .iter()
            .enumerate()
            .filter_map(|(i, c)| cap(v, i, c))
            .collect(),
        budget: r.budget.as_ref().and_then(|b| {
            let period = period(v, "budget.period", b.period)?;
            Some(Budget {
                period,
                limit: b.limit,
            })
        }),
        actions: r
            .actions
            .iter()
            .enumerate()
            .filter_map(|(i, a)| action(v, i, a))
            .collect(),
    }
}

fn schedule(v: &mut Violations, s: Option<&pb::Schedule>) -> Schedule {
    let Some(s) = s else {
        return Schedule::default();
    };
    let days = s
        .days
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let day = i8::try_from(*d).ok().and_then(Day::from_number);
            if day.is_none() {
                v.add(&format!("schedule.days[{i}]"), "must be a day of the week");
            }
            day
        })
        .collect();
    Schedule {
        start_ms: s.start_time.as_ref().map(from_timestamp),
        end_ms: s.end_time.as_ref().map(from_timestamp),
        days,
        windows: s
            .windows
            .iter()
            .map(|w| Window {
                start: w.start.clone(),
                end: w.end.clone(),
            })
            .collect(),
    }
}

pub(super) fn period(v: &mut Violations, field: &str, value: i32) -> Option<Period> {
    let period = match pb::Period::try_from(value) {
        Ok(pb::Period::Day) => Some(Period::Day),
        Ok(pb::Period::Week) => Some(Period::Week),
        Ok(pb::Period::Month) => Some(Period::Month),
        Ok(pb::Period::Lifetime) => Some(Period::Lifetime),
        _ => None,
    };
    if period.is_none() {
        v.add(field, "must be DAY, WEEK, MONTH or LIFETIME");
    }
    period
}

fn cap(v: &mut Violations, i: usize, c: &pb::Cap) -> Option<Cap> {
    let period = period(v, &format!("caps[{i}].period"), c.period);
    let measure = match pb::cap::Measure::try_from(c.measure) {
        Ok(pb::cap::Measure::Count) => Some(Measure::Count),
        Ok(pb::cap::Measure::Points) => Some(Measure::Points),
        _ => {
            v.add(&format!("caps[{i}].measure"), "must be COUNT or POINTS");
            None
        }
    };
    Some(Cap {
        period: period?,
        measure: measure?,
        limit: c.limit,
    })
}

fn action(v: &mut Violations, i: usize, a: &pb::Action) -> Option<Action> {
    use pb::action::Action as A;
    let Some(action) = &a.action else {
        v.add(&format!("actions[{i}]"), "must name one action");
        return None;
    };
    Some(match action {
        A::AwardPoints(p) => Action::AwardPoints {
            currency: p.currency.clone(),
            points: p.points.clone(),
            rounding: match pb::Rounding::try_from(p.rounding) {
                Ok(pb::Rounding::Nearest) => Rounding::Nearest,
                Ok(pb::Rounding::Ceiling) => Rounding::Ceiling,
                _ => Rounding::Floor,
            },
        },
        A::MultiplyAwards(m) => Action::MultiplyAwards {
            currency: m.currency.clone(),
            factor: m.factor,
        },
        A::SetAttribute(s) => Action::SetAttribute {
            name: s.name.clone(),
            value: s.value.clone(),
        },
        A::AddTag(t) => Action::AddTag { tag: t.tag.clone() },
        A::EmitMessage(m) => Action::EmitMessage {
            message_type: m.message_type.clone(),
        },
    })
}

/// A tenant and a rule id.
pub fn rule_ref(tenant_id: &str, rule_id: &str) -> Result<(), DomainError> {
    Violations::new()
        .id("tenant_id", tenant_id)
        .id("rule_id", rule_id)
        .finish()
}

/// The page of a tenant's rules asked for.
pub fn rules_page(req: &pb::ListRulesRequest) -> Result<Page, DomainError> {
    tenant(&req.tenant_id)?;
    paging::parse(req.page_size, &req.page_token)
}

/// An event to track, with the fingerprint of the whole request.
pub fn track(req: pb::TrackRequest) -> Result<Track, DomainError> {
    let fingerprint = fingerprint::of(&req);
    let attributes = structs::to_json(req.attributes.unwrap_or_default());
    let size = serde_json::to_vec(&attributes)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    let t = Track {
        tenant_id: req.tenant_id,
        event_id: req.event_id,
        member_id: req.member_id,
        external_id: req.external_id,
        event_type: req.event_type,
        attributes,
        occurred_at: req.occur_time.as_ref().map(from_timestamp),
        fingerprint,
    };
    track::validate(&t, size, now_ms())?;
    triggers::client_may_send(&t.event_type)?;
    Ok(t)
}

pub fn tenant(tenant_id: &str) -> Result<(), DomainError> {
    Violations::new().id("tenant_id", tenant_id).finish()
}

/// At most this many rules in one simulation.
pub const MAX_SIMULATED_RULES: usize = 20;

/// The longest range a simulation replays: the stored events' retention.
pub const MAX_SIMULATED_DAYS: i64 = 400;

/// The range a simulation replays when it names none.
pub const DEFAULT_SIMULATED_DAYS: i64 = 30;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A simulation, checked: its rules compiled (each as version 0).
pub struct Simulation {
    pub rules: Vec<CompiledRule>,
    pub range: (i64, i64),
    pub sample_size: usize,
}

pub fn simulation(req: &pb::SimulateRulesRequest) -> Result<Simulation, DomainError> {
    tenant(&req.tenant_id)?;
    let mut v = Violations::new();
    v.check(
        req.rules.len() <= MAX_SIMULATED_RULES,
        "rules",
        "must hold at most 20 rules",
    )
    .check(
        !(req.only_given && req.rules.is_empty()),
        "rules",
        "is required with only_given",
    )
    .check(
        (0..=100).contains(&req.sample_size),
        "sample_size",
        "must be 0 to 100",
    );
    // Left out: up to now (with the clock skew events may have), from 30 days before the end.
    let end = req
        .end_time
        .as_ref()
        .map_or_else(|| now_ms() + track::MAX_SKEW_MS, from_timestamp);
    let start = req.start_time.as_ref().map_or(
        end.saturating_sub(DEFAULT_SIMULATED_DAYS * DAY_MS),
        from_timestamp,
    );
    let days = end.saturating_sub(start) / DAY_MS;
    v.check(start < end, "end_time", "must be after start_time")
        .check(
            days <= MAX_SIMULATED_DAYS,
            "end_time",
            "must be at most 400 days after start_time",
        );
    let mut found = invalid(v.finish());
    let mut rules = Vec::new();
    for (i, r) in req.rules.iter().enumerate() {
        match definition(r, &format!("rules[{i}]"), 0) {
            Ok(compiled) => rules.push(compiled),
            Err(DomainError::Invalid(more)) => found.extend(more),
            Err(other) => return Err(other),
        }
    }
    if !found.is_empty() {
        return Err(DomainError::Invalid(found));
    }
    Ok(Simulation {
        rules,
        range: (start, end),
        sample_size: usize::try_from(req.sample_size).unwrap_or(0),
    })
}
