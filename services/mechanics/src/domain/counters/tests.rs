//! Counters at their window's edges, in their own time zone.

use super::*;
use serde_json::json;

fn counter(id: &str, window: Window, sum_of: &str, condition: &str) -> CompiledCounter {
    CounterSpec {
        description: String::new(),
        event_types: vec!["purchase".into()],
        condition: condition.into(),
        sum_of: sum_of.into(),
        window,
        time_zone: "Asia/Singapore".into(),
    }
    .compile(id)
    .unwrap()
}

/// Milliseconds of a Singapore wall-clock time.
fn sgt(text: &str) -> i64 {
    let civil: jiff::civil::DateTime = text.parse().unwrap();
    civil
        .in_tz("Asia/Singapore")
        .unwrap()
        .timestamp()
        .as_millisecond()
}

/// The buckets after `events` (amounts at times), as the store would keep them.
fn kept(c: &CompiledCounter, events: &[(f64, i64)]) -> Vec<Bucket> {
    let mut buckets: Vec<Bucket> = vec![];
    for (amount, at) in events {
        let event = json!({"type": "purchase", "id": "e", "amount": amount});
        for a in additions(std::slice::from_ref(c), &event, *at) {
            match buckets.iter_mut().find(|b| b.bucket == a.bucket) {
                Some(b) => b.value += a.amount,
                None => buckets.push(Bucket {
                    counter_id: a.counter_id,
                    bucket: a.bucket,
                    value: a.amount,
                }),
            }
        }
    }
    buckets
}

#[test]
fn a_rolling_window_holds_the_last_n_local_days_today_included() {
    let c = counter("spend_30d", Window::RollingDays(30), "amount", "");
    let buckets = kept(
        &c,
        &[
            (10.0, sgt("2026-11-01T23:30")),
            (20.0, sgt("2026-11-02T00:30")),
            (5.0, sgt("2026-12-01T09:00")),
        ],
    );
    // 1 December: 2 November to 1 December.
    assert_eq!(c.value(&buckets, sgt("2026-12-01T10:00")), 25.0);
    // 2 December: the 2 November purchase has left the window.
    assert_eq!(c.value(&buckets, sgt("2026-12-02T00:00")), 5.0);
}

#[test]
fn a_calendar_window_restarts_at_its_period_in_the_counters_zone() {
    let c = counter("scans_today", Window::Period(Period::Day), "", "");
    // 23:59 and 00:01 Singapore time are two days, though one UTC day.
    let buckets = kept(
        &c,
        &[
            (1.0, sgt("2026-12-05T23:59")),
            (1.0, sgt("2026-12-06T00:01")),
        ],
    );
    assert_eq!(c.value(&buckets, sgt("2026-12-05T23:59:30")), 1.0);
    assert_eq!(c.value(&buckets, sgt("2026-12-06T12:00")), 1.0);
    let month = counter("spend_month", Window::Period(Period::Month), "amount", "");
    let buckets = kept(
        &month,
        &[
            (7.5, sgt("2026-11-30T23:00")),
            (2.5, sgt("2026-12-01T01:00")),
        ],
    );
    assert_eq!(month.value(&buckets, sgt("2026-12-31T23:59")), 2.5);
    let lifetime = counter("purchases", Window::Period(Period::Lifetime), "", "");
    let buckets = kept(
        &lifetime,
        &[
            (1.0, sgt("2020-01-01T00:00")),
            (1.0, sgt("2026-12-01T00:00")),
        ],
    );
    assert_eq!(lifetime.value(&buckets, sgt("2030-01-01T00:00")), 2.0);
}

#[test]
fn only_matching_events_count_and_a_missing_amount_adds_nothing() {
    let c = counter(
        "big_spend",
        Window::Period(Period::Lifetime),
        "amount",
        "event.amount >= 50.0",
    );
    let at = sgt("2026-12-06T10:00");
    assert!(
        additions(
            std::slice::from_ref(&c),
            &json!({"type": "purchase", "amount": 20.0}),
            at
        )
        .is_empty()
    );
    assert!(
        additions(
            std::slice::from_ref(&c),
            &json!({"type": "refund", "amount": 80.0}),
            at
        )
        .is_empty()
    );
    assert!(additions(std::slice::from_ref(&c), &json!({"type": "purchase"}), at).is_empty());
    let added = additions(
        std::slice::from_ref(&c),
        &json!({"type": "purchase", "amount": 80.0}),
        at,
    );
    assert_eq!(added[0].amount, 80.0);
    assert_eq!(added[0].prune_before, None);
}

#[test]
fn buckets_older_than_the_window_and_the_lateness_window_are_pruned() {
    let c = counter("spend_30d", Window::RollingDays(30), "amount", "");
    let at = sgt("2026-12-31T12:00");
    let added = additions(
        std::slice::from_ref(&c),
        &json!({"type": "purchase", "amount": 1.0}),
        at,
    );
    // 31 December less 7 days of lateness, less 29 days.
    assert_eq!(added[0].prune_before.as_deref(), Some("day:2026-11-25"));
    // Pruned only when the member's buckets, as read, hold a stale one.
    let bucket = |counter_id: &str, day: &str| Bucket {
        counter_id: counter_id.into(),
        bucket: format!("day:{day}"),
        value: 1.0,
    };
    let mut fresh = added.clone();
    prune_only_stale(&mut fresh, &[bucket("spend_30d", "2026-11-25")]);
    assert_eq!(fresh[0].prune_before, None);
    let mut elsewhere = added.clone();
    prune_only_stale(&mut elsewhere, &[bucket("visits", "2026-01-01")]);
    assert_eq!(elsewhere[0].prune_before, None);
    let mut stale = added.clone();
    prune_only_stale(&mut stale, &[bucket("spend_30d", "2026-11-24")]);
    assert_eq!(stale[0].prune_before.as_deref(), Some("day:2026-11-25"));
}

#[test]
fn a_counter_is_named_for_cel_and_checked_like_a_rule() {
    let spec = |id: &str, window, condition: &str| {
        CounterSpec {
            description: String::new(),
            event_types: vec!["purchase".into()],
            condition: condition.into(),
            sum_of: String::new(),
            window,
            time_zone: "Asia/Singapore".into(),
        }
        .compile(id)
    };
    assert!(spec("scans-today", Window::Period(Period::Day), "").is_err());
    assert!(spec("1st", Window::Period(Period::Day), "").is_err());
    assert!(spec("ok", Window::RollingDays(0), "").is_err());
    assert!(spec("ok", Window::RollingDays(367), "").is_err());
    assert!(spec("ok", Window::Period(Period::Day), "member.country == 'SG'").is_err());
    assert!(spec("ok", Window::Period(Period::Day), "event.amount >").is_err());
    assert!(
        spec(
            "scans_today",
            Window::Period(Period::Day),
            "event.store != ''"
        )
        .is_ok()
    );
}

#[test]
fn rules_read_counts_as_integers_and_compare_them_with_any_number() {
    let c = counter("purchases", Window::Period(Period::Lifetime), "", "");
    let at = sgt("2026-12-06T10:00");
    let buckets = kept(&c, &[(1.0, at), (1.0, at)]);
    let member = json!({"counters": values(std::slice::from_ref(&c), &buckets, at)});
    for (source, expected) in [
        ("member.counters.purchases == 2", true),
        ("member.counters.purchases >= 1.5", true),
        ("member.counters.purchases < 2.5", true),
        ("member.counters.purchases > 2", false),
    ] {
        let program = expr::compile(source, &["member"]).unwrap();
        assert_eq!(
            expr::holds(&program, &[("member", &member)]),
            Ok(expected),
            "{source}"
        );
    }
}
