//! What a member holds, what an account went through, and what the
//! programme owes: the reads a member app or the brand's backend asks for.

use questline_kit::paging;
use questline_proto::ledger as pb;
use tonic::{Request, Response};

use super::{LedgerApi, decode, encode};

pub(super) async fn balances(
    api: &LedgerApi,
    request: Request<pb::GetBalancesRequest>,
) -> tonic::Result<Response<pb::GetBalancesResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let within_days = decode::expiring_within_days(req)?;
    caller.require_member_access(&req.tenant_id, &req.member_id)?;
    let member = [req.member_id.as_str()].into_iter();
    api.known_members(&caller, &req.tenant_id, member).await?;
    let wallets = api
        .store
        .balances(&req.tenant_id, &req.member_id, within_days)
        .await?;
    Ok(Response::new(pb::GetBalancesResponse {
        balances: wallets.into_iter().map(encode::wallet).collect(),
    }))
}

/// An account's entries, newest first, a page at a time.
pub(super) async fn history(
    api: &LedgerApi,
    request: Request<pb::ListAccountEntriesRequest>,
) -> tonic::Result<Response<pb::ListAccountEntriesResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let key = decode::account_key(&req.tenant_id, &req.currency, &req.name)?;
    let page = paging::parse(req.page_size, &req.page_token)?;
    let filter = decode::entry_filter(req)?;
    LedgerApi::authorise_account(&caller, &key)?;
    let account = api.store.account(&key).await?;
    let (entries, next_page_token) = api.store.entries(&account, &filter, &page).await?;
    Ok(Response::new(pb::ListAccountEntriesResponse {
        entries: entries.into_iter().map(encode::entry).collect(),
        next_page_token,
    }))
}

pub(super) async fn totals(
    api: &LedgerApi,
    request: Request<pb::GetProgrammeTotalsRequest>,
) -> tonic::Result<Response<pb::GetProgrammeTotalsResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let only = decode::totals_currency(req)?;
    caller.require_server(&req.tenant_id)?;
    let totals = api.store.totals(&req.tenant_id, only).await?;
    Ok(Response::new(pb::GetProgrammeTotalsResponse {
        totals: totals.into_iter().map(encode::totals).collect(),
    }))
}
