//! The rules engine from outside, on every backend (PostgreSQL + NATS when
//! configured): a campaign budget is spent to the last point and never past
//! it under concurrent events, a member's daily cap holds, the ledger's
//! books agree; a backtest awards what the same rules awarded live;
//! mistakes are refused at save with their position, and runtime errors are
//! explained.

#![allow(clippy::unwrap_used)]

use futures::StreamExt;
use questline_proto::ledger::{GetBalancesRequest, GetProgrammeTotalsRequest};
use questline_proto::mechanics::{self as mech, ArchiveRuleRequest, TrackRequest};
use questline_tests::{
    Api, Backend, Harness, Programme, each_backend, purchase, purchase_rule, violations,
};
use tonic::Code;

/// Tracks every event, `in_flight` at a time, retrying what is retryable;
/// the points each event was awarded.
async fn track_all(api: &Api, events: Vec<TrackRequest>, in_flight: usize) -> Vec<i64> {
    futures::stream::iter(events)
        .map(|event| {
            let mut mechanics = api.mechanics.clone();
            async move {
                for _ in 0..20 {
                    match mechanics.track(event.clone()).await {
                        Ok(answer) => {
                            return answer
                                .into_inner()
                                .awards
                                .iter()
                                .map(|a| a.points)
                                .sum::<i64>();
                        }
                        Err(s) if matches!(s.code(), Code::Aborted | Code::Unavailable) => {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        }
                        Err(s) => panic!("track failed: {s:?}"),
                    }
                }
                panic!("track kept being aborted");
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await
}

/// The programme with its own rule archived and `rule` active instead.
async fn programme_with(h: &Harness, name: &str, rule: mech::Rule) -> (Programme, Api) {
    let p = h.programme(name).await;
    let mut api = h.api(Some(&p.token));
    api.mechanics
        .archive_rule(ArchiveRuleRequest {
            tenant_id: p.tenant_id.clone(),
            rule_id: "stars-per-purchase".into(),
        })
        .await
        .unwrap();
    api.mechanics
        .create_rule(mech::CreateRuleRequest {
            tenant_id: p.tenant_id.clone(),
            rule: Some(rule),
            activate: true,
        })
        .await
        .unwrap();
    (p, api)
}

fn rule(p: &Programme, rule_id: &str, points: &str) -> mech::Rule {
    purchase_rule(&p.tenant_id, rule_id, "", points)
        .rule
        .unwrap()
}

fn event(p: &Programme, member_id: &str, event_id: String) -> TrackRequest {
    TrackRequest {
        tenant_id: p.tenant_id.clone(),
        event_id,
        member_id: member_id.into(),
        event_type: "purchase".into(),
        occur_time: None,
        attributes: Some(purchase(30.0)),
        external_id: String::new(),
    }
}

async fn balance(api: &mut Api, p: &Programme, member_id: &str) -> i64 {
    let balances = api
        .ledger
        .get_balances(GetBalancesRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: member_id.into(),
            expiring_within_days: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .balances;
    balances.iter().map(|b| b.total).sum()
}

async fn issued(api: &mut Api, p: &Programme) -> i64 {
    let totals = api
        .ledger
        .get_programme_totals(GetProgrammeTotalsRequest {
            tenant_id: p.tenant_id.clone(),
            currency: "stars".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .totals;
    totals.iter().map(|t| t.issued).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_events_spend_a_budget_to_the_last_point() {
    each_backend(|backend| async move {
        // The full count on PostgreSQL; SQLite, one writer, proves the same with fewer.
        let (count, budget) = match backend {
            Backend::PostgresNats => (10_000, 5_000),
            Backend::SqliteMemoryBus => (2_000, 1_000),
        };
        let h = Harness::start(backend).await;
        // 3 stars an event: whole awards until the last one is cut to what remains.
        let mut promo = {
            let p = h.programme("budget-probe").await;
            rule(&p, "promo", "3")
        };
        promo.budget = Some(mech::Budget {
            period: mech::Period::Lifetime as i32,
            limit: budget,
        });
        let (p, mut api) = programme_with(&h, "budget", promo).await;
        let issued_before = issued(&mut api, &p).await;
        let mut members = vec![];
        for i in 0..20 {
            members.push(
                api.upsert_member(&p.tenant_id, &format!("shopper-{i}"), None)
                    .await,
            );
        }
        let events = (0..count)
            .map(|i| event(&p, &members[i % members.len()], format!("order-{i}")))
            .collect();
        let awarded = track_all(&api, events, 64).await;
        assert_eq!(awarded.iter().sum::<i64>(), budget);
        let whole = awarded.iter().filter(|p| **p == 3).count() as i64;
        let cut: Vec<_> = awarded.iter().filter(|p| (1..3).contains(*p)).collect();
        assert_eq!(whole, budget / 3);
        assert_eq!(cut, [&(budget % 3)]);
        let mut held = 0;
        for m in &members {
            held += balance(&mut api, &p, m).await;
        }
        assert_eq!(held, budget, "the members hold what was awarded");
        assert_eq!(issued(&mut api, &p).await - issued_before, budget);
        h.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daily_cap_holds_under_two_hundred_concurrent_events_of_one_member() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let mut capped = {
            let p = h.programme("cap-probe").await;
            rule(&p, "three-a-day", "10")
        };
        capped.caps = vec![mech::Cap {
            period: mech::Period::Day as i32,
            measure: mech::cap::Measure::Count as i32,
            limit: 3,
        }];
        let (p, mut api) = programme_with(&h, "cap", capped).await;
        let member = api.upsert_member(&p.tenant_id, "eager", None).await;
        let events: Vec<_> = (0..200)
            .map(|i| event(&p, &member, format!("scan-{i}")))
            .collect();
        let awarded = track_all(&api, events.clone(), 200).await;
        assert_eq!(awarded.iter().filter(|p| **p > 0).count(), 3);
        assert_eq!(balance(&mut api, &p, &member).await, 30);
        // The same events again, reordered: nothing more.
        let again = track_all(&api, events.into_iter().rev().collect(), 50).await;
        assert_eq!(again.iter().sum::<i64>(), 30);
        assert_eq!(balance(&mut api, &p, &member).await, 30);
        h.cleanup().await;
    })
    .await;
}

/// A purchase naming its member by the brand's own id.
fn by_card(p: &Programme, external_id: &str, event_id: &str) -> TrackRequest {
    TrackRequest {
        member_id: String::new(),
        external_id: external_id.into(),
        ..event(p, "", event_id.into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_may_name_their_member_by_the_brands_own_id() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("cards").await;
        let other = h.programme("cards-elsewhere").await;
        let mut api = h.api(Some(&p.token));
        let mut theirs = h.api(Some(&other.token));
        theirs.upsert_member(&other.tenant_id, "card-9", None).await;
        // Tracked at once, before the member's event reaches mechanics'
        // read model: twenty first reads of one new member race.
        let member = api.upsert_member(&p.tenant_id, "card-7", None).await;
        let events = (0..20)
            .map(|i| by_card(&p, "card-7", &format!("till-{i}")))
            .collect::<Vec<_>>();
        let awarded = track_all(&api, events.clone(), 20).await;
        assert!(
            awarded
                .iter()
                .all(|points| *points == awarded[0] && *points > 0)
        );
        let earned: i64 = awarded.iter().sum();
        assert_eq!(balance(&mut api, &p, &member).await, earned);
        let answer = api.mechanics.track(events[0].clone()).await.unwrap();
        assert_eq!(
            answer.get_ref().member_id,
            member,
            "the replay names the member"
        );
        assert_eq!(
            balance(&mut api, &p, &member).await,
            earned,
            "nothing twice"
        );

        // Bad references are refused and leave nothing behind.
        let both = TrackRequest {
            member_id: member.clone(),
            ..by_card(&p, "card-7", "both")
        };
        let neither = by_card(&p, "", "neither");
        for (request, field) in [(both, "external_id"), (neither, "member_id")] {
            let refused = api.mechanics.track(request).await.unwrap_err();
            assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
            let fields: Vec<_> = violations(&refused)
                .iter()
                .map(|v| v.split(':').next().unwrap().to_string())
                .collect();
            assert_eq!(fields, [field], "{refused:?}");
        }
        for (external_id, event_id) in [("card-unknown", "lost"), ("card-9", "crossed")] {
            let refused = api
                .mechanics
                .track(by_card(&p, external_id, event_id))
                .await;
            assert_eq!(refused.unwrap_err().code(), Code::NotFound, "{external_id}");
        }
        for event_id in ["both", "neither", "lost", "crossed"] {
            let explained = api
                .mechanics
                .explain_event(mech::ExplainEventRequest {
                    tenant_id: p.tenant_id.clone(),
                    event_id: event_id.into(),
                })
                .await;
            assert_eq!(explained.unwrap_err().code(), Code::NotFound, "{event_id}");
        }

        // Identity answers by the brand's id for servers, not for member apps.
        let read = |api: &mut Api, external_id: &str| {
            let request = questline_proto::identity::GetMemberRequest {
                tenant_id: p.tenant_id.clone(),
                external_id: external_id.into(),
                ..Default::default()
            };
            let mut identity = api.identity.clone();
            async move { identity.get_member(request).await }
        };
        let found = read(&mut api, "card-7").await.unwrap().into_inner();
        assert_eq!(found.member.unwrap().member_id, member);
        let app = h.member_token(&p, &member).await;
        let denied = read(&mut h.api(Some(&app)), "card-7").await.unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
        h.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rules_and_counters_without_a_time_zone_take_the_tenants() {
    use questline_proto::identity::UpdateTenantRequest;
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("zoned").await;
        let mut api = h.api(Some(&p.token));
        let move_to = |zone: &str| UpdateTenantRequest {
            tenant_id: p.tenant_id.clone(),
            time_zone: Some(zone.into()),
            ..Default::default()
        };
        api.identity
            .update_tenant(move_to("Asia/Singapore"))
            .await
            .unwrap();
        let mut request = purchase_rule(&p.tenant_id, "local-bonus", "", "1");
        request.rule.as_mut().unwrap().time_zone = String::new();
        let checked = api
            .mechanics
            .validate_rule(mech::ValidateRuleRequest {
                tenant_id: p.tenant_id.clone(),
                rule: request.rule.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(checked.valid, "{:?}", checked.problems);
        let created = api.mechanics.create_rule(request.clone()).await.unwrap();
        let created = created.into_inner().rule.unwrap();
        assert_eq!(created.time_zone, "Asia/Singapore");
        let today = mech::Counter {
            period: mech::Period::Day as i32,
            ..Default::default()
        };
        let mut counter = put_counter(&p, "visits_today", today);
        counter.counter.as_mut().unwrap().time_zone = String::new();
        let put = api
            .mechanics
            .put_counter(counter)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(put.counter.unwrap().time_zone, "Asia/Singapore");

        // The tenant moves: saved versions keep the zone they were judged
        // in; the next version without one takes the new zone.
        api.identity
            .update_tenant(move_to("Europe/Paris"))
            .await
            .unwrap();
        let read = api
            .mechanics
            .get_rule(mech::GetRuleRequest {
                tenant_id: p.tenant_id.clone(),
                rule_id: "local-bonus".into(),
                version: 0,
            })
            .await
            .unwrap();
        assert_eq!(read.into_inner().rule.unwrap().time_zone, "Asia/Singapore");
        let updated = api
            .mechanics
            .update_rule(mech::UpdateRuleRequest {
                tenant_id: p.tenant_id.clone(),
                rule: request.rule.clone(),
                rule_id: "local-bonus".into(),
                expected_version: 0,
            })
            .await
            .unwrap()
            .into_inner()
            .rule
            .unwrap();
        assert_eq!(
            (updated.version, updated.time_zone.as_str()),
            (2, "Europe/Paris")
        );
        // Another tenant's client learns nothing of this one's zone.
        let other = h.programme("zoned-elsewhere").await;
        let mut theirs = h.api(Some(&other.token));
        let refused = theirs.mechanics.create_rule(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        h.cleanup().await;
    })
    .await;
}

/// Runs a simulation to its end: the report, and how many progress updates came first.
async fn simulate(
    api: &mut Api,
    request: mech::SimulateRulesRequest,
) -> (mech::SimulationReport, usize) {
    use mech::simulate_rules_response::Update;
    let mut stream = api
        .mechanics
        .simulate_rules(request)
        .await
        .unwrap()
        .into_inner();
    let mut progress = 0;
    while let Some(update) = stream.message().await.unwrap() {
        match update.update.unwrap() {
            Update::Progress(_) => progress += 1,
            Update::Report(report) => return (report, progress),
        }
    }
    panic!("the stream ended without a report");
}

fn ts(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backtest_awards_what_the_same_rules_awarded_live() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        // Live: 1 star per 10 spent, at most 2 awards a day per member, 50 in all.
        let mut capped = {
            let p = h.programme("backtest-probe").await;
            rule(&p, "capped", "event.amount / 10.0")
        };
        capped.caps = vec![mech::Cap {
            period: mech::Period::Day as i32,
            measure: mech::cap::Measure::Count as i32,
            limit: 2,
        }];
        capped.budget = Some(mech::Budget {
            period: mech::Period::Lifetime as i32,
            limit: 50,
        });
        let (p, mut api) = programme_with(&h, "backtest", capped.clone()).await;
        let mut members = vec![];
        for i in 0..8 {
            members.push(
                api.upsert_member(&p.tenant_id, &format!("m{i}"), None)
                    .await,
            );
        }
        // After the rule's creation: events are judged by the rules of their time.
        let start = now_ms() + 1;
        let mut live_total = 0;
        for i in 0..120_i64 {
            let mut e = event(&p, &members[i as usize % 8], format!("e{i}"));
            e.attributes = Some(purchase(10.0 + (i * 37 % 90) as f64));
            e.occur_time = Some(ts(start + i * 100));
            let answer = api.mechanics.track(e).await.unwrap().into_inner();
            live_total += answer.awards.iter().map(|a| a.points).sum::<i64>();
        }
        assert_eq!(live_total, 50, "the budget ran out live");
        let range = (Some(ts(start)), Some(ts(start + 20_000)));
        let replay_live = mech::SimulateRulesRequest {
            tenant_id: p.tenant_id.clone(),
            start_time: range.0,
            end_time: range.1,
            sample_size: 5,
            ..Default::default()
        };
        let (report, progress) = simulate(&mut api, replay_live.clone()).await;
        assert!(progress >= 1);
        assert_eq!(report.events_replayed, 120);
        let stars = &report.difference[0];
        assert_eq!((stars.simulated, stars.live, stars.difference), (50, 50, 0));
        assert_eq!(report.samples.len(), 5);

        // The same rule as a draft, alone: the same total.
        let alone = mech::SimulateRulesRequest {
            rules: vec![mech::Rule {
                rule_id: "capped-draft".into(),
                ..capped.clone()
            }],
            only_given: true,
            ..replay_live.clone()
        };
        let (report, _) = simulate(&mut api, alone).await;
        assert_eq!(report.difference[0].simulated, 50);

        // A new version without the budget: more, and the difference says so.
        let mut generous = capped.clone();
        generous.budget = None;
        let changed = mech::SimulateRulesRequest {
            rules: vec![generous],
            ..replay_live.clone()
        };
        let (report, _) = simulate(&mut api, changed).await;
        let stars = &report.difference[0];
        assert!(stars.simulated > 50, "{stars:?}");
        assert_eq!(stars.difference, stars.simulated - 50);
        assert_eq!(report.rules[0].budget_hits, 0);
        assert!(report.rules[0].cap_hits > 0);

        // Nothing was applied by the simulations.
        let mut held = 0;
        for m in &members {
            held += balance(&mut api, &p, m).await;
        }
        assert_eq!(held, 50);
        h.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mistakes_are_refused_at_save_and_runtime_errors_are_explained() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("mistakes").await;
        let mut api = h.api(Some(&p.token));
        let cases = [
            ("event.amount >", "1", "rule.condition", "line 1, column"),
            (
                "membr.country == 'SG'",
                "1",
                "rule.condition",
                "undeclared reference to 'membr'",
            ),
            (
                "",
                "event.amount /",
                "rule.actions[0].points",
                "line 1, column",
            ),
        ];
        for (condition, points, field, says) in cases {
            let refused = api
                .mechanics
                .create_rule(purchase_rule(&p.tenant_id, "broken", condition, points))
                .await
                .unwrap_err();
            assert_eq!(refused.code(), Code::InvalidArgument);
            let details = tonic_types::StatusExt::get_details_bad_request(&refused).unwrap();
            let v = &details.field_violations[0];
            assert_eq!(v.field, field);
            assert!(v.description.contains(says), "{v:?}");
            let validated = api
                .mechanics
                .validate_rule(mech::ValidateRuleRequest {
                    tenant_id: p.tenant_id.clone(),
                    rule: purchase_rule(&p.tenant_id, "broken", condition, points).rule,
                })
                .await
                .unwrap()
                .into_inner();
            assert!(!validated.valid);
            assert_eq!(validated.problems[0].field, field);
        }
        // A wrong attribute type only shows on the event: no award, and Explain names it.
        api.mechanics
            .create_rule(purchase_rule(
                &p.tenant_id,
                "typed",
                "event.store.startsWith('p')",
                "5",
            ))
            .await
            .unwrap();
        let mut e = event(&p, &p.member_id, "wrong-type".into());
        let mut attributes = purchase(40.0);
        attributes.fields.insert(
            "store".into(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::NumberValue(7.0)),
            },
        );
        e.attributes = Some(attributes);
        let tracked = api.mechanics.track(e).await.unwrap().into_inner();
        let rules: Vec<_> = tracked.awards.iter().map(|a| a.rule_id.as_str()).collect();
        assert_eq!(rules, ["stars-per-purchase"]);
        let explained = api
            .mechanics
            .explain_event(mech::ExplainEventRequest {
                tenant_id: p.tenant_id.clone(),
                event_id: "wrong-type".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let verdicts: Vec<_> = explained
            .verdicts
            .iter()
            .map(|v| (v.rule_id.as_str(), v.outcome()))
            .collect();
        use mech::rule_verdict::Outcome;
        assert_eq!(
            verdicts,
            [
                ("stars-per-purchase", Outcome::Applied),
                ("typed", Outcome::RuntimeError)
            ]
        );
        assert!(!explained.verdicts[1].detail.is_empty());
        h.cleanup().await;
    })
    .await;
}

fn attribute(name: &str, kind: mech::AttributeType, required: bool) -> mech::EventAttribute {
    mech::EventAttribute {
        name: name.into(),
        r#type: kind as i32,
        required,
        description: String::new(),
    }
}

fn put_schema(
    p: &Programme,
    attributes: Vec<mech::EventAttribute>,
    expected: i32,
) -> mech::PutEventSchemaRequest {
    mech::PutEventSchemaRequest {
        tenant_id: p.tenant_id.clone(),
        event_type: "purchase".into(),
        schema: Some(mech::EventSchema {
            description: "A purchase at a till".into(),
            attributes,
            ..Default::default()
        }),
        expected_version: expected,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_schema_refuses_events_that_do_not_fit_and_rules_that_misread_them() {
    use mech::AttributeType::{Number, String as Text};
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("schemas").await;
        let mut api = h.api(Some(&p.token));
        let fields = || vec![attribute("amount", Number, true), attribute("store", Text, false)];
        let saved = api.mechanics.put_event_schema(put_schema(&p, fields(), 0)).await.unwrap();
        assert_eq!(saved.into_inner().schema.unwrap().version, 1);
        // The same definition again changes nothing; a stale guard is ABORTED.
        let again = api.mechanics.put_event_schema(put_schema(&p, fields(), 1)).await.unwrap();
        assert_eq!(again.into_inner().schema.unwrap().version, 1);
        let mut more = fields();
        more.push(attribute("location", mech::AttributeType::Location, false));
        let stale = api.mechanics.put_event_schema(put_schema(&p, more.clone(), 7)).await.unwrap_err();
        assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
        let second = api.mechanics.put_event_schema(put_schema(&p, more, 1)).await.unwrap();
        assert_eq!(second.into_inner().schema.unwrap().version, 2);

        // Events that do not fit are refused field by field, nothing recorded.
        let mut wrong = event(&p, &p.member_id, "misfit".into());
        let mut attributes = prost_types::Struct::default();
        let text = |s: &str| prost_types::Value {
            kind: Some(prost_types::value::Kind::StringValue(s.into())),
        };
        attributes.fields.insert("amount".into(), text("12"));
        attributes.fields.insert("location".into(), text("Orchard Road"));
        wrong.attributes = Some(attributes);
        let refused = api.mechanics.track(wrong).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(
            violations(&refused),
            [
                "attributes.amount: must be a number",
                "attributes.location: must be a location: {\"lat\": -90..90, \"lng\": -180..180}",
            ]
        );
        let mut bare = event(&p, &p.member_id, "bare".into());
        bare.attributes = None;
        let refused = api.mechanics.track(bare).await.unwrap_err();
        assert_eq!(violations(&refused), ["attributes.amount: is required"]);
        let unseen = api
            .mechanics
            .explain_event(mech::ExplainEventRequest {
                tenant_id: p.tenant_id.clone(),
                event_id: "misfit".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(unseen.code(), Code::NotFound);
        api.mechanics.track(event(&p, &p.member_id, "fits".into())).await.unwrap();
        assert_eq!(balance(&mut api, &p, &p.member_id).await, 3);

        // A rule that misreads the schema is refused at save, with its position.
        let misread = api
            .mechanics
            .create_rule(purchase_rule(&p.tenant_id, "misread", "event.amout > 5.0", "1"))
            .await
            .unwrap_err();
        assert_eq!(
            violations(&misread),
            ["rule.condition: does not fit the schema of purchase at line 1, column 6: it has no attribute 'amout'"]
        );
        let compared = purchase_rule(&p.tenant_id, "misread", "event.store == 7", "1");
        let validated = api
            .mechanics
            .validate_rule(mech::ValidateRuleRequest {
                tenant_id: p.tenant_id.clone(),
                rule: compared.rule,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(validated.problems.len(), 1, "{validated:?}");
        assert_eq!(validated.problems[0].field, "rule.condition");

        // The live rule reads event.amount: a schema without it is refused.
        let dropping = api
            .mechanics
            .put_event_schema(put_schema(&p, vec![attribute("store", Text, false)], 0))
            .await
            .unwrap_err();
        assert_eq!(dropping.code(), Code::FailedPrecondition, "{dropping:?}");
        assert!(dropping.message().contains("amount"), "{dropping:?}");

        // Removed: the event type takes any attributes again.
        let listed = api
            .mechanics
            .list_event_schemas(mech::ListEventSchemasRequest {
                tenant_id: p.tenant_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.schemas.len(), 1);
        api.mechanics
            .delete_event_schema(mech::DeleteEventSchemaRequest {
                tenant_id: p.tenant_id.clone(),
                event_type: "purchase".into(),
            })
            .await
            .unwrap();
        let mut loose = event(&p, &p.member_id, "loose".into());
        loose.attributes = None;
        api.mechanics.track(loose).await.unwrap();
        h.cleanup().await;
    })
    .await;
}

fn put_counter(p: &Programme, counter_id: &str, counter: mech::Counter) -> mech::PutCounterRequest {
    mech::PutCounterRequest {
        tenant_id: p.tenant_id.clone(),
        counter_id: counter_id.into(),
        counter: Some(mech::Counter {
            event_types: vec!["purchase".into()],
            time_zone: "Europe/London".into(),
            ..counter
        }),
        expected_version: 0,
    }
}

async fn counters_of(api: &mut Api, p: &Programme) -> Vec<(String, f64)> {
    let read = api
        .mechanics
        .get_member_counters(mech::GetMemberCountersRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: p.member_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    read.counters
        .into_iter()
        .map(|c| (c.counter_id, c.value))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counters_add_up_in_the_events_transaction_and_rules_read_them() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("counters").await;
        let mut api = h.api(Some(&p.token));
        let today = mech::Counter {
            period: mech::Period::Day as i32,
            ..Default::default()
        };
        api.mechanics
            .put_counter(put_counter(&p, "purchases_today", today.clone()))
            .await
            .unwrap();
        let spend = mech::Counter {
            sum_of: "amount".into(),
            rolling_days: 30,
            ..Default::default()
        };
        api.mechanics
            .put_counter(put_counter(&p, "spend_30d", spend))
            .await
            .unwrap();

        // A rule may only read counters the programme keeps.
        let unknown = api
            .mechanics
            .create_rule(purchase_rule(
                &p.tenant_id,
                "third",
                "member.counters.purchase_today == 2",
                "100",
            ))
            .await
            .unwrap_err();
        assert_eq!(
            violations(&unknown),
            ["rule.condition: reads an unknown counter at line 1, column 16: 'purchase_today'"]
        );
        // The third purchase of the day earns 100 more: the rule sees the two before it.
        api.mechanics
            .create_rule(purchase_rule(
                &p.tenant_id,
                "third",
                "member.counters.purchases_today == 2",
                "100",
            ))
            .await
            .unwrap();
        let mut earned = vec![];
        for i in 0..4 {
            let tracked = api
                .mechanics
                .track(event(&p, &p.member_id, format!("c-{i}")))
                .await
                .unwrap();
            earned.push(
                tracked
                    .into_inner()
                    .awards
                    .iter()
                    .map(|a| a.points)
                    .sum::<i64>(),
            );
        }
        assert_eq!(earned, [3, 3, 103, 3]);
        // A replay counts nothing again.
        api.mechanics
            .track(event(&p, &p.member_id, "c-0".into()))
            .await
            .unwrap();
        let mut counted = counters_of(&mut api, &p).await;
        counted.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            counted,
            [
                ("purchases_today".to_string(), 4.0),
                ("spend_30d".to_string(), 120.0)
            ]
        );

        // A counter a live rule reads cannot go; one nobody reads can.
        let read = api
            .mechanics
            .delete_counter(mech::DeleteCounterRequest {
                tenant_id: p.tenant_id.clone(),
                counter_id: "purchases_today".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(read.code(), Code::FailedPrecondition, "{read:?}");
        // Counting something else starts again from zero.
        let refunds = mech::Counter {
            event_types: vec!["refund".into()],
            ..today
        };
        let mut changed = put_counter(&p, "purchases_today", refunds);
        changed.counter.as_mut().unwrap().event_types = vec!["refund".into()];
        let changed = api
            .mechanics
            .put_counter(changed)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(changed.counter.unwrap().version, 2);
        api.mechanics
            .delete_counter(mech::DeleteCounterRequest {
                tenant_id: p.tenant_id.clone(),
                counter_id: "spend_30d".into(),
            })
            .await
            .unwrap();
        assert_eq!(
            counters_of(&mut api, &p).await,
            [("purchases_today".to_string(), 0.0)]
        );
        h.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rules_read_the_segments_a_member_is_in_without_asking_identity() {
    use questline_proto::identity as id;
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("segments").await;
        let mut api = h.api(Some(&p.token));
        let segment = |predicate: &str| id::CreateSegmentRequest {
            tenant_id: p.tenant_id.clone(),
            segment_id: "singapore".into(),
            name: "Members in Singapore".into(),
            predicate: predicate.into(),
            ..Default::default()
        };
        // Alice lets the programme use her profile for targeting.
        api.identity
            .update_consent(id::UpdateConsentRequest {
                tenant_id: p.tenant_id.clone(),
                member_id: p.member_id.clone(),
                choices: vec![id::ConsentChoice {
                    purpose: id::ConsentPurpose::Profiling as i32,
                    granted: true,
                }],
                source: "app".into(),
            })
            .await
            .unwrap();
        api.identity
            .create_segment(segment("member.country == 'SG'"))
            .await
            .unwrap();
        api.mechanics
            .create_rule(purchase_rule(
                &p.tenant_id,
                "sg-bonus",
                "'singapore' in member.segments",
                "7",
            ))
            .await
            .unwrap();
        // Bob is in Singapore too, but has not consented to profiling.
        let bob_profile = id::Profile {
            country: "SG".into(),
            ..Default::default()
        };
        let bob = api
            .upsert_member(&p.tenant_id, "bob", Some(bob_profile))
            .await;
        // Identity's segment reaches mechanics through its event.
        let mut i = 0;
        let bonus = loop {
            i += 1;
            let tracked = api
                .mechanics
                .track(event(&p, &p.member_id, format!("sg-{i}")))
                .await
                .unwrap()
                .into_inner();
            let bonus: i64 = tracked
                .awards
                .iter()
                .filter(|a| a.rule_id == "sg-bonus")
                .map(|a| a.points)
                .sum();
            if bonus > 0 || i == 100 {
                break bonus;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(bonus, 7, "Alice is in Singapore");
        let tracked = api
            .mechanics
            .track(event(&p, &bob, "bob-1".into()))
            .await
            .unwrap()
            .into_inner();
        assert!(
            tracked.awards.iter().all(|a| a.rule_id != "sg-bonus"),
            "{tracked:?}"
        );
        // A changed predicate is followed too: now nobody is in the segment.
        api.identity
            .update_segment(id::UpdateSegmentRequest {
                tenant_id: p.tenant_id.clone(),
                segment_id: "singapore".into(),
                predicate: Some("member.country == 'XX'".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut i = 0;
        loop {
            i += 1;
            let tracked = api
                .mechanics
                .track(event(&p, &p.member_id, format!("after-{i}")))
                .await
                .unwrap()
                .into_inner();
            if tracked.awards.iter().all(|a| a.rule_id != "sg-bonus") {
                break;
            }
            assert!(i < 100, "the changed segment never arrived");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        h.cleanup().await;
    })
    .await;
}

/// The member's stars, or 0 when they have no wallet yet.
async fn stars_of(api: &mut Api, p: &Programme, member_id: &str) -> i64 {
    balance(api, p, member_id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn time_triggers_fire_once_for_birthdays_and_lapsed_members() {
    use questline_proto::identity as id;
    each_backend(|backend| async move {
        let mut h = Harness::start(backend).await;
        let p = h.programme("triggers").await;
        let mut api = h.api(Some(&p.token));
        // The engine's own event types are not a client's to send.
        let mut forged = event(&p, &p.member_id, "forged".into());
        forged.event_type = "questline.birthday".into();
        let refused = api.mechanics.track(forged).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);

        let mut gift = purchase_rule(&p.tenant_id, "birthday-gift", "", "50");
        gift.rule.as_mut().unwrap().event_types = vec!["questline.birthday".into()];
        api.mechanics.create_rule(gift).await.unwrap();
        let mut winback = purchase_rule(&p.tenant_id, "win-back", "event.days == 2", "20");
        let rule = winback.rule.as_mut().unwrap();
        rule.event_types = vec!["questline.inactive".into()];
        rule.inactive_days = 2;
        rule.inactive_of = vec!["purchase".into()];
        api.mechanics.create_rule(winback).await.unwrap();

        // Dan was born on this day (London) in 2000; Erin last bought 3 days ago.
        let today = jiff::Zoned::now().in_tz("Europe/London").unwrap().date();
        let dan_profile = id::Profile {
            birthday: format!("2000-{:02}-{:02}", today.month(), today.day()),
            ..Default::default()
        };
        let dan = api
            .upsert_member(&p.tenant_id, "dan", Some(dan_profile))
            .await;
        let erin = api.upsert_member(&p.tenant_id, "erin", None).await;
        let mut old = event(&p, &erin, "erin-old".into());
        let three_days_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(72);
        old.occur_time = Some(ts(three_days_ago.as_millisecond()));
        api.mechanics.track(old).await.unwrap();

        // A sweep runs soon after start: each event once, with the service's own token.
        h.restart().await;
        let mut api = h.api(Some(&p.token));
        for _ in 0..300 {
            if stars_of(&mut api, &p, &dan).await == 50 && stars_of(&mut api, &p, &erin).await == 20
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(stars_of(&mut api, &p, &dan).await, 50);
        assert_eq!(stars_of(&mut api, &p, &erin).await, 20);
        // Another sweep tracks the same events again: nothing more is awarded.
        h.restart().await;
        tokio::time::sleep(std::time::Duration::from_secs(6)).await;
        let mut api = h.api(Some(&p.token));
        assert_eq!(stars_of(&mut api, &p, &dan).await, 50);
        assert_eq!(stars_of(&mut api, &p, &erin).await, 20);
        let explained = api
            .mechanics
            .explain_event(mech::ExplainEventRequest {
                tenant_id: p.tenant_id.clone(),
                event_id: format!("birthday:{dan}:{}", today.year()),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(explained.verdicts[0].rule_id, "birthday-gift");
        h.cleanup().await;
    })
    .await;
}
