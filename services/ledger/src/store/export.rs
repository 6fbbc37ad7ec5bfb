//! GDPR access: the member's wallets and their lots, the transfers and legs
//! that moved their points, their holds, and what the ledger knows of them.

use questline_kit::DomainError;
use questline_kit::export::MemberExport;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Store;
use super::entities::{account, hold, leg, lot, transfer};
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
        let wallet_ids: Vec<String> = accounts
            .clone()
            .select_only()
            .column(account::Column::AccountId)
            .into_tuple()
            .all(&self.db)
            .await?;
        let legs = leg::Entity::find()
            .filter(leg::Column::TenantId.eq(tenant_id))
            .filter(
                Condition::any()
                    .add(leg::Column::DebitOwner.eq(owner.as_str()))
                    .add(leg::Column::CreditOwner.eq(owner.as_str())),
            )
            .order_by_asc(leg::Column::TransferId)
            .order_by_asc(leg::Column::Leg);
        let transfer_ids: Vec<String> = legs
            .clone()
            .select_only()
            .column(leg::Column::TransferId)
            .into_tuple()
            .all(&self.db)
            .await?;
        let transfers = transfer::Entity::find()
            .filter(transfer::Column::TransferId.is_in(transfer_ids))
            .order_by_asc(transfer::Column::TransferId);
        let lots = lot::Entity::find()
            .filter(lot::Column::AccountId.is_in(wallet_ids))
            .order_by_asc(lot::Column::LotId);
        let holds = hold::Entity::find()
            .filter(hold::Column::TenantId.eq(tenant_id))
            .filter(hold::Column::MemberId.eq(member_id))
            .order_by_asc(hold::Column::HoldId);
        MemberExport::default()
            .table(&self.db, "accounts", accounts)
            .await?
            .table(&self.db, "lots", lots)
            .await?
            .table(&self.db, "transfers", transfers)
            .await?
            .table(&self.db, "transfer_legs", legs)
            .await?
            .table(&self.db, "holds", holds)
            .await?
            .member_snapshot(&self.db, tenant_id, member_id)
            .await
    }
}
