//! Transfers: credits and debits of one wallet, any set of legs, their
//! reversals, and a transfer read back by id or idempotency key. Every
//! write comes from the brand's backend.

use questline_kit::auth::{Caller, Duty};
use questline_proto::ledger as pb;
use tonic::{Request, Response};

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
pub(super) fn credited(transfer: Transfer, currency: &str) -> pb::CreditResponse {
    let wallet = transfer.wallet;
    pb::CreditResponse {
        transfer: Some(encode::transfer(transfer)),
        balance: Some(encode::balance(currency, wallet)),
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
