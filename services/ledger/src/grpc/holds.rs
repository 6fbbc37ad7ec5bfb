//! Holds: a member's points reserved, then spent in all or part, or
//! released. A member app ends only its member's holds.

use questline_kit::auth::{Caller, Scope};
use questline_proto::ledger as pb;
use tonic::{Request, Response};

use super::{LedgerApi, decode, encode};
use crate::domain::book::Command;

pub(super) async fn create(
    api: &LedgerApi,
    request: Request<pb::CreateHoldRequest>,
) -> tonic::Result<Response<pb::CreateHoldResponse>> {
    let caller = api.auth.caller(&request).await?;
    let spec = decode::hold(request.get_ref())?;
    caller.require_member_access(&spec.tenant_id, &spec.member_id)?;
    let member = [spec.member_id.as_str()].into_iter();
    api.known_members(&caller, &spec.tenant_id, member).await?;
    let hold = api.store.hold_command(Command::CreateHold(spec)).await?;
    Ok(Response::new(pb::CreateHoldResponse {
        hold: Some(encode::hold(hold)),
    }))
}

pub(super) async fn commit(
    api: &LedgerApi,
    request: Request<pb::CommitHoldRequest>,
) -> tonic::Result<Response<pb::CommitHoldResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let amount = decode::commit_amount(req.amount)?;
    authorise(api, &caller, &req.tenant_id, &req.hold_id).await?;
    let command = Command::CommitHold {
        tenant_id: req.tenant_id,
        hold_id: req.hold_id,
        amount,
    };
    let hold = api.store.hold_command(command).await?;
    Ok(Response::new(pb::CommitHoldResponse {
        hold: Some(encode::hold(hold)),
    }))
}

pub(super) async fn void(
    api: &LedgerApi,
    request: Request<pb::VoidHoldRequest>,
) -> tonic::Result<Response<pb::VoidHoldResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    authorise(api, &caller, &req.tenant_id, &req.hold_id).await?;
    let command = Command::VoidHold {
        tenant_id: req.tenant_id,
        hold_id: req.hold_id,
    };
    let hold = api.store.hold_command(command).await?;
    Ok(Response::new(pb::VoidHoldResponse {
        hold: Some(encode::hold(hold)),
    }))
}

/// The brand's backend ends any hold of its tenant; a member app only its member's.
async fn authorise(
    api: &LedgerApi,
    caller: &Caller,
    tenant_id: &str,
    hold_id: &str,
) -> tonic::Result<()> {
    decode::hold_ref(tenant_id, hold_id)?;
    caller.require(tenant_id, &[Scope::Server, Scope::Admin, Scope::Member])?;
    if caller.is_member_only() {
        let hold = api.store.hold(tenant_id, hold_id).await?;
        caller.require_member_access(tenant_id, &hold.member_id)?;
    }
    Ok(())
}
