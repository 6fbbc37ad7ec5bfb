//! GDPR access: the member's redemptions (with their voucher codes) and what
//! the catalogue knows of them.

use questline_kit::DomainError;
use questline_kit::export::MemberExport;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Store;
use super::entities::{redemption, voucher_code};

impl Store {
    pub async fn export_member(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<MemberExport, DomainError> {
        use redemption::Column as R;
        let ids: Vec<String> = redemption::Entity::find()
            .filter(R::TenantId.eq(tenant_id))
            .filter(R::MemberId.eq(member_id))
            .order_by_asc(R::RedemptionId)
            .select_only()
            .column(R::RedemptionId)
            .into_tuple()
            .all(&self.db)
            .await?;
        let vouchers = voucher_code::Entity::find()
            .filter(voucher_code::Column::TenantId.eq(tenant_id))
            .filter(voucher_code::Column::RedemptionId.is_in(ids));
        let columns = [R::TenantId, R::MemberId, R::RedemptionId];
        MemberExport::default()
            .member_rows::<redemption::Entity, _>(
                &self.db,
                "redemptions",
                columns,
                tenant_id,
                member_id,
            )
            .await?
            .table(&self.db, "voucher_codes", vouchers)
            .await?
            .member_snapshot(&self.db, tenant_id, member_id)
            .await
    }
}
