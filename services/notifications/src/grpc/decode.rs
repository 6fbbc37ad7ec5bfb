//! Inbox requests as domain values: every field is checked at once, and what
//! is wrong comes back as field violations.

use questline_kit::paging::{self, Page};
use questline_kit::{DomainError, Violations};
use questline_proto::notifications as pb;

/// The page of the inbox a `ListInbox` asks for, its member's ids checked.
pub fn inbox_page(req: &pb::ListInboxRequest) -> Result<Page, DomainError> {
    Violations::new()
        .id("tenant_id", &req.tenant_id)
        .id("member_id", &req.member_id)
        .finish()?;
    paging::parse(req.page_size, &req.page_token)
}
