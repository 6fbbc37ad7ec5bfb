//! GDPR access: the member's tracked events, the points rules awarded them,
//! the traits rules set on them, their counters, and what the rules engine
//! knows of them.

use questline_kit::DomainError;
use questline_kit::export::MemberExport;

use super::Store;
use super::entities::{award, member_counter, member_trait, tracked_event};

impl Store {
    pub async fn export_member(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<MemberExport, DomainError> {
        use award::Column as A;
        use member_counter::Column as C;
        use member_trait::Column as T;
        use tracked_event::Column as E;
        MemberExport::default()
            .member_rows::<tracked_event::Entity, _>(
                &self.db,
                "tracked_events",
                [E::TenantId, E::MemberId, E::CreatedAt],
                tenant_id,
                member_id,
            )
            .await?
            .member_rows::<award::Entity, _>(
                &self.db,
                "awards",
                [A::TenantId, A::MemberId, A::EventId],
                tenant_id,
                member_id,
            )
            .await?
            .member_rows::<member_trait::Entity, _>(
                &self.db,
                "member_traits",
                [T::TenantId, T::MemberId, T::Name],
                tenant_id,
                member_id,
            )
            .await?
            .member_rows::<member_counter::Entity, _>(
                &self.db,
                "member_counters",
                [C::TenantId, C::MemberId, C::CounterId],
                tenant_id,
                member_id,
            )
            .await?
            .member_snapshot(&self.db, tenant_id, member_id)
            .await
    }
}
