//! GDPR access: the member's wallets and their lots, the transfers and legs
//! that moved their points, their holds, and what the ledger knows of them.

use questline_kit::DomainError;
use questline_kit::export::MemberExport;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};

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
        let legs = leg::Entity::find()
            .filter(leg::Column::TenantId.eq(tenant_id))
            .filter(
                Condition::any()
                    .add(leg::Column::DebitOwner.eq(owner.as_str()))
                    .add(leg::Column::CreditOwner.eq(owner.as_str())),
            )
            .order_by_asc(leg::Column::TransferId)
            .order_by_asc(leg::Column::Leg);
        let wallet_ids = self
            .column_of(accounts.clone(), account::Column::AccountId)
            .await?;
        let transfer_ids = self
            .column_of(legs.clone(), leg::Column::TransferId)
            .await?;
        let transfers = transfer::Entity::find()
            .filter(transfer::Column::TransferId.is_in(transfer_ids))
            .order_by_asc(transfer::Column::TransferId);
        let lots = lot::Entity::find()
            .filter(lot::Column::AccountId.is_in(wallet_ids))
            .order_by_asc(lot::Column::LotId);
        let holds = [
            hold::Column::TenantId,
            hold::Column::MemberId,
            hold::Column::HoldId,
        ];
        MemberExport::default()
            .table(&self.db, "accounts", accounts)
            .await?
            .table(&self.db, "lots", lots)
            .await?
            .table(&self.db, "transfers", transfers)
            .await?
            .table(&self.db, "transfer_legs", legs)
            .await?
            .member_rows::<hold::Entity, _>(&self.db, "holds", holds, tenant_id, member_id)
            .await?
            .member_snapshot(&self.db, tenant_id, member_id)
            .await
    }

    /// The text `column` of every row `select` finds.
    async fn column_of<E: EntityTrait>(
        &self,
        select: Select<E>,
        column: E::Column,
    ) -> Result<Vec<String>, DomainError> {
        let values = select
            .select_only()
            .column(column)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(values)
    }
}
