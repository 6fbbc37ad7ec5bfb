//! Accounts by name: a partner's opened on purpose, any but a system
//! account closed, any read by whoever may see it.

use questline_kit::audit::Change;
use questline_kit::auth::Caller;
use questline_proto::ledger::{self as pb, ledger_service_server::SERVICE_NAME};
use tonic::{Request, Response};

use super::{LedgerApi, decode, encode};
use crate::domain::book::{Account, AccountKey};

pub(super) async fn open(
    api: &LedgerApi,
    request: Request<pb::OpenAccountRequest>,
) -> tonic::Result<Response<pb::OpenAccountResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let key = decode::account_key(&req.tenant_id, &req.currency, &req.name)?;
    Account::may_open(&key.owner)?;
    caller.require_admin(&key.tenant_id)?;
    let change =
        admin_change(&caller, &key, "OpenAccount").with("may_go_negative", req.may_go_negative);
    let account = api
        .store
        .open_account(key, req.may_go_negative, change)
        .await?;
    Ok(Response::new(pb::OpenAccountResponse {
        account: Some(encode::account(account)),
    }))
}

pub(super) async fn close(
    api: &LedgerApi,
    request: Request<pb::CloseAccountRequest>,
) -> tonic::Result<Response<pb::CloseAccountResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let key = decode::account_key(&req.tenant_id, &req.currency, &req.name)?;
    Account::may_close(&key.owner)?;
    caller.require_admin(&key.tenant_id)?;
    let change = admin_change(&caller, &key, "CloseAccount");
    let account = api.store.close_account(key, change).await?;
    Ok(Response::new(pb::CloseAccountResponse {
        account: Some(encode::account(account)),
    }))
}

pub(super) async fn get(
    api: &LedgerApi,
    request: Request<pb::GetAccountRequest>,
) -> tonic::Result<Response<pb::GetAccountResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let key = decode::account_key(&req.tenant_id, &req.currency, &req.name)?;
    LedgerApi::authorise_account(&caller, &key)?;
    let account = api.store.account(&key).await?;
    Ok(Response::new(pb::GetAccountResponse {
        account: Some(encode::account(account)),
    }))
}

/// The audit entry of an administrator's change to the account `key`.
fn admin_change(caller: &Caller, key: &AccountKey, method: &str) -> Change {
    Change::by(
        caller,
        &key.tenant_id,
        SERVICE_NAME,
        method,
        format!("accounts/{}/{}", key.currency, key.owner.key()),
    )
}
