//! The rules engine's storage.

pub mod entities;
mod export;
pub mod migrations;

use questline_kit::audit::{self, Change};
use questline_kit::paging::Page;
use questline_kit::time::now_ms;
use questline_kit::{DomainError, outbox};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use crate::domain::rules::RuleSpec;
use crate::domain::track::Award;
use entities::{award, rule, tracked_event};

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    relay: outbox::Relay,
}

/// An event being tracked, with its awards as recorded.
pub struct Tracked {
    pub event: tracked_event::Model,
    pub awards: Vec<award::Model>,
}

pub const APPLIED: &str = "applied";
const PENDING: &str = "pending";

impl Store {
    pub fn new(db: DatabaseConnection, relay: outbox::Relay) -> Store {
        Store { db, relay }
    }

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
            if let Some(existing) = rule::Entity::find_by_id(key).one(&txn).await? {
                return if spec_of(&existing) == *spec {
                    Ok((existing, false))
                } else {
                    Err(DomainError::AlreadyExists(format!(
                        "rule {} already exists with other content",
                        spec.rule_id
                    )))
                };
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

    pub async fn tracked(
        &self,
        tenant_id: &str,
        event_id: &str,
    ) -> Result<Option<Tracked>, DomainError> {
        let key = (tenant_id.to_string(), event_id.to_string());
        let Some(event) = tracked_event::Entity::find_by_id(key).one(&self.db).await? else {
            return Ok(None);
        };
        let awards = award::Entity::find()
            .filter(award::Column::TenantId.eq(tenant_id))
            .filter(award::Column::EventId.eq(event_id))
            .order_by_asc(award::Column::RuleId)
            .all(&self.db)
            .await?;
        Ok(Some(Tracked { event, awards }))
    }

    /// Records the event and what it awards, in one transaction, before any
    /// point moves: a crash after this leaves a pending event to resume.
    pub async fn record(
        &self,
        event: tracked_event::Model,
        awards: &[Award],
    ) -> Result<Tracked, DomainError> {
        let txn = self.db.begin().await?;
        let event_row: tracked_event::ActiveModel = tracked_event::Model {
            status: PENDING.into(),
            ..event.clone()
        }
        .into();
        let event = event_row.insert(&txn).await?;
        let mut rows = Vec::with_capacity(awards.len());
        for a in awards {
            let row = award::ActiveModel {
                tenant_id: Set(event.tenant_id.clone()),
                event_id: Set(event.event_id.clone()),
                rule_id: Set(a.rule_id.clone()),
                rule_name: Set(a.rule_name.clone()),
                member_id: Set(event.member_id.clone()),
                currency: Set(a.currency.clone()),
                points: Set(a.points),
                transfer_id: Set(None),
            };
            rows.push(row.insert(&txn).await?);
        }
        txn.commit().await?;
        rows.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
        Ok(Tracked {
            event,
            awards: rows,
        })
    }

    pub async fn award_applied(
        &self,
        a: &award::Model,
        transfer_id: &str,
    ) -> Result<(), DomainError> {
        award::Entity::update_many()
            .col_expr(award::Column::TransferId, Expr::value(transfer_id))
            .filter(award::Column::TenantId.eq(a.tenant_id.as_str()))
            .filter(award::Column::EventId.eq(a.event_id.as_str()))
            .filter(award::Column::RuleId.eq(a.rule_id.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Marks the event applied; false when a concurrent call already had.
    pub async fn event_applied(
        &self,
        tenant_id: &str,
        event_id: &str,
    ) -> Result<bool, DomainError> {
        let marked = tracked_event::Entity::update_many()
            .col_expr(tracked_event::Column::Status, Expr::value(APPLIED))
            .filter(tracked_event::Column::TenantId.eq(tenant_id))
            .filter(tracked_event::Column::EventId.eq(event_id))
            .filter(tracked_event::Column::Status.ne(APPLIED))
            .exec(&self.db)
            .await?;
        Ok(marked.rows_affected == 1)
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
