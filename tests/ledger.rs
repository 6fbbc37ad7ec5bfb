//! The ledger over the wire, as a brand's backend and a finance team use it:
//! multi-leg transfers, partner accounts, reversals, history and totals —
//! and amount fuzzing: every bad amount, an overflowing multi-leg sum, an
//! unknown currency, a closed account and a reused key get their precise
//! status, and no database row changes.

#![allow(clippy::unwrap_used)]

use questline_proto::ledger::{self as pb, get_transfer_request::Lookup};
use questline_tests::{Harness, Programme, each_backend};
use tonic::Code;
use tonic_types::StatusExt;

fn leg(debit: &str, credit: &str, amount: i64) -> pb::Leg {
    pb::Leg {
        currency: "stars".into(),
        debit_account: debit.into(),
        credit_account: credit.into(),
        amount,
    }
}

fn transfer(p: &Programme, key: &str, legs: Vec<pb::Leg>) -> pb::TransferRequest {
    pb::TransferRequest {
        tenant_id: p.tenant_id.clone(),
        legs,
        reason: "fuzz".into(),
        reference: "order-1".into(),
        metadata: None,
        idempotency_key: key.into(),
    }
}

async fn open_partner(h: &Harness, p: &Programme, name: &str) {
    h.api(Some(&p.token))
        .ledger
        .open_account(pb::OpenAccountRequest {
            tenant_id: p.tenant_id.clone(),
            currency: "stars".into(),
            name: name.into(),
            may_go_negative: false,
        })
        .await
        .unwrap();
}

/// The fields a refusal names (BadRequest) or its precondition kind.
fn named(status: &tonic::Status) -> Vec<String> {
    if let Some(bad) = status.get_details_bad_request() {
        return bad.field_violations.into_iter().map(|v| v.field).collect();
    }
    if let Some(failure) = status.get_details_precondition_failure() {
        return failure.violations.into_iter().map(|v| v.r#type).collect();
    }
    if let Some(info) = status.get_details_error_info() {
        return info.metadata.into_values().collect();
    }
    Vec::new()
}

/// A small pseudo-random sequence of amounts, edge values first.
fn amounts() -> Vec<i64> {
    let mut out = vec![
        0,
        -1,
        -5,
        i64::MIN,
        i64::MAX,
        1_000_000_000_001,
        i64::MAX - 1,
    ];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as i64);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_amounts_and_bad_accounts_change_nothing() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("fuzz").await;
        let mut api = h.api(Some(&p.token));
        let member = format!("member:{}", p.member_id);
        open_partner(&h, &p, "partner:closed-cafe").await;
        api.ledger
            .close_account(pb::CloseAccountRequest {
                tenant_id: p.tenant_id.clone(),
                currency: "stars".into(),
                name: "partner:closed-cafe".into(),
            })
            .await
            .unwrap();
        api.ledger
            .transfer(transfer(
                &p,
                "first",
                vec![leg("system:issuance", &member, 10)],
            ))
            .await
            .unwrap();
        let before = h.quiet_rows().await;

        for amount in amounts()
            .into_iter()
            .filter(|a| !(1..=1_000_000_000_000).contains(a))
        {
            let refused = api
                .ledger
                .transfer(transfer(
                    &p,
                    "bad-amount",
                    vec![leg("system:issuance", &member, amount)],
                ))
                .await
                .unwrap_err();
            assert_eq!(refused.code(), Code::InvalidArgument, "{amount}");
            assert_eq!(named(&refused), ["legs[0].amount"], "{amount}");
            let credit = pb::CreditRequest {
                tenant_id: p.tenant_id.clone(),
                member_id: p.member_id.clone(),
                currency: "stars".into(),
                amount,
                idempotency_key: "bad-credit".into(),
                ..Default::default()
            };
            let refused = api.ledger.credit(credit).await.unwrap_err();
            assert_eq!(
                (refused.code(), named(&refused)),
                (Code::InvalidArgument, vec!["amount".to_string()])
            );
        }
        let overflow = vec![
            leg("system:issuance", &member, i64::MAX),
            leg("system:issuance", &member, i64::MAX),
        ];
        let refused = api
            .ledger
            .transfer(transfer(&p, "overflow", overflow))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        let too_many = vec![leg("system:issuance", &member, 1); 65];
        let refused = api
            .ledger
            .transfer(transfer(&p, "many", too_many))
            .await
            .unwrap_err();
        assert_eq!(
            (refused.code(), named(&refused)),
            (Code::InvalidArgument, vec!["legs".to_string()])
        );
        let cases = [
            (
                leg("system:issuance", "bank:x", 1),
                Code::InvalidArgument,
                "legs[0].credit_account",
            ),
            (
                leg(&member, &member, 1),
                Code::InvalidArgument,
                "legs[0].credit_account",
            ),
            (
                pb::Leg {
                    currency: "coins".into(),
                    ..leg("system:issuance", &member, 1)
                },
                Code::FailedPrecondition,
                "UNKNOWN_CURRENCY",
            ),
            (
                leg(&member, "partner:closed-cafe", 1),
                Code::FailedPrecondition,
                "ACCOUNT_CLOSED",
            ),
            (leg(&member, "partner:nobody", 1), Code::NotFound, ""),
            (
                leg(&member, "system:redemption", 11),
                Code::FailedPrecondition,
                "INSUFFICIENT_FUNDS",
            ),
            (
                leg("system:issuance", "member:stranger", 1),
                Code::NotFound,
                "",
            ),
        ];
        for (bad, code, name) in cases {
            let refused = api
                .ledger
                .transfer(transfer(&p, "bad-leg", vec![bad.clone()]))
                .await
                .unwrap_err();
            assert_eq!(refused.code(), code, "{bad:?}: {refused:?}");
            if !name.is_empty() {
                assert_eq!(named(&refused), [name], "{bad:?}");
            }
        }
        // The first key with another amount names the field that differs.
        let reused = api
            .ledger
            .transfer(transfer(
                &p,
                "first",
                vec![leg("system:issuance", &member, 11)],
            ))
            .await
            .unwrap_err();
        assert_eq!(
            (reused.code(), named(&reused)),
            (Code::AlreadyExists, vec!["legs[0].amount".to_string()])
        );
        let big = serde_json::json!({ "note": "x".repeat(5_000) });
        let mut request = transfer(&p, "big", vec![leg("system:issuance", &member, 1)]);
        request.metadata = big.as_object().map(questline_kit::structs::from_json);
        let refused = api.ledger.transfer(request).await.unwrap_err();
        assert_eq!(named(&refused), ["metadata"]);

        assert_eq!(
            before,
            h.quiet_rows().await,
            "a refused call wrote something"
        );
        h.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_coalition_transfer_is_reversed_and_shows_in_history_and_totals() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("coalition").await;
        let mut api = h.api(Some(&p.token));
        let member = format!("member:{}", p.member_id);
        open_partner(&h, &p, "partner:cafe").await;
        api.ledger
            .transfer(transfer(
                &p,
                "earn",
                vec![leg("system:issuance", &member, 100)],
            ))
            .await
            .unwrap();
        // A pending hold shows as held, not available.
        let hold = pb::CreateHoldRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: p.member_id.clone(),
            currency: "stars".into(),
            amount: 10,
            reason: "basket".into(),
            ttl_seconds: 60,
            idempotency_key: "basket-1".into(),
        };
        let hold = api
            .ledger
            .create_hold(hold)
            .await
            .unwrap()
            .into_inner()
            .hold
            .unwrap();
        let balances = pb::GetBalancesRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: p.member_id.clone(),
            expiring_within_days: 0,
        };
        let wallet = api
            .ledger
            .get_balances(balances)
            .await
            .unwrap()
            .into_inner()
            .balances;
        assert_eq!(
            (wallet[0].total, wallet[0].held, wallet[0].available),
            (100, 10, 90)
        );
        api.ledger
            .void_hold(pb::VoidHoldRequest {
                tenant_id: p.tenant_id.clone(),
                hold_id: hold.hold_id,
            })
            .await
            .unwrap();
        // Spend 30 at the café: 25 settle to the partner, 5 are the programme's fee.
        let spend = vec![
            leg(&member, "partner:cafe", 25),
            leg(&member, "system:redemption", 5),
        ];
        let mut request = transfer(&p, "cafe-order-7", spend);
        request.metadata = serde_json::json!({ "store": "Orchard" })
            .as_object()
            .map(questline_kit::structs::from_json);
        let spent = api
            .ledger
            .transfer(request)
            .await
            .unwrap()
            .into_inner()
            .transfer
            .unwrap();
        assert_eq!(spent.legs.len(), 2);
        let found = api
            .ledger
            .get_transfer(pb::GetTransferRequest {
                tenant_id: p.tenant_id.clone(),
                lookup: Some(Lookup::IdempotencyKey("cafe-order-7".into())),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(found.transfer.as_ref(), Some(&spent));
        // The order is refunded: the whole transfer comes back, once.
        let refund = pb::ReverseTransferRequest {
            tenant_id: p.tenant_id.clone(),
            transfer_id: spent.transfer_id.clone(),
            amount: 0,
            reason: "refund".into(),
            idempotency_key: "refund-7".into(),
        };
        let reversal = api
            .ledger
            .reverse_transfer(refund.clone())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            reversal.transfer.unwrap().reverses_transfer_id,
            spent.transfer_id
        );
        api.ledger.reverse_transfer(refund).await.unwrap();
        let again = pb::ReverseTransferRequest {
            idempotency_key: "refund-7b".into(),
            ..Default::default()
        };
        let again = pb::ReverseTransferRequest {
            tenant_id: p.tenant_id.clone(),
            transfer_id: spent.transfer_id.clone(),
            ..again
        };
        let refused = api.ledger.reverse_transfer(again).await.unwrap_err();
        assert_eq!(named(&refused), ["NOTHING_TO_REVERSE"]);

        let history = |page_token: String| pb::ListAccountEntriesRequest {
            tenant_id: p.tenant_id.clone(),
            currency: "stars".into(),
            name: member.clone(),
            page_size: 2,
            page_token,
            ..Default::default()
        };
        let mut entries = Vec::new();
        let mut token = String::new();
        loop {
            let page = api
                .ledger
                .list_account_entries(history(token))
                .await
                .unwrap()
                .into_inner();
            entries.extend(page.entries);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let amounts: Vec<i64> = entries.iter().map(|e| e.amount).collect();
        assert_eq!(amounts, [5, 25, -5, -25, 100], "newest first");
        assert_eq!(entries[4].reference, "order-1");

        let totals = api
            .ledger
            .get_programme_totals(pb::GetProgrammeTotalsRequest {
                tenant_id: p.tenant_id.clone(),
                currency: "stars".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .totals;
        let t = &totals[0];
        assert_eq!((t.issued, t.burned, t.partners), (100, 0, 0));
        assert_eq!(t.outstanding, 100);
        h.cleanup().await;
    })
    .await;
}

/// A wallet's total in stars.
async fn stars(h: &Harness, p: &Programme) -> i64 {
    let balances = pb::GetBalancesRequest {
        tenant_id: p.tenant_id.clone(),
        member_id: p.member_id.clone(),
        expiring_within_days: 0,
    };
    let answer = h.api(Some(&p.token)).ledger.get_balances(balances).await;
    let balances = answer.unwrap().into_inner().balances;
    balances.iter().map(|b| b.total).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_credit_batch_answers_each_credit_on_its_own_and_replays_as_first_answered() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("bulk").await;
        let mut api = h.api(Some(&p.token));
        let credit = |key: &str, member: &str, amount: i64| pb::CreditRequest {
            tenant_id: String::new(),
            member_id: member.into(),
            currency: "stars".into(),
            amount,
            reason: "bonus run".into(),
            idempotency_key: key.into(),
            ..Default::default()
        };
        let member = p.member_id.as_str();
        let batch = pb::CreditBatchRequest {
            tenant_id: p.tenant_id.clone(),
            credits: vec![
                credit("b1", member, 5),
                credit("b-negative", member, -1),
                credit("b-stranger", "stranger", 5),
                pb::CreditRequest {
                    tenant_id: "another-tenant".into(),
                    ..credit("b-elsewhere", member, 5)
                },
                credit("b2", member, 7),
                credit("b1", member, 5),
            ],
        };
        let before = stars(&h, &p).await;
        let first = api.ledger.credit_batch(batch.clone()).await.unwrap();
        let outcomes = first.into_inner().outcomes;
        let codes: Vec<&str> = outcomes
            .iter()
            .map(|o| o.error.as_ref().map_or("OK", |e| e.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                "OK",
                "INVALID_ARGUMENT",
                "NOT_FOUND",
                "INVALID_ARGUMENT",
                "OK",
                "OK"
            ]
        );
        let keys: Vec<&str> = outcomes
            .iter()
            .map(|o| o.idempotency_key.as_str())
            .collect();
        assert_eq!(
            keys,
            ["b1", "b-negative", "b-stranger", "b-elsewhere", "b2", "b1"]
        );
        let transfer = |i: usize| {
            let credited = outcomes[i].credited.as_ref().unwrap();
            credited.transfer.as_ref().unwrap().transfer_id.clone()
        };
        assert_eq!(transfer(0), transfer(5), "one key, one transfer");
        assert_eq!(stars(&h, &p).await, before + 12);

        // Replayed whole: the same transfers, no new points.
        let again = api.ledger.credit_batch(batch).await.unwrap().into_inner();
        let replayed = again.outcomes[4].credited.as_ref().unwrap();
        assert_eq!(replayed.transfer.as_ref().unwrap().transfer_id, transfer(4));
        assert_eq!(stars(&h, &p).await, before + 12);

        // Refused whole: nothing written.
        let quiet = h.quiet_rows().await;
        let refusals = [
            (p.tenant_id.clone(), vec![], "credits"),
            (
                p.tenant_id.clone(),
                vec![credit("many", member, 1); 1001],
                "credits",
            ),
            (
                String::new(),
                vec![credit("no-tenant", member, 1)],
                "tenant_id",
            ),
        ];
        for (tenant_id, credits, field) in refusals {
            let request = pb::CreditBatchRequest { tenant_id, credits };
            let refused = api.ledger.credit_batch(request).await.unwrap_err();
            assert_eq!(
                (refused.code(), named(&refused)),
                (Code::InvalidArgument, vec![field.to_string()])
            );
        }
        assert_eq!(
            quiet,
            h.quiet_rows().await,
            "a refused batch wrote something"
        );
        h.cleanup().await;
    })
    .await;
}
