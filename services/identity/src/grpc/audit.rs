//! `ListAuditEntries`: the trail of admin changes from every service.

use questline_kit::paging;
use questline_proto::identity as pb;
use tonic::{Request, Response};

use super::{IdentityApi, decode, encode};

pub(super) async fn list(
    api: &IdentityApi,
    request: Request<pb::ListAuditEntriesRequest>,
) -> tonic::Result<Response<pb::ListAuditEntriesResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let filter = decode::audit_filter(&req)?;
    let page = paging::parse(req.page_size, &req.page_token)?;
    caller.require_admin(&req.tenant_id)?;
    let rows = api
        .store
        .audit_entries(&req.tenant_id, &filter, &page)
        .await?;
    let (rows, next_page_token) = page.finish(rows, |e| e.audit_id.as_str());
    Ok(Response::new(pb::ListAuditEntriesResponse {
        entries: rows.into_iter().map(encode::audit_entry).collect(),
        next_page_token,
    }))
}
