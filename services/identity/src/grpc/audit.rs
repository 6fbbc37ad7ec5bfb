//! `ListAuditEntries`: the trail of admin changes from every service.

use questline_kit::auth::Caller;
use questline_kit::time::from_timestamp;
use questline_kit::{DomainError, Violations, paging};
use questline_proto::identity as proto;

use super::{IdentityApi, pb};
use crate::store::AuditFilter;

impl IdentityApi {
    pub(super) async fn list_audit_entries_for(
        &self,
        caller: &Caller,
        req: proto::ListAuditEntriesRequest,
    ) -> Result<proto::ListAuditEntriesResponse, DomainError> {
        let filter = audit_filter(&req)?;
        let page = paging::parse(req.page_size, &req.page_token)?;
        caller.require_admin(&req.tenant_id)?;
        let rows = self
            .store
            .audit_entries(&req.tenant_id, &filter, &page)
            .await?;
        let (rows, next_page_token) = page.finish(rows, |e| e.audit_id.as_str());
        Ok(proto::ListAuditEntriesResponse {
            entries: rows.into_iter().map(pb::audit_entry).collect(),
            next_page_token,
        })
    }
}

fn audit_filter(req: &proto::ListAuditEntriesRequest) -> Result<AuditFilter, DomainError> {
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id);
    if !req.client_id.is_empty() {
        v.id("client_id", &req.client_id);
    }
    let prefix_ok = req.action_prefix.len() <= 200
        && req
            .action_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '/');
    v.check(
        prefix_ok,
        "action_prefix",
        "must be up to 200 of letters, digits, '.' and '/'",
    );
    let since_ms = req.since.as_ref().map(from_timestamp);
    let until_ms = req.until.as_ref().map(from_timestamp);
    if let (Some(since), Some(until)) = (since_ms, until_ms) {
        v.check(since < until, "until", "must be after since");
    }
    v.finish()?;
    Ok(AuditFilter {
        client_id: req.client_id.clone(),
        action_prefix: req.action_prefix.clone(),
        since_ms,
        until_ms,
    })
}
