//! One event against a rule set: priorities, stop-after, caps and budgets at
//! period boundaries, multipliers, shadow rules, runtime errors.

use super::*;
use crate::domain::rules::{Action, Budget, Cap, RuleSpec, Strictness};
use serde_json::json;

fn rule(id: &str, spec: RuleSpec) -> CompiledRule {
    spec.compile(id, 1, Strictness::New).expect("a valid rule")
}

fn at(rfc3339: &str) -> i64 {
    rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
}

/// An event and a member, owned; `occasion()` lends them to the rules.
struct Given {
    at_ms: i64,
    event: Json,
    member: Json,
    dates: MemberDates,
}

impl Given {
    fn occasion<'a>(&'a self, member: &'a questline_kit::expr::Variable) -> Occasion<'a> {
        Occasion {
            at_ms: self.at_ms,
            event: &self.event,
            member,
            dates: self.dates,
        }
    }
}

fn occasion(amount: f64, at_ms: i64) -> Given {
    Given {
        at_ms,
        event: json!({"type": "purchase", "id": "e1", "amount": amount}),
        member: json!({"id": "m1", "external_id": "alice", "tags": []}),
        dates: MemberDates::default(),
    }
}

/// Runs one event; `usage` stands for what earlier events used.
fn judge(
    rules: &[(&CompiledRule, bool)],
    given: &Given,
    usage: &HashMap<UsageKey, Used>,
) -> Settlement {
    let member = questline_kit::expr::value(&given.member);
    let o = given.occasion(&member);
    let in_force: Vec<_> = rules
        .iter()
        .map(|(rule, shadow)| InForce {
            rule,
            shadow: *shadow,
        })
        .collect();
    settle(consider(&in_force, &o), usage, o.at_ms)
}

fn outcomes(s: &Settlement) -> Vec<(&str, &str, i64)> {
    s.rules
        .iter()
        .map(|r| {
            let points = r.points.as_ref().map_or(0, |(_, p)| *p);
            (r.rule_id.as_str(), r.verdict.name(), points)
        })
        .collect()
}

/// Applies a settlement's usage moves, as the store does.
fn record(usage: &mut HashMap<UsageKey, Used>, s: &Settlement) {
    for (key, delta) in &s.usage {
        let row = usage.entry(key.clone()).or_default();
        row.count += delta.count;
        row.points += delta.points;
    }
}

#[test]
fn priority_and_stop_after() {
    let mut first = RuleSpec::purchase("event.amount >= 100.0", "50");
    first.priority = 1;
    first.stop_after = true;
    let mut base = RuleSpec::purchase("", "event.amount / 10.0");
    base.priority = 2;
    let (first, base) = (rule("big-spender", first), rule("base", base));
    let rules = [(&base, false), (&first, false)];
    let mut sorted = rules.to_vec();
    sorted.sort_by_key(|(r, _)| (r.spec.priority, r.rule_id.clone()));
    let now = at("2026-12-05T03:00:00Z");
    let big = judge(&sorted, &occasion(120.0, now), &HashMap::new());
    assert_eq!(
        outcomes(&big),
        [("big-spender", "applied", 50), ("base", "stopped", 0)]
    );
    let small = judge(&sorted, &occasion(40.0, now), &HashMap::new());
    assert_eq!(
        outcomes(&small),
        [
            ("big-spender", "condition_false", 0),
            ("base", "applied", 4)
        ]
    );
}

#[test]
fn a_daily_cap_resets_at_local_midnight() {
    // A QR scan earns a bonus star once a day, Singapore time.
    let mut spec = RuleSpec::purchase("", "1");
    spec.time_zone = "Asia/Singapore".into();
    spec.caps = vec![Cap {
        period: Period::Day,
        measure: Measure::Count,
        limit: 1,
    }];
    let scan = rule("scan-bonus", spec);
    let mut usage = HashMap::new();
    let table = [
        ("2026-12-05T01:00:00Z", "applied"),     // 09:00 on the 5th
        ("2026-12-05T15:59:59Z", "cap_reached"), // 23:59:59 on the 5th
        ("2026-12-05T16:00:00Z", "applied"),     // 00:00 on the 6th
        ("2026-12-05T17:00:00Z", "cap_reached"),
    ];
    for (instant, want) in table {
        let s = judge(&[(&scan, false)], &occasion(1.0, at(instant)), &usage);
        assert_eq!(s.rules[0].verdict.name(), want, "{instant}");
        record(&mut usage, &s);
    }
}

#[test]
fn a_budget_is_spent_to_the_last_point_and_never_past_it() {
    let mut spec = RuleSpec::purchase("", "30");
    spec.budget = Some(Budget {
        period: Period::Month,
        limit: 100,
    });
    let promo = rule("promo", spec);
    let mut usage = HashMap::new();
    let mut given = vec![];
    for day in [
        "2026-12-01",
        "2026-12-10",
        "2026-12-20",
        "2026-12-31",
        "2026-12-31",
    ] {
        let s = judge(
            &[(&promo, false)],
            &occasion(1.0, at(&format!("{day}T12:00:00Z"))),
            &usage,
        );
        given.push(outcomes(&s)[0].2);
        record(&mut usage, &s);
    }
    assert_eq!(given, [30, 30, 30, 10, 0]);
    // January is a new period.
    let s = judge(
        &[(&promo, false)],
        &occasion(1.0, at("2027-01-01T00:00:00Z")),
        &usage,
    );
    assert_eq!(outcomes(&s), [("promo", "applied", 30)]);
}

#[test]
fn birthdays_double_the_stars_under_their_own_cap() {
    let base = rule("base", RuleSpec::purchase("", "event.amount / 10.0"));
    let mut double = RuleSpec::purchase("", "0");
    double.priority = 10;
    double.special_days.birthday = true;
    double.actions = vec![Action::MultiplyAwards {
        currency: "stars".into(),
        factor: 2.0,
    }];
    double.caps = vec![Cap {
        period: Period::Day,
        measure: Measure::Points,
        limit: 15,
    }];
    let double = rule("birthday-double", double);
    let rules = [(&base, false), (&double, false)];
    let mut o = occasion(120.0, at("2026-07-14T10:00:00Z"));
    let ordinary = judge(&rules, &o, &HashMap::new());
    assert_eq!(
        outcomes(&ordinary),
        [
            ("base", "applied", 12),
            ("birthday-double", "not_special_day", 0)
        ]
    );
    o.dates.birthday = Some(jiff::civil::date(1990, 7, 14));
    let mut usage = HashMap::new();
    let birthday = judge(&rules, &o, &usage);
    assert_eq!(
        outcomes(&birthday),
        [("base", "applied", 12), ("birthday-double", "applied", 12)]
    );
    record(&mut usage, &birthday);
    let again = judge(&rules, &o, &usage);
    assert_eq!(
        outcomes(&again),
        [("base", "applied", 12), ("birthday-double", "applied", 3)]
    );
}

#[test]
fn shadow_rules_are_recorded_apart_and_never_counted_as_applied() {
    let live = rule("base", RuleSpec::purchase("", "event.amount / 10.0"));
    let mut next = RuleSpec::purchase("", "event.amount / 5.0");
    next.caps = vec![Cap {
        period: Period::Lifetime,
        measure: Measure::Count,
        limit: 1,
    }];
    let next = rule("base-v2", next);
    let mut usage = HashMap::new();
    let o = occasion(100.0, at("2026-12-05T12:00:00Z"));
    let s = judge(&[(&live, false), (&next, true)], &o, &usage);
    assert_eq!(
        outcomes(&s),
        [("base", "applied", 10), ("base-v2", "applied", 20)]
    );
    let applied: Vec<_> = s.applied().map(|r| r.rule_id.as_str()).collect();
    assert_eq!(applied, ["base"]);
    assert!(s.usage.iter().all(
        |(k, _)| matches!(k, UsageKey::Member { period, .. } if period.starts_with("shadow:"))
    ));
    record(&mut usage, &s);
    let s = judge(&[(&live, false), (&next, true)], &o, &usage);
    assert_eq!(
        outcomes(&s),
        [("base", "applied", 10), ("base-v2", "cap_reached", 0)]
    );
}

#[test]
fn runtime_errors_never_award_and_say_why() {
    let broken = rule("broken", RuleSpec::purchase("event.missing > 1.0", "1"));
    let wrong_type = rule("wrong-type", RuleSpec::purchase("", "'lots'"));
    let s = judge(
        &[(&broken, false), (&wrong_type, false)],
        &occasion(1.0, 0),
        &HashMap::new(),
    );
    assert_eq!(
        outcomes(&s),
        [("broken", "error", 0), ("wrong-type", "error", 0)]
    );
    let Verdict::Error { message } = &s.rules[0].verdict else {
        panic!("an error verdict");
    };
    assert!(message.starts_with("condition"), "{message}");
    assert_eq!(s.applied().count(), 0);
    assert!(s.usage.is_empty());
}

#[test]
fn conditions_read_now_in_the_rules_zone_and_member_tags() {
    let mut spec = RuleSpec::purchase(
        "now.weekday == 'SATURDAY' && now.hour < 15 && 'coffee' in member.tags",
        "1",
    );
    spec.time_zone = "Asia/Singapore".into();
    let r = rule("saturday-coffee", spec);
    let mut o = occasion(1.0, at("2026-12-05T06:00:00Z")); // 14:00 Saturday in Singapore
    o.member = json!({"id": "m1", "tags": ["coffee"]});
    let s = judge(&[(&r, false)], &o, &HashMap::new());
    assert_eq!(outcomes(&s), [("saturday-coffee", "applied", 1)]);
    o.at_ms = at("2026-12-05T07:00:00Z"); // 15:00
    let s = judge(&[(&r, false)], &o, &HashMap::new());
    assert_eq!(outcomes(&s), [("saturday-coffee", "condition_false", 0)]);
}

#[test]
fn verdicts_are_stored_as_tagged_json() {
    let v = Verdict::CapReached {
        limit: "day count cap".into(),
    };
    let text = serde_json::to_string(&v).unwrap();
    assert_eq!(text, r#"{"verdict":"CAP_REACHED","limit":"day count cap"}"#);
    assert_eq!(serde_json::from_str::<Verdict>(&text).unwrap(), v);
}
