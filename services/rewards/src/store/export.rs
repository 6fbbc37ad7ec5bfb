//! GDPR access: the member's redemptions (with their voucher codes) and what
//! the catalogue knows of them.

use questline_kit::DomainError;
use questline_kit::export::MemberExport;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::Store;
use super::entities::{redemption, voucher_code};

impl Store {
    pub async fn export_member(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<MemberExport, DomainError> {
        let redemptions = redemption::Entity::find()
            .filter(redemption::Column::TenantId.eq(tenant_id))
            .filter(redemption::Column::MemberId.eq(member_id))
            .order_by_asc(redemption::Column::RedemptionId);
        let ids: Vec<String> = redemptions
            .clone()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| r.redemption_id)
            .collect();
        let vouchers = voucher_code::Entity::find()
            .filter(voucher_code::Column::TenantId.eq(tenant_id))
            .filter(voucher_code::Column::RedemptionId.is_in(ids));
        MemberExport::default()
            .table(&self.db, "redemptions", redemptions)
            .await?
            .table(&self.db, "voucher_codes", vouchers)
            .await?
            .member_snapshot(&self.db, tenant_id, member_id)
            .await
    }
}
