//! Rule evaluation in process: a realistic set of 20 loyalty conditions
//! against one event with member facts, as Questline runs them (CEL, the
//! variables converted once per event, each condition in a child scope) and
//! the same conditions written for GoRules' zen-expression, in the same run.
//!
//!   cargo bench -p questline-bench --bench rules
//!
//! BENCHMARKS.md reports the ratio of the two medians.

// A benchmark, like a test: a mistake in its setup must stop it.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value as Json, json};
use std::hint::black_box;

/// Each condition in CEL (Questline) and in zen-expression, alike in meaning.
const CONDITIONS: [(&str, &str); 20] = [
    ("event.amount > 0.0", "event.amount > 0"),
    (
        "event.amount >= 50.0 && event.store == 'orchard'",
        "event.amount >= 50 and event.store == 'orchard'",
    ),
    (
        "event.channel == 'app' && member.country == 'SG'",
        "event.channel == 'app' and member.country == 'SG'",
    ),
    (
        "member.attributes.tier == 'gold' && event.amount > 20.0",
        "member.attributes.tier == 'gold' and event.amount > 20",
    ),
    (
        "event.sku in ['latte', 'flat-white', 'espresso']",
        "event.sku in ['latte', 'flat-white', 'espresso']",
    ),
    (
        "event.store.startsWith('partner-')",
        "startsWith(event.store, 'partner-')",
    ),
    (
        "member.counters.purchases_30d >= 3",
        "member.counters.purchases_30d >= 3",
    ),
    (
        "'coffee-lovers' in member.segments",
        "'coffee-lovers' in member.segments",
    ),
    ("event.amount * 0.1 > 5.0", "event.amount * 0.1 > 5"),
    (
        "member.locale == 'en-SG' || member.locale == 'zh-SG'",
        "member.locale == 'en-SG' or member.locale == 'zh-SG'",
    ),
    (
        "event.currency == 'SGD' && event.amount >= 100.0",
        "event.currency == 'SGD' and event.amount >= 100",
    ),
    (
        "member.consent.marketing == true",
        "member.consent.marketing == true",
    ),
    ("size(member.tags) > 0", "len(member.tags) > 0"),
    (
        "member.attributes.interests.exists(i, i == 'pastry')",
        "some(member.attributes.interests, # == 'pastry')",
    ),
    (
        "event.quantity >= 2 && event.amount / double(event.quantity) > 10.0",
        "event.quantity >= 2 and event.amount / event.quantity > 10",
    ),
    (
        "!(event.store in ['airport', 'outlet'])",
        "not (event.store in ['airport', 'outlet'])",
    ),
    (
        "event.hour >= 9 && event.hour < 15",
        "event.hour >= 9 and event.hour < 15",
    ),
    (
        "member.counters.spend_month + event.amount > 500.0",
        "member.counters.spend_month + event.amount > 500",
    ),
    (
        "event.coupon != '' && event.amount > 30.0",
        "event.coupon != '' and event.amount > 30",
    ),
    (
        "event.weekday == 6 || event.weekday == 7",
        "event.weekday == 6 or event.weekday == 7",
    ),
];

fn event() -> Json {
    json!({
        "type": "purchase", "id": "till-7-0815", "amount": 64.5, "currency": "SGD",
        "store": "orchard", "sku": "latte", "channel": "app", "quantity": 3,
        "coupon": "", "hour": 10, "weekday": 6,
        "location": {"lat": 1.3048, "lng": 103.8318}
    })
}

fn member() -> Json {
    json!({
        "id": "m-42", "external_id": "card-0042", "country": "SG", "locale": "en-SG",
        "birthday": "1990-04-01", "joined": "2024-01-15T08:00:00Z",
        "attributes": {"tier": "gold", "interests": ["coffee", "pastry"]},
        "consent": {"marketing": true, "profiling": true},
        "tags": ["early-adopter"], "segments": ["coffee-lovers", "singapore"],
        "counters": {"purchases_30d": 4, "spend_month": 312.5}
    })
}

/// How many of the 20 conditions hold: the same in both engines.
const HOLDING: usize = 16;

fn questline(c: &mut Criterion) {
    let programs: Vec<_> = CONDITIONS
        .iter()
        .map(|(cel, _)| questline_kit::expr::compile(cel, &["event", "member", "now"]).unwrap())
        .collect();
    let (event, member) = (event(), member());
    let run = || {
        let e = questline_kit::expr::value(&event);
        let m = questline_kit::expr::value(&member);
        questline_kit::expr::in_scope(&[("event", &e), ("member", &m)], |scope| {
            programs
                .iter()
                .filter(|p| scope.holds(p).unwrap_or(false))
                .count()
        })
    };
    assert_eq!(run(), HOLDING, "the CEL conditions");
    c.bench_function("twenty_rules/questline_cel", |b| {
        b.iter(|| black_box(run()))
    });
}

fn zen(c: &mut Criterion) {
    use zen_expression::Variable;
    use zen_expression::vm::VM;
    let context = json!({"event": event(), "member": member()});
    let compiled: Vec<_> = CONDITIONS
        .iter()
        .map(|(_, zen)| zen_expression::compile_expression(zen).unwrap())
        .collect();
    // Its fastest use: the context converted once per event, one VM reused.
    let mut vm = VM::new();
    let mut run = || {
        let environment: Variable = context.clone().into();
        compiled
            .iter()
            .filter(|e| {
                let answer = e.evaluate_with(environment.clone(), &mut vm);
                matches!(answer, Ok(Variable::Bool(true)))
            })
            .count()
    };
    assert_eq!(run(), HOLDING, "the zen-expression conditions");
    c.bench_function("twenty_rules/zen_expression", |b| {
        b.iter(|| black_box(run()))
    });
}

criterion_group!(benches, questline, zen);
criterion_main!(benches);
