//! GDPR access: the member's inbox, emails, push and SMS, preferences,
//! and what notifications knows of them.

use questline_kit::DomainError;
use questline_kit::export::MemberExport;

use super::Store;
use super::entities::{delivery, dispatch, message, preference};

impl Store {
    pub async fn export_member(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<MemberExport, DomainError> {
        use delivery::Column as D;
        use dispatch::Column as P;
        use message::Column as M;
        use preference::Column as R;
        let columns = [M::TenantId, M::MemberId, M::MessageId];
        MemberExport::default()
            .member_rows::<message::Entity, _>(
                &self.db,
                "inbox_messages",
                columns,
                tenant_id,
                member_id,
            )
            .await?
            .member_rows::<delivery::Entity, _>(
                &self.db,
                "webhook_deliveries",
                [D::TenantId, D::MemberId, D::DeliveryId],
                tenant_id,
                member_id,
            )
            .await?
            .member_rows::<dispatch::Entity, _>(
                &self.db,
                "dispatches",
                [P::TenantId, P::MemberId, P::DispatchId],
                tenant_id,
                member_id,
            )
            .await?
            .member_rows::<preference::Entity, _>(
                &self.db,
                "message_preferences",
                [R::TenantId, R::MemberId, R::MemberId],
                tenant_id,
                member_id,
            )
            .await?
            .member_snapshot(&self.db, tenant_id, member_id)
            .await
    }
}
