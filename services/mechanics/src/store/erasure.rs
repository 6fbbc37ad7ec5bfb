//! Erasure: when identity erases a member, the rules engine forgets what it
//! holds about them — the traits rules set, their counters, their caps usage, and what
//! their stored events carried. The events' ids stay (a replay must not
//! award again) and so do their awards (the ledger's books keep theirs).

use questline_kit::DomainError;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

use super::Store;
use super::entities::{member_counter, member_trait, rule_usage, tracked_event};

impl Store {
    pub async fn forget(&self, tenant_id: &str, member_id: &str) -> Result<(), DomainError> {
        let txn = self.db.begin().await?;
        member_trait::Entity::delete_many()
            .filter(member_trait::Column::TenantId.eq(tenant_id))
            .filter(member_trait::Column::MemberId.eq(member_id))
            .exec(&txn)
            .await?;
        member_counter::Entity::delete_many()
            .filter(member_counter::Column::TenantId.eq(tenant_id))
            .filter(member_counter::Column::MemberId.eq(member_id))
            .exec(&txn)
            .await?;
        rule_usage::Entity::delete_many()
            .filter(rule_usage::Column::TenantId.eq(tenant_id))
            .filter(rule_usage::Column::Holder.eq(format!("member:{member_id}")))
            .exec(&txn)
            .await?;
        tracked_event::Entity::update_many()
            .col_expr(tracked_event::Column::Attributes, Expr::value("{}"))
            .col_expr(tracked_event::Column::Verdicts, Expr::value("[]"))
            .filter(tracked_event::Column::TenantId.eq(tenant_id))
            .filter(tracked_event::Column::MemberId.eq(member_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}
