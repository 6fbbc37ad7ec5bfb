//! `CreditBatch`: many credits of one tenant handed to the committer as
//! one arrival, so they share its transactions and no linger waits for
//! more; each is answered on its own, in its own trace when it names one.

use questline_kit::auth::{Caller, Duty};
use questline_kit::telemetry::{adopt_context, context_map};
use questline_kit::{DomainError, Violations};
use questline_proto::ledger as pb;
use std::collections::BTreeMap;
use tonic::{Request, Response};
use tracing::Instrument;

use super::transfers::credited;
use super::{LedgerApi, decode};
use crate::domain::book::{Command, Transfer};
use crate::domain::requests::TransferSpec;
use crate::store;

/// Most credits one `CreditBatch` may hold.
pub const MAX_BATCH: usize = 1000;

pub(super) async fn credit_batch(
    api: &LedgerApi,
    request: Request<pb::CreditBatchRequest>,
) -> tonic::Result<Response<pb::CreditBatchResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    Violations::new()
        .id("tenant_id", &req.tenant_id)
        .batch("credits", req.credits.len(), MAX_BATCH)
        .finish()?;
    caller.require_server_or(&req.tenant_id, &[Duty::CreditAwards])?;
    let mut credits = req.credits;
    for credit in &mut credits {
        if credit.tenant_id.is_empty() {
            credit.tenant_id.clone_from(&req.tenant_id);
        }
    }
    let spans: Vec<tracing::Span> = credits
        .iter()
        .map(|c| credit_span(&c.trace_context))
        .collect();
    let specs = credits
        .iter()
        .map(|c| decode_one(&req.tenant_id, c))
        .collect();
    let posted = post_together(api, &caller, specs, &spans).await;
    let outcomes = credits
        .into_iter()
        .zip(posted)
        .map(|(credit, answer)| outcome(credit, answer))
        .collect();
    Ok(Response::new(pb::CreditBatchResponse { outcomes }))
}

/// One credit of a batch: in the trace of the work it belongs to when it
/// names one (mechanics sends each event's awards so), else in the batch's.
fn credit_span(trace_context: &BTreeMap<String, String>) -> tracing::Span {
    let span = tracing::info_span!(
        "credit",
        otel.name = "ledger credit",
        questline.service = "ledger"
    );
    if !trace_context.is_empty() {
        adopt_context(&span, trace_context);
    }
    span
}

/// A credit's spec; it must be of the batch's tenant.
fn decode_one(tenant_id: &str, credit: &pb::CreditRequest) -> Result<TransferSpec, DomainError> {
    if credit.tenant_id != tenant_id {
        return Err(DomainError::invalid(
            "tenant_id",
            "must be the batch's tenant",
        ));
    }
    decode::credit(credit)
}

type Answer = tonic::Result<Transfer>;

/// Posts every decoded spec together; those naming a member the read model
/// lacks go again, together, once identity has been asked about them.
async fn post_together(
    api: &LedgerApi,
    caller: &Caller,
    specs: Vec<Result<TransferSpec, DomainError>>,
    spans: &[tracing::Span],
) -> Vec<Answer> {
    let mut answers: Vec<Option<Answer>> = Vec::with_capacity(specs.len());
    let mut ready = Vec::new();
    for (i, spec) in specs.into_iter().enumerate() {
        match spec {
            Ok(spec) => {
                ready.push((i, spec));
                answers.push(None);
            }
            Err(err) => answers.push(Some(Err(err.into()))),
        }
    }
    let unseen = post(api, &mut answers, ready, spans, Unseen::Return).await;
    // Identity is asked about each unseen credit's members, in its trace.
    let asked = unseen.into_iter().map(|(i, spec)| {
        async move {
            let known = api.known_members(caller, &spec.tenant_id, spec.members());
            (i, known.await, spec)
        }
        .instrument(spans[i].clone())
    });
    let mut again = Vec::new();
    for (i, known, spec) in futures::future::join_all(asked).await {
        match known {
            Ok(()) => again.push((i, spec)),
            Err(status) => answers[i] = Some(Err(status)),
        }
    }
    post(api, &mut answers, again, spans, Unseen::Answer).await;
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(DomainError::internal("a credit went unanswered").into())))
        .collect()
}

/// What `post` does with a credit refused only because a member is not in
/// the read model yet: give it back for one more try, or answer so.
#[derive(PartialEq)]
enum Unseen {
    Return,
    Answer,
}

/// Hands `specs` (each with its place in the batch) to the committer as
/// one arrival and files their answers; with `Unseen::Return`, gives back
/// instead those refused only because a member is not in the read model.
async fn post(
    api: &LedgerApi,
    answers: &mut [Option<Answer>],
    specs: Vec<(usize, TransferSpec)>,
    spans: &[tracing::Span],
    unseen_go: Unseen,
) -> Vec<(usize, TransferSpec)> {
    if specs.is_empty() {
        return specs;
    }
    let commands = specs
        .iter()
        .map(|(i, spec)| (Command::Transfer(spec.clone()), context_map(&spans[*i])))
        .collect();
    let posted = api.store.transfers_checking_members(commands).await;
    let mut unseen = Vec::new();
    for ((i, spec), answer) in specs.into_iter().zip(posted) {
        match answer {
            Err(err) if unseen_go == Unseen::Return && store::is_unseen(&err) => {
                unseen.push((i, spec));
            }
            answer => answers[i] = Some(answer.map_err(Into::into)),
        }
    }
    unseen
}

fn outcome(credit: pb::CreditRequest, answer: Answer) -> pb::CreditOutcome {
    let idempotency_key = credit.idempotency_key;
    match answer {
        Ok(transfer) => pb::CreditOutcome {
            idempotency_key,
            credited: Some(credited(transfer, &credit.currency)),
            error: None,
        },
        Err(status) => pb::CreditOutcome {
            idempotency_key,
            credited: None,
            error: Some(pb::CreditError {
                code: questline_kit::error::code_name(status.code()),
                message: status.message().to_string(),
            }),
        },
    }
}
