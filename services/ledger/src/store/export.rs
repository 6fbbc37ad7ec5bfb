//! GDPR access: the member's wallets, the transfers that moved their points,
//! their holds, and what the ledger knows of them.

use questline_kit::DomainError;
use questline_kit::export::MemberExport;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};

use super::Store;
use super::entities::{account, hold, transfer};
use crate::domain::Owner;

impl Store {
    pub async fn export_member(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<MemberExport, DomainError> {
        let owner = Owner::Member(member_id.into()).key();
        let accounts = account::Entity::find()
            .filter(account::Column::TenantId.eq(tenant_id))
            .filter(account::Column::Owner.eq(owner.as_str()));
        let transfers = transfer::Entity::find()
            .filter(transfer::Column::TenantId.eq(tenant_id))
            .filter(
                Condition::any()
                    .add(transfer::Column::DebitOwner.eq(owner.as_str()))
                    .add(transfer::Column::CreditOwner.eq(owner.as_str())),
            )
            .order_by_asc(transfer::Column::TransferId);
        let holds = hold::Entity::find()
            .filter(hold::Column::TenantId.eq(tenant_id))
            .filter(hold::Column::MemberId.eq(member_id))
            .order_by_asc(hold::Column::HoldId);
        MemberExport::default()
            .table(&self.db, "accounts", accounts)
            .await?
            .table(&self.db, "transfers", transfers)
            .await?
            .table(&self.db, "holds", holds)
            .await?
            .member_snapshot(&self.db, tenant_id, member_id)
            .await
    }
}
