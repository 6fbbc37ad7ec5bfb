//! Rules: created once under their id, listed, and read back for evaluation.

use questline_kit::DomainError;
use questline_kit::audit::{self, Change};
use questline_kit::error::same_or_exists;
use questline_kit::paging::Page;
use questline_kit::time::now_ms;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};

use super::Store;
use super::entities::rule;
use crate::domain::rules::RuleSpec;

impl Store {
    /// Creates a rule; the same rule again is a no-op, a different one under
    /// the same id is refused (rules get new ids, not silent edits).
    pub async fn create_rule(
        &self,
        tenant_id: &str,
        spec: &RuleSpec,
        change: &Change,
    ) -> Result<rule::Model, DomainError> {
        let answer = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let key = (tenant_id.to_string(), spec.rule_id.clone());
            if let Some(stored) = rule::Entity::find_by_id(key).one(&txn).await? {
                let same = spec_of(&stored) == *spec;
                return same_or_exists(stored, same, "rule", &spec.rule_id).map(|r| (r, false));
            }
            let row = rule::ActiveModel {
                tenant_id: Set(tenant_id.into()),
                rule_id: Set(spec.rule_id.clone()),
                name: Set(spec.name.clone()),
                event_type: Set(spec.event_type.clone()),
                condition: Set(spec.condition.clone()),
                points: Set(spec.points.clone()),
                currency: Set(spec.currency.clone()),
                active: Set(true),
                created_at: Set(now_ms()),
            };
            let row = row.insert(&txn).await?;
            audit::stage(&txn, crate::events::SOURCE, change).await?;
            txn.commit().await?;
            Ok((row, true))
        })
        .await?;
        Ok(self.relay.woken(answer))
    }

    pub async fn list_rules(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> Result<Vec<rule::Model>, DomainError> {
        let mut query = rule::Entity::find()
            .filter(rule::Column::TenantId.eq(tenant_id))
            .order_by_asc(rule::Column::RuleId)
            .limit(page.fetch_limit());
        if let Some(after) = &page.after {
            query = query.filter(rule::Column::RuleId.gt(after.as_str()));
        }
        Ok(query.all(&self.db).await?)
    }

    /// The rules an event of `event_type` is evaluated against, oldest first.
    pub async fn active_rules(
        &self,
        tenant_id: &str,
        event_type: &str,
    ) -> Result<Vec<RuleSpec>, DomainError> {
        let rows = rule::Entity::find()
            .filter(rule::Column::TenantId.eq(tenant_id))
            .filter(rule::Column::EventType.eq(event_type))
            .filter(rule::Column::Active.eq(true))
            .order_by_asc(rule::Column::CreatedAt)
            .order_by_asc(rule::Column::RuleId)
            .all(&self.db)
            .await?;
        Ok(rows.iter().map(spec_of).collect())
    }
}

fn spec_of(row: &rule::Model) -> RuleSpec {
    RuleSpec {
        rule_id: row.rule_id.clone(),
        name: row.name.clone(),
        event_type: row.event_type.clone(),
        condition: row.condition.clone(),
        points: row.points.clone(),
        currency: row.currency.clone(),
    }
}
