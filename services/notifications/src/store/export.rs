//! GDPR access: the member's inbox and what notifications knows of them.

use questline_kit::DomainError;
use questline_kit::export::MemberExport;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::Store;
use super::entities::message;

impl Store {
    pub async fn export_member(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<MemberExport, DomainError> {
        let messages = message::Entity::find()
            .filter(message::Column::TenantId.eq(tenant_id))
            .filter(message::Column::MemberId.eq(member_id))
            .order_by_asc(message::Column::MessageId);
        MemberExport::default()
            .table(&self.db, "inbox_messages", messages)
            .await?
            .member_snapshot(&self.db, tenant_id, member_id)
            .await
    }
}
