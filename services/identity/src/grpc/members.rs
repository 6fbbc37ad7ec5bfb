//! Members and their consent: written by the brand's backend, read by it and
//! by the member's own app; erasing one is the backend's or an admin's call.

use questline_kit::auth::Duty;
use questline_kit::{Violations, paging};
use questline_proto::identity as pb;
use tonic::{Request, Response};

use super::{IdentityApi, audited, decode, encode};
use crate::domain::members;

pub(super) async fn upsert(
    api: &IdentityApi,
    request: Request<pb::UpsertMemberRequest>,
) -> tonic::Result<Response<pb::UpsertMemberResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id);
    members::validate_external_id(&mut v, &req.external_id);
    let profile = decode::profile(&mut v, req.profile.unwrap_or_default());
    v.finish()?;
    caller.require_server(&req.tenant_id)?;
    api.store.active_tenant(&req.tenant_id).await?;
    let (row, created) = api
        .store
        .upsert_member(&req.tenant_id, &req.external_id, &profile)
        .await?;
    Ok(Response::new(pb::UpsertMemberResponse {
        member: Some(encode::member(row)),
        created,
    }))
}

pub(super) async fn get(
    api: &IdentityApi,
    request: Request<pb::GetMemberRequest>,
) -> tonic::Result<Response<pb::GetMemberResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id);
    questline_kit::members::check_one(&mut v, &req.member_id, &req.external_id);
    v.finish()?;
    // The brand's backend, a service whose duty it is, or the member's own
    // app (by member id: a member token has no use for external ids).
    let server = caller.require_server_or(&req.tenant_id, &[Duty::ReadMembers]);
    let row = if req.external_id.is_empty() {
        if server.is_err() {
            caller.require_member_access(&req.tenant_id, &req.member_id)?;
        }
        api.store.member(&req.tenant_id, &req.member_id).await?
    } else {
        server?;
        let found = api
            .store
            .member_by_external_id(&req.tenant_id, &req.external_id);
        found.await?
    };
    Ok(Response::new(pb::GetMemberResponse {
        member: Some(encode::member(row)),
    }))
}

pub(super) async fn list(
    api: &IdentityApi,
    request: Request<pb::ListMembersRequest>,
) -> tonic::Result<Response<pb::ListMembersResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    Violations::new()
        .id("tenant_id", &req.tenant_id)
        .optional_text("query", &req.query)
        .finish()?;
    let page = paging::parse(req.page_size, &req.page_token)?;
    caller.require_server(&req.tenant_id)?;
    let rows = api.store.members(&req.tenant_id, &req.query, &page).await?;
    let (rows, next_page_token) = page.finish(rows, |m| m.member_id.as_str());
    Ok(Response::new(pb::ListMembersResponse {
        next_page_token,
        members: rows.into_iter().map(encode::member).collect(),
    }))
}

pub(super) async fn update_consent(
    api: &IdentityApi,
    request: Request<pb::UpdateConsentRequest>,
) -> tonic::Result<Response<pb::UpdateConsentResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id)
        .id("member_id", &req.member_id)
        .text("source", &req.source)
        .check(
            !req.choices.is_empty(),
            "choices",
            "at least one choice is required",
        );
    let choices = decode::consent_choices(&mut v, &req.choices);
    v.finish()?;
    caller.require_member_access(&req.tenant_id, &req.member_id)?;
    let row = api
        .store
        .update_consent(&req.tenant_id, &req.member_id, &choices, &req.source)
        .await?;
    Ok(Response::new(pb::UpdateConsentResponse {
        member: Some(encode::member(row)),
    }))
}

pub(super) async fn erase(
    api: &IdentityApi,
    request: Request<pb::EraseMemberRequest>,
) -> tonic::Result<Response<pb::EraseMemberResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    decode::within_tenant(&req.tenant_id, "member_id", &req.member_id)?;
    // Irreversible: the brand's backend or an admin, never a member app's token.
    caller.require_server(&req.tenant_id)?;
    let resource = format!("members/{}", req.member_id);
    let change = audited(&caller, &req.tenant_id, "EraseMember", resource);
    let row = api
        .store
        .erase_member(&req.tenant_id, &req.member_id, &change)
        .await?;
    Ok(Response::new(pb::EraseMemberResponse {
        member: Some(encode::member(row)),
    }))
}
