//! The rules engine's answers as protobuf.

use questline_kit::error::Violation;
use questline_kit::time::to_timestamp;
use questline_proto::mechanics as pb;

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::backtest::Report;
use crate::domain::judge::Verdict;
use crate::domain::rules::{
    Action, Day, Measure, Period, Rounding, RuleStatus, Schedule, SpecialDays,
};
use crate::store::entities::rule_change;
use crate::store::{RuleHistory, StoredRule, StoredVerdict, Tracked};

pub fn rule(r: StoredRule) -> pb::Rule {
    let spec = r.spec;
    pb::Rule {
        rule_id: r.head.rule_id,
        tenant_id: r.head.tenant_id,
        name: spec.name,
        description: spec.description,
        event_types: spec.event_types,
        condition: spec.condition,
        time_zone: spec.time_zone,
        schedule: schedule(spec.schedule),
        special_days: special_days(spec.special_days),
        priority: spec.priority,
        stop_after: spec.stop_after,
        inactive_days: spec.inactive_days,
        inactive_of: spec.inactive_of.clone(),
        caps: spec
            .caps
            .iter()
            .map(|c| pb::Cap {
                period: period(c.period) as i32,
                measure: match c.measure {
                    Measure::Count => pb::cap::Measure::Count,
                    Measure::Points => pb::cap::Measure::Points,
                } as i32,
                limit: c.limit,
            })
            .collect(),
        budget: spec.budget.map(|b| pb::Budget {
            period: period(b.period) as i32,
            limit: b.limit,
        }),
        actions: spec.actions.into_iter().map(action).collect(),
        version: r.version,
        status: status(RuleStatus::parse(&r.head.status).unwrap_or(RuleStatus::Draft)) as i32,
        create_time: Some(to_timestamp(r.head.created_at)),
        update_time: Some(to_timestamp(r.version_created_at.max(r.head.updated_at))),
    }
}

/// A version of a rule as it was saved.
fn version(r: StoredRule) -> pb::Rule {
    let saved = r.version_created_at;
    let mut encoded = rule(r);
    encoded.update_time = Some(to_timestamp(saved));
    encoded
}

pub fn history(h: RuleHistory) -> pb::ListRuleVersionsResponse {
    pb::ListRuleVersionsResponse {
        versions: h.versions.into_iter().map(version).collect(),
        changes: h.changes.into_iter().map(change).collect(),
    }
}

fn change(c: rule_change::Model) -> pb::RuleChange {
    pb::RuleChange {
        time: Some(to_timestamp(c.from_ms)),
        version: c.version,
        status: status(RuleStatus::parse(&c.status).unwrap_or(RuleStatus::Draft)) as i32,
    }
}

pub fn status(s: RuleStatus) -> pb::RuleStatus {
    match s {
        RuleStatus::Draft => pb::RuleStatus::Draft,
        RuleStatus::Shadow => pb::RuleStatus::Shadow,
        RuleStatus::Active => pb::RuleStatus::Active,
        RuleStatus::Paused => pb::RuleStatus::Paused,
        RuleStatus::Archived => pb::RuleStatus::Archived,
    }
}

pub(super) fn period(p: Period) -> pb::Period {
    match p {
        Period::Day => pb::Period::Day,
        Period::Week => pb::Period::Week,
        Period::Month => pb::Period::Month,
        Period::Lifetime => pb::Period::Lifetime,
    }
}

fn schedule(s: Schedule) -> Option<pb::Schedule> {
    if s == Schedule::default() {
        return None;
    }
    Some(pb::Schedule {
        start_time: s.start_ms.map(to_timestamp),
        end_time: s.end_ms.map(to_timestamp),
        days: s.days.iter().map(|d: &Day| i32::from(d.number())).collect(),
        windows: s
            .windows
            .into_iter()
            .map(|w| pb::TimeWindow {
                start: w.start,
                end: w.end,
            })
            .collect(),
    })
}

fn special_days(s: SpecialDays) -> Option<pb::SpecialDays> {
    if s == SpecialDays::default() {
        return None;
    }
    Some(pb::SpecialDays {
        birthday: s.birthday,
        signup_anniversary: s.signup_anniversary,
        dates: s.dates,
    })
}

fn action(a: Action) -> pb::Action {
    use pb::action::Action as A;
    let action = match a {
        Action::AwardPoints {
            currency,
            points,
            rounding,
        } => A::AwardPoints(pb::AwardPoints {
            currency,
            points,
            rounding: match rounding {
                Rounding::Floor => pb::Rounding::Floor,
                Rounding::Nearest => pb::Rounding::Nearest,
                Rounding::Ceiling => pb::Rounding::Ceiling,
            } as i32,
        }),
        Action::MultiplyAwards { currency, factor } => {
            A::MultiplyAwards(pb::MultiplyAwards { currency, factor })
        }
        Action::SetAttribute { name, value } => A::SetAttribute(pb::SetAttribute { name, value }),
        Action::AddTag { tag } => A::AddTag(pb::AddTag { tag }),
        Action::EmitMessage { message_type } => A::EmitMessage(pb::EmitMessage { message_type }),
    };
    pb::Action {
        action: Some(action),
    }
}

/// The definition's mistakes, or none.
pub fn validation(found: Vec<Violation>) -> pb::ValidateRuleResponse {
    pb::ValidateRuleResponse {
        valid: found.is_empty(),
        problems: found
            .into_iter()
            .map(|v| pb::RuleProblem {
                field: v.field,
                description: v.description,
            })
            .collect(),
    }
}

/// The answer to Track, the same for the first call and every replay: the
/// event's awards with the ledger transfer that carried each.
pub fn tracked(tracked: Tracked) -> pb::TrackResponse {
    pb::TrackResponse {
        event_id: tracked.event.event_id,
        member_id: tracked.event.member_id,
        awards: tracked
            .awards
            .into_iter()
            .map(|a| pb::Award {
                rule_id: a.rule_id,
                currency: a.currency,
                points: a.points,
                transfer_id: a.transfer_id.unwrap_or_default(),
                rule_version: a.rule_version,
            })
            .collect(),
    }
}

pub fn explanation(
    tracked: Tracked,
    verdicts: Vec<StoredVerdict>,
    attributes: prost_types::Struct,
) -> pb::ExplainEventResponse {
    let e = tracked.event;
    pb::ExplainEventResponse {
        event_id: e.event_id,
        event_type: e.event_type,
        member_id: e.member_id,
        occur_time: Some(to_timestamp(e.occurred_at)),
        attributes: Some(attributes),
        verdicts: verdicts.into_iter().map(verdict).collect(),
    }
}

fn verdict(v: StoredVerdict) -> pb::RuleVerdict {
    use pb::rule_verdict::Outcome as O;
    let (outcome, detail) = match v.verdict {
        Verdict::Applied { cut_by } => (O::Applied, cut_by.map(|l| format!("cut by the {l}"))),
        Verdict::OutsideSchedule => (O::OutsideSchedule, None),
        Verdict::NotSpecialDay => (O::NotSpecialDay, None),
        Verdict::ConditionFalse => (O::ConditionFalse, None),
        Verdict::NothingToAward => (O::NothingToAward, None),
        Verdict::CapReached { limit } => (O::CapReached, Some(limit)),
        Verdict::BudgetExhausted { limit } => (O::BudgetExhausted, Some(limit)),
        Verdict::Stopped { by } => (O::Stopped, Some(format!("stopped by rule {by}"))),
        Verdict::Error { message } => (O::RuntimeError, Some(message)),
    };
    let (currency, points) = v.points.unwrap_or_default();
    pb::RuleVerdict {
        rule_id: v.rule_id,
        rule_version: v.version,
        shadow: v.shadow,
        outcome: outcome as i32,
        detail: detail.unwrap_or_default(),
        points,
        currency,
    }
}

pub fn progress(replayed: i64, total: i64) -> pb::SimulateRulesResponse {
    pb::SimulateRulesResponse {
        update: Some(pb::simulate_rules_response::Update::Progress(
            pb::SimulationProgress {
                events_replayed: replayed,
                events_total: total,
            },
        )),
    }
}

pub fn report(r: Report, live: BTreeMap<String, i64>) -> pb::SimulateRulesResponse {
    let currencies: BTreeSet<&String> = r.simulated.keys().chain(live.keys()).collect();
    let difference = currencies
        .into_iter()
        .map(|c| {
            let simulated = r.simulated.get(c).copied().unwrap_or(0);
            let live = live.get(c).copied().unwrap_or(0);
            pb::CurrencyDifference {
                currency: c.clone(),
                simulated,
                live,
                difference: simulated - live,
            }
        })
        .collect();
    let report = pb::SimulationReport {
        events_replayed: r.replayed,
        events_matched: r.matched,
        members_reached: r.members_reached,
        points_by_day: r
            .by_day
            .into_iter()
            .map(|((date, currency), points)| pb::DayPoints {
                date,
                currency,
                points,
            })
            .collect(),
        rules: r
            .rules
            .into_iter()
            .map(|(rule_id, t)| pb::SimulatedRule {
                rule_id,
                version: t.version,
                events_matched: t.matched,
                points: t.points,
                currency: t.currency,
                cap_hits: t.cap_hits,
                budget_hits: t.budget_hits,
                runtime_errors: t.errors,
            })
            .collect(),
        difference,
        samples: r
            .samples
            .into_iter()
            .map(|s| pb::SimulatedOutcome {
                event_id: s.event_id,
                member_id: s.member_id,
                rule_id: s.rule_id,
                points: s.points,
                currency: s.currency,
            })
            .collect(),
    };
    pb::SimulateRulesResponse {
        update: Some(pb::simulate_rules_response::Update::Report(report)),
    }
}
