//! What the time-trigger sweep reads: the tenants that have rules, and when
//! each member last did something (the engine's own events left out).

use std::collections::HashMap;

use questline_kit::DomainError;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::Store;
use super::entities::{rule_book, tracked_event};
use crate::domain::triggers::PREFIX;

impl Store {
    /// Every tenant with a rule book (one rule ever saved).
    pub async fn tenants_with_rules(&self) -> Result<Vec<String>, DomainError> {
        Ok(rule_book::Entity::find()
            .select_only()
            .column(rule_book::Column::TenantId)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// Each member's latest occurrence time among events of `types` (of any
    /// type a client sends, when empty).
    pub async fn last_activity(
        &self,
        tenant_id: &str,
        types: &[String],
    ) -> Result<HashMap<String, i64>, DomainError> {
        use tracked_event::Column as E;
        let mut query = tracked_event::Entity::find()
            .select_only()
            .column(E::MemberId)
            .column_as(E::OccurredAt.max(), "last")
            .filter(E::TenantId.eq(tenant_id))
            .filter(Expr::col(E::EventType).not_like(format!("{PREFIX}%")))
            .group_by(E::MemberId);
        if !types.is_empty() {
            query = query.filter(E::EventType.is_in(types.iter().map(String::as_str)));
        }
        let rows: Vec<(String, i64)> = query.into_tuple().all(&self.db).await?;
        Ok(rows.into_iter().collect())
    }
}
