//! How a failed call reads in a trace, as OpenTelemetry's RPC conventions
//! say: every SERVER and CLIENT span carries `rpc.grpc.status_code`; a
//! server's span is an Error only when the server failed (UNAVAILABLE,
//! INTERNAL, …), never for its caller's mistake (NOT_FOUND,
//! INVALID_ARGUMENT); a client's span is an Error for any code but OK.

#![allow(clippy::unwrap_used)]

use opentelemetry::trace::{SpanKind, Status, TraceContextExt, TraceId};
use opentelemetry_sdk::trace::SpanData;
use questline_kit::config::ServiceKind;
use questline_proto::ledger::{CreditBatchRequest, CreditRequest};
use questline_proto::rewards::GetRewardRequest;
use questline_tests::raw::{RawCall, connect};
use questline_tests::{Harness, each_backend, eventually, spans, track};
use tonic::Code;
use tracing::Instrument;

/// Runs `call` under a fresh root span; the trace it made.
async fn traced<F: std::future::Future>(call: F) -> (F::Output, TraceId) {
    let root = tracing::info_span!("case");
    let trace_id = questline_kit::telemetry::context_of(&root)
        .span()
        .span_context()
        .trace_id();
    (call.instrument(root).await, trace_id)
}

/// The finished span of `kind` named `name` in `trace_id`, once it has
/// ended: a call's span may close a moment after its answer arrives (a
/// connection attempt it started holds it open), so it is waited for.
async fn span(trace_id: TraceId, kind: SpanKind, name: &str) -> SpanData {
    let what = format!("{kind:?} {name} in {trace_id}");
    eventually(&what, || {
        let kind = kind.clone();
        async move {
            let found: Vec<SpanData> = spans()
                .get_finished_spans()
                .unwrap()
                .into_iter()
                .filter(|s| {
                    s.span_context.trace_id() == trace_id && s.span_kind == kind && s.name == name
                })
                .collect();
            assert!(
                found.len() <= 1,
                "more than one {kind:?} {name} in {trace_id}"
            );
            found.into_iter().next()
        }
    })
    .await
}

fn status_code(span: &SpanData) -> Option<i64> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == "rpc.grpc.status_code")
        .and_then(|kv| match kv.value {
            opentelemetry::Value::I64(code) => Some(code),
            _ => None,
        })
}

/// The server's span and the caller's both say `code`; only the caller's,
/// or both when the server failed, are Errors.
async fn reads_as(trace_id: TraceId, method: &str, code: Code, server_failed: bool) {
    let server = span(trace_id, SpanKind::Server, method).await;
    assert_eq!(status_code(&server), Some(code as i64), "{method}");
    assert_eq!(
        matches!(server.status, Status::Error { .. }),
        server_failed,
        "{method}: {:?}",
        server.status
    );
    let client = span(trace_id, SpanKind::Client, method).await;
    assert_eq!(status_code(&client), Some(code as i64), "{method}");
    assert!(matches!(client.status, Status::Error { .. }), "{method}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_call_carries_its_code_and_the_status_the_conventions_give() {
    each_backend(|backend| async move {
        let mut harness = Harness::start(backend).await;
        let p = harness.programme("spans").await;
        let mut api = harness.api(Some(&p.token));

        let unknown = GetRewardRequest {
            tenant_id: p.tenant_id.clone(),
            reward_id: "no-such-reward".into(),
        };
        let (answer, trace) = traced(api.rewards.get_reward(unknown)).await;
        assert_eq!(answer.unwrap_err().code(), Code::NotFound);
        reads_as(
            trace,
            "questline.rewards.v1.RewardsService/GetReward",
            Code::NotFound,
            false,
        )
        .await;

        let nobody = track(&p.tenant_id, "", "bad-1", 10.0);
        let (answer, trace) = traced(api.mechanics.track(nobody)).await;
        assert_eq!(answer.unwrap_err().code(), Code::InvalidArgument);
        reads_as(
            trace,
            "questline.mechanics.v1.MechanicsService/Track",
            Code::InvalidArgument,
            false,
        )
        .await;

        harness.restart_without(&[ServiceKind::Ledger]).await;
        let mut api = harness.api(Some(&p.token));
        let purchase = track(&p.tenant_id, &p.member_id, "down-1", 100.0);
        let (answer, trace) = traced(api.mechanics.track(purchase)).await;
        assert_eq!(answer.unwrap_err().code(), Code::Unavailable);
        reads_as(
            trace,
            "questline.mechanics.v1.MechanicsService/Track",
            Code::Unavailable,
            true,
        )
        .await;
        // Mechanics' own call to the ledger that is down.
        let credit = span(
            trace,
            SpanKind::Client,
            "questline.ledger.v1.LedgerService/CreditBatch",
        )
        .await;
        assert_eq!(status_code(&credit), Some(Code::Unavailable as i64));
        assert!(matches!(credit.status, Status::Error { .. }));

        // A request that does not parse (a tenant id that is not UTF-8):
        // tonic answers INTERNAL, the server's failure by the table.
        let endpoint = harness.mesh().endpoint(ServiceKind::Rewards);
        let addr = endpoint.trim_start_matches("http://").to_string();
        // A trace of its own for each backend's run.
        let trace_id = uuid::Uuid::new_v4().simple().to_string();
        let parent = format!("00-{trace_id}-00f067aa0ba902b7-01");
        let call = RawCall {
            addr: &addr,
            path: "/questline.rewards.v1.RewardsService/GetReward",
            token: &p.token,
            headers: &[("traceparent", &parent)],
        };
        let not_utf8 = [0x0a, 0x02, 0xff, 0xfe];
        let status = call.send(&mut connect(&addr).await, &not_utf8).await;
        assert_eq!(status, "13");
        let trace = TraceId::from_hex(&trace_id).unwrap();
        let server = span(
            trace,
            SpanKind::Server,
            "questline.rewards.v1.RewardsService/GetReward",
        )
        .await;
        assert_eq!(status_code(&server), Some(Code::Internal as i64));
        assert!(matches!(server.status, Status::Error { .. }));
        harness.cleanup().await;
    })
    .await;
}

/// Each credit of a `CreditBatch` is drawn in the trace it names, with the
/// event the ledger publishes for it: mechanics sends the awards of many
/// events in one call, and each purchase stays one trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_credit_of_a_batch_joins_the_trace_it_carries() {
    each_backend(|backend| async move {
        let harness = Harness::start(backend).await;
        let p = harness.programme("batch-spans").await;
        let mut api = harness.api(Some(&p.token));
        let traces: Vec<String> = (0..2)
            .map(|_| uuid::Uuid::new_v4().simple().to_string())
            .collect();
        let credits = traces
            .iter()
            .enumerate()
            .map(|(i, trace_id)| CreditRequest {
                member_id: p.member_id.clone(),
                currency: "stars".into(),
                amount: 5,
                reason: "bonus".into(),
                idempotency_key: format!("traced-{i}-{trace_id}"),
                trace_context: [(
                    "traceparent".to_string(),
                    format!("00-{trace_id}-00f067aa0ba902b7-01"),
                )]
                .into(),
                ..Default::default()
            })
            .collect();
        let mut batch = CreditBatchRequest {
            tenant_id: p.tenant_id.clone(),
            credits,
        };
        let first = api.ledger.credit_batch(batch.clone()).await.unwrap();
        let first = first.into_inner().outcomes;
        assert!(first.iter().all(|o| o.error.is_none()), "{first:?}");
        // A replay from another trace is the same request: the first answers.
        for credit in &mut batch.credits {
            credit.trace_context.clear();
        }
        let replay = api.ledger.credit_batch(batch).await.unwrap();
        let transfer_ids = |outcomes: &[questline_proto::ledger::CreditOutcome]| {
            outcomes
                .iter()
                .map(|o| {
                    let credited = o.credited.as_ref().expect("credited");
                    credited
                        .transfer
                        .as_ref()
                        .expect("a transfer")
                        .transfer_id
                        .clone()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            transfer_ids(&replay.into_inner().outcomes),
            transfer_ids(&first)
        );
        for trace_id in &traces {
            let trace = TraceId::from_hex(trace_id).unwrap();
            let credit = span(trace, SpanKind::Internal, "ledger credit").await;
            assert_eq!(credit.parent_span_id.to_string(), "00f067aa0ba902b7");
            // The relay publishes in its own time: `span` waits for it.
            span(trace, SpanKind::Producer, "ledger publish points.credited").await;
        }
        harness.cleanup().await;
    })
    .await;
}
