//! Transfers: credits and debits of one wallet, any set of legs, their
//! reversals, and a transfer read back by id or idempotency key. Every
//! write comes from the brand's backend.

use questline_kit::auth::{Caller, Duty};
use questline_kit::{DomainError, Violations};
use questline_proto::ledger as pb;
use std::collections::BTreeMap;
use tonic::{Request, Response};
use tracing::Instrument;

use super::{LedgerApi, decode, encode};
use crate::domain::book::{Command, Transfer};
use crate::domain::requests::TransferSpec;
use crate::store;

pub(super) async fn credit(
    api: &LedgerApi,
    request: Request<pb::CreditRequest>,
) -> tonic::Result<Response<pb::CreditResponse>> {
    let caller = api.auth.caller(&request).await?;
    let spec = decode::credit(request.get_ref())?;
    // Mechanics finishes an event's credits on its own after a crash.
    let transfer = post(api, &caller, spec, &[Duty::CreditAwards]).await?;
    Ok(Response::new(credited(
        transfer,
        &request.get_ref().currency,
    )))
}

/// A credit's answer: its transfer and the wallet's balance after it.
fn credited(transfer: Transfer, currency: &str) -> pb::CreditResponse {
    let wallet = transfer.wallet;
    pb::CreditResponse {
        transfer: Some(encode::transfer(transfer)),
        balance: Some(encode::balance(currency, wallet)),
    }
}

/// Most credits one `CreditBatch` may hold.
pub const MAX_BATCH: usize = 1000;

/// Every credit of the batch goes to the committer at once, so they share
/// its transactions; each is answered on its own.
pub(super) async fn credit_batch(
    api: &LedgerApi,
    request: Request<pb::CreditBatchRequest>,
) -> tonic::Result<Response<pb::CreditBatchResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    Violations::new()
        .id("tenant_id", &req.tenant_id)
        .check(!req.credits.is_empty(), "credits", "is required")
        .check(
            req.credits.len() <= MAX_BATCH,
            "credits",
            "must hold at most 1000 credits",
        )
        .finish()?;
    caller.require_server_or(&req.tenant_id, &[Duty::CreditAwards])?;
    let tenant_id = req.tenant_id;
    let credits = req.credits.into_iter().map(|credit| {
        let span = credit_span(&credit.trace_context);
        credit_one(api, &caller, &tenant_id, credit).instrument(span)
    });
    let outcomes = futures::future::join_all(credits).await;
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
        questline_kit::telemetry::adopt_context(&span, trace_context);
    }
    span
}

async fn credit_one(
    api: &LedgerApi,
    caller: &Caller,
    tenant_id: &str,
    mut credit: pb::CreditRequest,
) -> pb::CreditOutcome {
    if credit.tenant_id.is_empty() {
        credit.tenant_id = tenant_id.to_string();
    }
    let answer = async {
        if credit.tenant_id != tenant_id {
            return Err(DomainError::invalid("tenant_id", "must be the batch's tenant").into());
        }
        let spec = decode::credit(&credit)?;
        post(api, caller, spec, &[Duty::CreditAwards]).await
    }
    .await;
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

pub(super) async fn debit(
    api: &LedgerApi,
    request: Request<pb::DebitRequest>,
) -> tonic::Result<Response<pb::DebitResponse>> {
    let caller = api.auth.caller(&request).await?;
    let spec = decode::debit(request.get_ref())?;
    let transfer = post(api, &caller, spec, &[]).await?;
    let wallet = transfer.wallet;
    Ok(Response::new(pb::DebitResponse {
        transfer: Some(encode::transfer(transfer)),
        balance: Some(encode::balance(&request.get_ref().currency, wallet)),
    }))
}

pub(super) async fn transfer(
    api: &LedgerApi,
    request: Request<pb::TransferRequest>,
) -> tonic::Result<Response<pb::TransferResponse>> {
    let caller = api.auth.caller(&request).await?;
    let spec = decode::transfer(request.get_ref())?;
    let transfer = post(api, &caller, spec, &[]).await?;
    Ok(Response::new(pb::TransferResponse {
        transfer: Some(encode::transfer(transfer)),
    }))
}

pub(super) async fn reverse(
    api: &LedgerApi,
    request: Request<pb::ReverseTransferRequest>,
) -> tonic::Result<Response<pb::ReverseTransferResponse>> {
    let caller = api.auth.caller(&request).await?;
    let spec = decode::reversal(request.get_ref())?;
    caller.require_server(&spec.tenant_id)?;
    let transfer = api.store.transfer(Command::Reverse(spec)).await?;
    Ok(Response::new(pb::ReverseTransferResponse {
        transfer: Some(encode::transfer(transfer)),
    }))
}

pub(super) async fn get(
    api: &LedgerApi,
    request: Request<pb::GetTransferRequest>,
) -> tonic::Result<Response<pb::GetTransferResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let lookup = decode::transfer_lookup(req)?;
    caller.require_server(&req.tenant_id)?;
    let (transfer, reversed) = api.store.find_transfer(&req.tenant_id, lookup).await?;
    Ok(Response::new(pb::GetTransferResponse {
        transfer: Some(encode::transfer(transfer)),
        reversed_amounts: reversed,
    }))
}

/// Posts a checked transfer spec from the brand's backend, or from a
/// service doing one of `duties`.
async fn post(
    api: &LedgerApi,
    caller: &Caller,
    spec: TransferSpec,
    duties: &[Duty],
) -> tonic::Result<Transfer> {
    caller.require_server_or(&spec.tenant_id, duties)?;
    // The committer checks each member against the read model in the
    // batch's own reads; one not there yet is asked of identity (which
    // keeps it there) before the one more try.
    let again = spec.clone();
    match api
        .store
        .transfer_checking_members(Command::Transfer(spec))
        .await
    {
        Err(err) if store::is_unseen(&err) => {
            api.known_members(caller, &again.tenant_id, again.members())
                .await?;
            let answer = api
                .store
                .transfer_checking_members(Command::Transfer(again));
            Ok(answer.await?)
        }
        answer => Ok(answer?),
    }
}
