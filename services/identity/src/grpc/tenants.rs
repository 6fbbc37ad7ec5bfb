//! Tenants: created and listed by the operator, read and changed by their
//! admins; only the operator suspends or reactivates one.

use questline_kit::audit::Change;
use questline_kit::auth::{Caller, Duty};
use questline_kit::time::now_ms;
use questline_kit::{Violations, paging};
use questline_proto::identity as pb;
use tonic::{Request, Response};

use super::{IdentityApi, audited, decode, encode, operator_only};
use crate::domain::tenants::{self, TenantChange, TenantStatus};
use crate::store::entities::tenant;

pub(super) async fn create(
    api: &IdentityApi,
    request: Request<pb::CreateTenantRequest>,
) -> tonic::Result<Response<pb::CreateTenantResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let mut v = Violations::new();
    tenants::validate_tenant_id(&mut v, &req.tenant_id);
    v.text("name", &req.name);
    let time_zone = tenants::time_zone(&mut v, &req.time_zone);
    let default_locale = tenants::locale(&mut v, "default_locale", &req.default_locale);
    v.finish()?;
    operator_only(&caller, "creates tenants")?;
    let now = now_ms();
    let change = audited(
        &caller,
        &req.tenant_id,
        "CreateTenant",
        resource(&req.tenant_id),
    )
    .with("name", req.name.as_str())
    .with("time_zone", time_zone.as_str());
    let draft = tenant::Model {
        tenant_id: req.tenant_id,
        name: req.name,
        time_zone,
        default_locale,
        status: TenantStatus::Active.as_str().into(),
        created_at: now,
        updated_at: now,
    };
    let row = api.store.create_tenant(draft, &change).await?;
    Ok(Response::new(pb::CreateTenantResponse {
        tenant: Some(encode::tenant(row)),
    }))
}

pub(super) async fn get(
    api: &IdentityApi,
    request: Request<pb::GetTenantRequest>,
) -> tonic::Result<Response<pb::GetTenantResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    Violations::new().id("tenant_id", &req.tenant_id).finish()?;
    caller.require_admin_or(&req.tenant_id, &[Duty::ReadTenantZone])?;
    let row = api.store.tenant(&req.tenant_id).await?;
    Ok(Response::new(pb::GetTenantResponse {
        tenant: Some(encode::tenant(row)),
    }))
}

pub(super) async fn list(
    api: &IdentityApi,
    request: Request<pb::ListTenantsRequest>,
) -> tonic::Result<Response<pb::ListTenantsResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let page = paging::parse(req.page_size, &req.page_token)?;
    operator_only(&caller, "lists tenants")?;
    let rows = api.store.tenants(&page).await?;
    let (rows, next_page_token) = page.finish(rows, |t| t.tenant_id.as_str());
    Ok(Response::new(pb::ListTenantsResponse {
        next_page_token,
        tenants: rows.into_iter().map(encode::tenant).collect(),
    }))
}

pub(super) async fn update(
    api: &IdentityApi,
    request: Request<pb::UpdateTenantRequest>,
) -> tonic::Result<Response<pb::UpdateTenantResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let change = decode::tenant_change(&req)?;
    caller.require_admin(&req.tenant_id)?;
    if change.status.is_some() {
        operator_only(&caller, "suspends or reactivates a tenant")?;
    }
    let audit = change_audit(&caller, &req.tenant_id, &change);
    let row = api
        .store
        .update_tenant(&req.tenant_id, &change, &audit)
        .await?;
    Ok(Response::new(pb::UpdateTenantResponse {
        tenant: Some(encode::tenant(row)),
    }))
}

fn resource(tenant_id: &str) -> String {
    format!("tenants/{tenant_id}")
}

/// The audit entry of a tenant update: the settings it sets.
fn change_audit(caller: &Caller, tenant_id: &str, change: &TenantChange) -> Change {
    let mut audit = audited(caller, tenant_id, "UpdateTenant", resource(tenant_id));
    let settings = [
        ("name", &change.name),
        ("time_zone", &change.time_zone),
        ("default_locale", &change.default_locale),
    ];
    for (field, value) in settings {
        if let Some(value) = value {
            audit = audit.with(field, value.as_str());
        }
    }
    if let Some(status) = change.status {
        audit = audit.with("status", status.as_str());
    }
    audit
}
