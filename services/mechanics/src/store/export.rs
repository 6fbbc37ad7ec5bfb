//! GDPR access: the member's tracked events, the points rules awarded them,
//! and what the rules engine knows of them.

use questline_kit::DomainError;
use questline_kit::export::MemberExport;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::Store;
use super::entities::{award, tracked_event};

impl Store {
    pub async fn export_member(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<MemberExport, DomainError> {
        let events = tracked_event::Entity::find()
            .filter(tracked_event::Column::TenantId.eq(tenant_id))
            .filter(tracked_event::Column::MemberId.eq(member_id))
            .order_by_asc(tracked_event::Column::CreatedAt);
        let awards = award::Entity::find()
            .filter(award::Column::TenantId.eq(tenant_id))
            .filter(award::Column::MemberId.eq(member_id))
            .order_by_asc(award::Column::EventId);
        MemberExport::default()
            .table(&self.db, "tracked_events", events)
            .await?
            .table(&self.db, "awards", awards)
            .await?
            .member_snapshot(&self.db, tenant_id, member_id)
            .await
    }
}
