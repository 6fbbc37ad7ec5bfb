//! Segments: defined by admins, evaluated by the brand's backend.

use questline_kit::time::now_ms;
use questline_kit::{DomainError, Violations, paging};
use questline_proto::identity as pb;
use tonic::{Request, Response};

use super::{IdentityApi, audited, decode, encode};
use crate::domain::segments;
use crate::store::entities::segment;
use crate::store::{SegmentChange, membership};

pub(super) async fn create(
    api: &IdentityApi,
    request: Request<pb::CreateSegmentRequest>,
) -> tonic::Result<Response<pb::CreateSegmentResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id)
        .id("segment_id", &req.segment_id)
        .text("name", &req.name)
        .optional_text("description", &req.description);
    segments::check(&mut v, &req.predicate);
    v.finish()?;
    caller.require_admin(&req.tenant_id)?;
    api.store.active_tenant(&req.tenant_id).await?;
    let now = now_ms();
    let change = audited(
        &caller,
        &req.tenant_id,
        "CreateSegment",
        resource(&req.segment_id),
    )
    .with("name", req.name.as_str())
    .with("predicate", req.predicate.as_str());
    let draft = segment::Model {
        tenant_id: req.tenant_id,
        segment_id: req.segment_id,
        name: req.name,
        description: req.description,
        predicate: req.predicate,
        created_at: now,
        updated_at: now,
    };
    let row = api.store.create_segment(draft, &change).await?;
    Ok(Response::new(pb::CreateSegmentResponse {
        segment: Some(encode::segment(row)),
    }))
}

pub(super) async fn update(
    api: &IdentityApi,
    request: Request<pb::UpdateSegmentRequest>,
) -> tonic::Result<Response<pb::UpdateSegmentResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id)
        .id("segment_id", &req.segment_id);
    if let Some(name) = &req.name {
        v.text("name", name);
    }
    if let Some(description) = &req.description {
        v.optional_text("description", description);
    }
    if let Some(predicate) = &req.predicate {
        segments::check(&mut v, predicate);
    }
    v.finish()?;
    caller.require_admin(&req.tenant_id)?;
    api.store.active_tenant(&req.tenant_id).await?;
    let mut change = audited(
        &caller,
        &req.tenant_id,
        "UpdateSegment",
        resource(&req.segment_id),
    );
    for (field, value) in [("name", &req.name), ("predicate", &req.predicate)] {
        if let Some(value) = value {
            change = change.with(field, value.as_str());
        }
    }
    let fields = SegmentChange {
        name: req.name,
        description: req.description,
        predicate: req.predicate,
    };
    let row = api
        .store
        .update_segment(&req.tenant_id, &req.segment_id, &fields, &change)
        .await?;
    Ok(Response::new(pb::UpdateSegmentResponse {
        segment: Some(encode::segment(row)),
    }))
}

pub(super) async fn delete(
    api: &IdentityApi,
    request: Request<pb::DeleteSegmentRequest>,
) -> tonic::Result<Response<pb::DeleteSegmentResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    decode::within_tenant(&req.tenant_id, "segment_id", &req.segment_id)?;
    caller.require_admin(&req.tenant_id)?;
    let change = audited(
        &caller,
        &req.tenant_id,
        "DeleteSegment",
        resource(&req.segment_id),
    );
    api.store
        .delete_segment(&req.tenant_id, &req.segment_id, &change)
        .await?;
    Ok(Response::new(pb::DeleteSegmentResponse {}))
}

pub(super) async fn get(
    api: &IdentityApi,
    request: Request<pb::GetSegmentRequest>,
) -> tonic::Result<Response<pb::GetSegmentResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    decode::within_tenant(&req.tenant_id, "segment_id", &req.segment_id)?;
    caller.require_server(&req.tenant_id)?;
    let row = api.store.segment(&req.tenant_id, &req.segment_id).await?;
    Ok(Response::new(pb::GetSegmentResponse {
        segment: Some(encode::segment(row)),
    }))
}

pub(super) async fn list(
    api: &IdentityApi,
    request: Request<pb::ListSegmentsRequest>,
) -> tonic::Result<Response<pb::ListSegmentsResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    Violations::new().id("tenant_id", &req.tenant_id).finish()?;
    let page = paging::parse(req.page_size, &req.page_token)?;
    caller.require_server(&req.tenant_id)?;
    let rows = api.store.segments(&req.tenant_id, &page).await?;
    let (rows, next_page_token) = page.finish(rows, |s| s.segment_id.as_str());
    Ok(Response::new(pb::ListSegmentsResponse {
        segments: rows.into_iter().map(encode::segment).collect(),
        next_page_token,
    }))
}

pub(super) async fn validate(
    api: &IdentityApi,
    request: Request<pb::ValidateSegmentRequest>,
) -> tonic::Result<Response<pb::ValidateSegmentResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    Violations::new().id("tenant_id", &req.tenant_id).finish()?;
    caller.require_server(&req.tenant_id)?;
    let errors = match segments::compile(&req.predicate) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(encode::expression_error).collect(),
    };
    Ok(Response::new(pb::ValidateSegmentResponse {
        valid: errors.is_empty(),
        errors,
    }))
}

pub(super) async fn evaluate(
    api: &IdentityApi,
    request: Request<pb::EvaluateSegmentRequest>,
) -> tonic::Result<Response<pb::EvaluateSegmentResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    Violations::new()
        .id("tenant_id", &req.tenant_id)
        .id("segment_id", &req.segment_id)
        .id("member_id", &req.member_id)
        .finish()?;
    caller.require_server(&req.tenant_id)?;
    let program = program(api, &req.tenant_id, &req.segment_id).await?;
    let member = api.store.member(&req.tenant_id, &req.member_id).await?;
    let outcome = membership(&program, &member);
    Ok(Response::new(pb::EvaluateSegmentResponse {
        member_in_segment: outcome.is_in(),
        reason: outcome.reason(),
    }))
}

pub(super) async fn list_members(
    api: &IdentityApi,
    request: Request<pb::ListSegmentMembersRequest>,
) -> tonic::Result<Response<pb::ListSegmentMembersResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    decode::within_tenant(&req.tenant_id, "segment_id", &req.segment_id)?;
    let page = paging::parse(req.page_size, &req.page_token)?;
    caller.require_server(&req.tenant_id)?;
    let program = program(api, &req.tenant_id, &req.segment_id).await?;
    let (rows, next_page_token) = api
        .store
        .segment_members(&req.tenant_id, &program, &page)
        .await?;
    Ok(Response::new(pb::ListSegmentMembersResponse {
        members: rows.into_iter().map(encode::member).collect(),
        next_page_token,
    }))
}

/// The stored segment's predicate, parsed.
async fn program(
    api: &IdentityApi,
    tenant_id: &str,
    segment_id: &str,
) -> Result<cel::Program, DomainError> {
    let row = api.store.segment(tenant_id, segment_id).await?;
    // As saved: a check added later must not break a segment in use.
    questline_kit::expr::parse(&row.predicate).map_err(|errors| {
        DomainError::Internal(format!(
            "segment {segment_id} holds an invalid predicate: {}",
            errors[0]
        ))
    })
}

fn resource(segment_id: &str) -> String {
    format!("segments/{segment_id}")
}
