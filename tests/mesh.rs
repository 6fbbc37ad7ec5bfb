//! The whole mesh through real gRPC: the earn-and-burn loop, replays, failed
//! redemptions, bad input, concurrency and restarts. Every test runs on SQLite
//! with the in-process bus, and again on PostgreSQL + NATS JetStream when the
//! environment provides them.

#![allow(clippy::unwrap_used)]

use opentelemetry::trace::TraceId;
use questline_kit::config::ServiceKind;
use questline_proto::ledger::{CreditRequest, DebitRequest, GetBalancesRequest};
use questline_proto::notifications::ListInboxRequest;
use questline_proto::rewards::GetRewardRequest;
use questline_tests::{
    Api, Harness, MUG, PASTRY, each_backend, eventually, purchase_rule, redeem, spans, track,
};
use std::collections::BTreeSet;
use tonic::Code;
use tonic_types::StatusExt;
use tracing::Instrument;

/// (total, held, available) of the member's stars.
async fn stars(api: &mut Api, tenant_id: &str, member_id: &str) -> (i64, i64, i64) {
    let balances = api
        .ledger
        .get_balances(GetBalancesRequest {
            tenant_id: tenant_id.into(),
            member_id: member_id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .balances;
    balances
        .iter()
        .find(|b| b.currency == "stars")
        .map(|b| (b.total, b.held, b.available))
        .unwrap_or_default()
}

async fn stock(api: &mut Api, tenant_id: &str, reward_id: &str) -> i64 {
    api.rewards
        .get_reward(GetRewardRequest {
            tenant_id: tenant_id.into(),
            reward_id: reward_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .reward
        .unwrap()
        .stock
}

fn fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_loop_runs_end_to_end_in_one_trace() {
    each_backend(|backend| async move {
        let harness = Harness::start(backend).await;
        let root = tracing::info_span!("e2e loop");
        let trace_id = {
            use opentelemetry::trace::TraceContextExt;
            questline_kit::telemetry::context_of(&root)
                .span()
                .span_context()
                .trace_id()
        };
        async {
            let p = harness.programme("loop").await;
            let mut api = harness.api(Some(&p.token));
            let tracked = api
                .mechanics
                .track(track(&p.tenant_id, &p.member_id, "order-1", 250.0))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(tracked.awards.len(), 1);
            assert_eq!(tracked.awards[0].points, 25);
            assert!(!tracked.awards[0].transfer_id.is_empty());
            assert_eq!(
                stars(&mut api, &p.tenant_id, &p.member_id).await,
                (25, 0, 25)
            );

            let redemption = api
                .rewards
                .redeem(redeem(&p.tenant_id, &p.member_id, "redeem-1", PASTRY))
                .await
                .unwrap()
                .into_inner()
                .redemption
                .unwrap();
            assert!(!redemption.voucher_code.is_empty());
            assert_eq!(stars(&mut api, &p.tenant_id, &p.member_id).await, (5, 0, 5));
            assert_eq!(stock(&mut api, &p.tenant_id, PASTRY).await, 2);

            let inbox = eventually("two inbox messages", || {
                let mut api = harness.api(Some(&p.token));
                let (tenant_id, member_id) = (p.tenant_id.clone(), p.member_id.clone());
                async move {
                    let messages = api
                        .notifications
                        .list_inbox(ListInboxRequest {
                            tenant_id,
                            member_id,
                            page_size: 10,
                            ..Default::default()
                        })
                        .await
                        .unwrap()
                        .into_inner()
                        .messages;
                    (messages.len() >= 2).then_some(messages)
                }
            })
            .await;
            let types: BTreeSet<_> = inbox.iter().map(|m| m.event_type.as_str()).collect();
            assert_eq!(inbox.len(), 2);
            assert_eq!(
                types,
                BTreeSet::from(["points.credited", "reward.redeemed"])
            );
            assert!(
                inbox
                    .iter()
                    .any(|m| m.body.contains(&redemption.voucher_code))
            );
        }
        .instrument(root.clone())
        .await;
        drop(root);

        let services = eventually("spans of every service in the loop's trace", || async {
            let seen = services_in_trace(trace_id);
            (seen.len() >= 5).then_some(seen)
        })
        .await;
        for kind in ServiceKind::ALL {
            assert!(
                services.contains(kind.name()),
                "no {} span in the trace: {services:?}",
                kind.name()
            );
        }
        harness.cleanup().await;
    })
    .await;
}

/// The `questline.service` of every span in `trace_id`.
fn services_in_trace(trace_id: TraceId) -> BTreeSet<String> {
    spans()
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|s| s.span_context.trace_id() == trace_id)
        .filter_map(|s| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "questline.service")
                .map(|kv| kv.value.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replays_change_nothing_and_a_failed_redeem_undoes_every_step() {
    each_backend(|backend| async move {
        let harness = Harness::start(backend).await;
        let p = harness.programme("replay").await;
        let mut api = harness.api(Some(&p.token));

        let first = api
            .mechanics
            .track(track(&p.tenant_id, &p.member_id, "order-7", 300.0))
            .await
            .unwrap()
            .into_inner();
        let again = api
            .mechanics
            .track(track(&p.tenant_id, &p.member_id, "order-7", 300.0))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(first, again);
        assert_eq!(
            stars(&mut api, &p.tenant_id, &p.member_id).await,
            (30, 0, 30)
        );
        let changed = api
            .mechanics
            .track(track(&p.tenant_id, &p.member_id, "order-7", 999.0))
            .await
            .unwrap_err();
        assert_eq!(changed.code(), Code::AlreadyExists);

        let redeemed = api
            .rewards
            .redeem(redeem(&p.tenant_id, &p.member_id, "r-1", PASTRY))
            .await
            .unwrap()
            .into_inner();
        let replayed = api
            .rewards
            .redeem(redeem(&p.tenant_id, &p.member_id, "r-1", PASTRY))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(redeemed, replayed);
        assert_eq!(
            stars(&mut api, &p.tenant_id, &p.member_id).await,
            (10, 0, 10)
        );
        assert_eq!(stock(&mut api, &p.tenant_id, PASTRY).await, 2);

        // The mug's pool is empty: the hold succeeds, the voucher cannot be
        // issued, and the hold and the stock unit must both come back.
        let failed = api
            .rewards
            .redeem(redeem(&p.tenant_id, &p.member_id, "r-2", MUG))
            .await
            .unwrap_err();
        assert_eq!(failed.code(), Code::FailedPrecondition, "{failed:?}");
        assert_eq!(
            stars(&mut api, &p.tenant_id, &p.member_id).await,
            (10, 0, 10)
        );
        assert_eq!(stock(&mut api, &p.tenant_id, MUG).await, 3);
        let failed_again = api
            .rewards
            .redeem(redeem(&p.tenant_id, &p.member_id, "r-2", MUG))
            .await
            .unwrap_err();
        assert_eq!(failed_again.code(), Code::FailedPrecondition);
        assert_eq!(
            stars(&mut api, &p.tenant_id, &p.member_id).await,
            (10, 0, 10)
        );

        // Not enough stars: refused before anything is kept.
        let poor = api
            .rewards
            .redeem(redeem(&p.tenant_id, &p.member_id, "r-3", PASTRY))
            .await
            .unwrap_err();
        assert_eq!(poor.code(), Code::FailedPrecondition);
        assert_eq!(stock(&mut api, &p.tenant_id, PASTRY).await, 2);
        harness.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_a_precise_status_and_changes_nothing() {
    each_backend(|backend| async move {
        let harness = Harness::start(backend).await;
        let a = harness.programme("tenant-a").await;
        let b = harness.programme("tenant-b").await;
        let mut api = harness.api(Some(&a.token));
        api.mechanics
            .track(track(&a.tenant_id, &a.member_id, "seed", 100.0))
            .await
            .unwrap();
        let before = stars(&mut api, &a.tenant_id, &a.member_id).await;

        let credit = |tenant_id: &str, member_id: &str, amount: i64, key: &str| CreditRequest {
            tenant_id: tenant_id.into(),
            member_id: member_id.into(),
            currency: "stars".into(),
            amount,
            reason: "goodwill".into(),
            idempotency_key: key.into(),
            ..Default::default()
        };
        let missing_tenant = api
            .ledger
            .credit(credit("", &a.member_id, 5, "k1"))
            .await
            .unwrap_err();
        assert_eq!(missing_tenant.code(), Code::InvalidArgument);
        assert_eq!(fields(&missing_tenant), ["tenant_id"]);

        let negative = api
            .ledger
            .credit(credit(&a.tenant_id, &a.member_id, -5, "k2"))
            .await
            .unwrap_err();
        assert_eq!(negative.code(), Code::InvalidArgument);
        assert_eq!(fields(&negative), ["amount"]);

        let huge = api
            .ledger
            .credit(credit(&a.tenant_id, &a.member_id, i64::MAX, "k3"))
            .await
            .unwrap_err();
        assert_eq!(fields(&huge), ["amount"]);

        let unknown_member = api
            .mechanics
            .track(track(&a.tenant_id, "no-such-member", "e-x", 50.0))
            .await
            .unwrap_err();
        assert_eq!(unknown_member.code(), Code::NotFound);

        let bad_cel = api
            .mechanics
            .create_rule(purchase_rule(&a.tenant_id, "broken", "event.amount >", "1"))
            .await
            .unwrap_err();
        assert_eq!(bad_cel.code(), Code::InvalidArgument);
        assert_eq!(fields(&bad_cel), ["rule.condition"]);

        // Tenant B's credential, aimed at tenant A's data.
        let mut intruder = harness.api(Some(&b.token));
        let cross = intruder
            .ledger
            .credit(credit(&a.tenant_id, &a.member_id, 5, "k4"))
            .await
            .unwrap_err();
        assert_eq!(cross.code(), Code::PermissionDenied);
        let cross_read = intruder
            .ledger
            .get_balances(GetBalancesRequest {
                tenant_id: a.tenant_id.clone(),
                member_id: a.member_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(cross_read.code(), Code::PermissionDenied);
        // Tenant A's member id used inside tenant B: not found there.
        let foreign_member = intruder
            .mechanics
            .track(track(&b.tenant_id, &a.member_id, "e-y", 50.0))
            .await
            .unwrap_err();
        assert_eq!(foreign_member.code(), Code::NotFound);

        let foreign_wallet = intruder
            .ledger
            .credit(credit(&b.tenant_id, &a.member_id, 5, "k7"))
            .await
            .unwrap_err();
        assert_eq!(foreign_wallet.code(), Code::NotFound);
        let unknown_wallet = api
            .ledger
            .get_balances(GetBalancesRequest {
                tenant_id: a.tenant_id.clone(),
                member_id: "no-such-member".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(unknown_wallet.code(), Code::NotFound);

        let nul = api
            .ledger
            .credit(credit(&a.tenant_id, &a.member_id, 5, "nul\u{0}key"))
            .await
            .unwrap_err();
        assert_eq!(nul.code(), Code::InvalidArgument);
        assert_eq!(fields(&nul), ["idempotency_key"]);

        let mut anonymous = harness.api(None);
        let no_token = anonymous
            .ledger
            .credit(credit(&a.tenant_id, &a.member_id, 5, "k5"))
            .await
            .unwrap_err();
        assert_eq!(no_token.code(), Code::Unauthenticated);

        api.ledger
            .credit(credit(&a.tenant_id, &a.member_id, 5, "k6"))
            .await
            .unwrap();
        let credit_key_reused_by_a_debit = api
            .ledger
            .debit(DebitRequest {
                tenant_id: a.tenant_id.clone(),
                member_id: a.member_id.clone(),
                currency: "stars".into(),
                amount: 5,
                reason: "goodwill".into(),
                idempotency_key: "k6".into(),
                ..Default::default()
            })
            .await;
        assert_eq!(
            credit_key_reused_by_a_debit.unwrap_err().code(),
            Code::AlreadyExists,
            "a debit must not be answered with the credit of the same key"
        );
        let reused = api
            .ledger
            .credit(credit(&a.tenant_id, &a.member_id, 6, "k6"))
            .await
            .unwrap_err();
        assert_eq!(reused.code(), Code::AlreadyExists);

        let overdraft = api
            .ledger
            .debit(DebitRequest {
                tenant_id: a.tenant_id.clone(),
                member_id: a.member_id.clone(),
                currency: "stars".into(),
                amount: 1_000,
                reason: "too much".into(),
                idempotency_key: "d1".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(overdraft.code(), Code::FailedPrecondition);

        let (total, held, available) = before;
        assert_eq!(
            stars(&mut api, &a.tenant_id, &a.member_id).await,
            (total + 5, held, available + 5)
        );
        assert_eq!(
            stars(&mut intruder, &b.tenant_id, &b.member_id).await,
            (0, 0, 0)
        );
        harness.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_spends_and_replays_on_one_member_never_overdraw_or_double_count() {
    each_backend(|backend| async move {
        let harness = Harness::start(backend).await;
        let p = harness.programme("busy").await;
        let mut api = harness.api(Some(&p.token));

        let tracks = (0..8).map(|_| {
            let mut api = harness.api(Some(&p.token));
            let request = track(&p.tenant_id, &p.member_id, "same-order", 250.0);
            async move { api.mechanics.track(request).await.map(|r| r.into_inner()) }
        });
        let answers: Vec<_> = futures_join_all(tracks)
            .await
            .into_iter()
            .map(|a| a.unwrap())
            .collect();
        assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
        assert_eq!(answers[0].awards[0].points, 25);
        assert_eq!(
            stars(&mut api, &p.tenant_id, &p.member_id).await,
            (25, 0, 25)
        );

        let debits = (0..10).map(|i| {
            let mut api = harness.api(Some(&p.token));
            let request = DebitRequest {
                tenant_id: p.tenant_id.clone(),
                member_id: p.member_id.clone(),
                currency: "stars".into(),
                amount: 10,
                reason: "race".into(),
                idempotency_key: format!("race-{i}"),
                ..Default::default()
            };
            async move { api.ledger.debit(request).await }
        });
        let results = futures_join_all(debits).await;
        let spent = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(spent, 2, "{results:?}");
        for refused in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        }
        assert_eq!(stars(&mut api, &p.tenant_id, &p.member_id).await, (5, 0, 5));
        harness.cleanup().await;
    })
    .await;
}

async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_keeps_every_balance_and_delivers_pending_events() {
    use questline_proto::events::{PointsCredited, event::Payload};
    each_backend(|backend| async move {
        let mut harness = Harness::start(backend).await;
        let p = harness.programme("restart").await;
        let mut api = harness.api(Some(&p.token));
        api.mechanics
            .track(track(&p.tenant_id, &p.member_id, "before", 120.0))
            .await
            .unwrap();
        let inbox_len = |harness: &Harness| {
            let mut api = harness.api(Some(&p.token));
            let (tenant_id, member_id) = (p.tenant_id.clone(), p.member_id.clone());
            async move {
                api.notifications
                    .list_inbox(ListInboxRequest {
                        tenant_id,
                        member_id,
                        page_size: 50,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .messages
                    .len()
            }
        };
        eventually("the first message", || async {
            (inbox_len(&harness).await == 1).then_some(())
        })
        .await;
        harness.mesh.take().unwrap().stop().await;

        // As if the ledger crashed right after committing a credit: its event
        // is in the outbox but was never published.
        let ledger_db =
            sea_orm::Database::connect(harness.settings.database_url(ServiceKind::Ledger))
                .await
                .unwrap();
        let pending = questline_kit::events::new_event(
            &p.tenant_id,
            "ledger",
            &p.member_id,
            Payload::PointsCredited(PointsCredited {
                member_id: p.member_id.clone(),
                currency: "stars".into(),
                amount: 3,
                transfer_id: "t-pending".into(),
                reason: "pending at crash".into(),
                balance: 15,
            }),
        );
        questline_kit::outbox::stage(&ledger_db, &pending)
            .await
            .unwrap();
        ledger_db.close().await.unwrap();

        harness.restart().await;
        let mut api = harness.api(Some(&p.token));
        assert_eq!(
            stars(&mut api, &p.tenant_id, &p.member_id).await,
            (12, 0, 12)
        );
        eventually("the pending event delivered after restart", || async {
            (inbox_len(&harness).await == 2).then_some(())
        })
        .await;
        harness.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn work_cut_off_by_a_ledger_outage_resumes_on_replay_and_counts_once() {
    each_backend(|backend| async move {
        let mut harness = Harness::start(backend).await;
        let p = harness.programme("outage").await;
        let mut api = harness.api(Some(&p.token));
        api.mechanics
            .track(track(&p.tenant_id, &p.member_id, "before", 300.0))
            .await
            .unwrap();

        harness.restart_without(&[ServiceKind::Ledger]).await;
        let mut cut_off = harness.api(Some(&p.token));
        let tracked = cut_off
            .mechanics
            .track(track(&p.tenant_id, &p.member_id, "during", 100.0))
            .await
            .unwrap_err();
        assert_eq!(tracked.code(), Code::Unavailable, "{tracked:?}");
        let redeemed = cut_off
            .rewards
            .redeem(redeem(&p.tenant_id, &p.member_id, "during", PASTRY))
            .await
            .unwrap_err();
        assert_eq!(redeemed.code(), Code::Unavailable, "{redeemed:?}");

        harness.restart().await;
        let mut api = harness.api(Some(&p.token));
        let resumed = api
            .mechanics
            .track(track(&p.tenant_id, &p.member_id, "during", 100.0))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(resumed.awards[0].points, 10);
        let completed = api
            .rewards
            .redeem(redeem(&p.tenant_id, &p.member_id, "during", PASTRY))
            .await
            .unwrap()
            .into_inner();
        assert!(!completed.redemption.unwrap().voucher_code.is_empty());
        // 30 + 10 earned, 20 spent, each exactly once; one pastry left the stock.
        assert_eq!(
            stars(&mut api, &p.tenant_id, &p.member_id).await,
            (20, 0, 20)
        );
        assert_eq!(stock(&mut api, &p.tenant_id, PASTRY).await, 2);
        api.rewards
            .redeem(redeem(&p.tenant_id, &p.member_id, "during", PASTRY))
            .await
            .unwrap();
        assert_eq!(
            stars(&mut api, &p.tenant_id, &p.member_id).await,
            (20, 0, 20)
        );
        harness.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_cut_off_by_a_ledger_outage_are_finished_by_the_recovery_loop_once() {
    each_backend(|backend| async move {
        let mut harness = Harness::start(backend).await;
        let p = harness.programme("recovery").await;

        // The ledger is down: each event's outcome is recorded, its credit
        // is not, and its caller gives up.
        harness.restart_without(&[ServiceKind::Ledger]).await;
        let mut cut_off = harness.api(Some(&p.token));
        for i in 0..5 {
            let id = format!("lost-{i}");
            let refused = cut_off
                .mechanics
                .track(track(&p.tenant_id, &p.member_id, &id, 100.0))
                .await
                .unwrap_err();
            assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        }

        // Back up: nobody replays, the service finishes them with its own token.
        harness.restart().await;
        let mut api = harness.api(Some(&p.token));
        let (tenant_id, member_id) = (p.tenant_id.clone(), p.member_id.clone());
        eventually("the pending events credited", || {
            let mut api = harness.api(Some(&p.token));
            let (tenant_id, member_id) = (tenant_id.clone(), member_id.clone());
            async move { (stars(&mut api, &tenant_id, &member_id).await == (50, 0, 50)).then_some(()) }
        })
        .await;
        // A late replay answers the same awards and credits nothing more.
        let replayed = api
            .mechanics
            .track(track(&p.tenant_id, &p.member_id, "lost-0", 100.0))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(replayed.awards[0].points, 10);
        assert_eq!(
            stars(&mut api, &p.tenant_id, &p.member_id).await,
            (50, 0, 50)
        );
        harness.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ends_of_one_hold_release_or_spend_it_exactly_once() {
    use questline_proto::ledger::{CommitHoldRequest, CreateHoldRequest, VoidHoldRequest};
    each_backend(|backend| async move {
        let harness = Harness::start(backend).await;
        let p = harness.programme("holds").await;
        let mut api = harness.api(Some(&p.token));
        let hold = |amount: i64, key: &str, ttl_seconds: i64| CreateHoldRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: p.member_id.clone(),
            currency: "stars".into(),
            amount,
            reason: "test".into(),
            ttl_seconds,
            idempotency_key: key.into(),
        };
        api.mechanics
            .track(track(&p.tenant_id, &p.member_id, "seed", 200.0))
            .await
            .unwrap();

        // A hold that expires, then many readers at once: released once.
        api.ledger
            .create_hold(hold(20, "h-expiring", 1))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let readers = (0..8).map(|_| {
            let mut api = harness.api(Some(&p.token));
            let (tenant_id, member_id) = (p.tenant_id.clone(), p.member_id.clone());
            async move { stars(&mut api, &tenant_id, &member_id).await }
        });
        for seen in futures_join_all(readers).await {
            assert_eq!(seen, (20, 0, 20));
        }

        // Commits and voids of one hold at once: exactly one of them wins.
        let hold_id = api
            .ledger
            .create_hold(hold(10, "h-contested", 300))
            .await
            .unwrap()
            .into_inner()
            .hold
            .unwrap()
            .hold_id;
        let enders = (0..8).map(|i| {
            let mut api = harness.api(Some(&p.token));
            let (tenant_id, hold_id) = (p.tenant_id.clone(), hold_id.clone());
            async move {
                if i % 2 == 0 {
                    api.ledger
                        .commit_hold(CommitHoldRequest {
                            tenant_id,
                            hold_id,
                            amount: 0,
                        })
                        .await
                        .map(|_| "committed")
                } else {
                    api.ledger
                        .void_hold(VoidHoldRequest { tenant_id, hold_id })
                        .await
                        .map(|_| "voided")
                }
            }
        });
        let outcomes: BTreeSet<_> = futures_join_all(enders)
            .await
            .into_iter()
            .filter_map(|r| r.ok())
            .collect();
        assert_eq!(
            outcomes.len(),
            1,
            "both a commit and a void succeeded: {outcomes:?}"
        );
        let expected = if outcomes.contains("committed") {
            10
        } else {
            20
        };
        assert_eq!(
            stars(&mut api, &p.tenant_id, &p.member_id).await,
            (expected, 0, expected)
        );
        harness.cleanup().await;
    })
    .await;
}
