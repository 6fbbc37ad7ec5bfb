//! Tracked events and their awards: recorded together before any point
//! moves, then each award marked with its ledger transfer, then the event
//! marked applied.

use questline_kit::DomainError;
use questline_kit::time::now_ms;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};

use super::Store;
use super::entities::{award, tracked_event};
use crate::domain::track::{Award, EventStatus, Track};

/// An event being tracked, with its awards as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub event: tracked_event::Model,
    pub awards: Vec<award::Model>,
}

impl Store {
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

    /// Records the event, pending, and what it awards, in one transaction,
    /// before any point moves: a crash after this leaves a pending event to resume.
    pub async fn record(&self, track: &Track, awards: &[Award]) -> Result<Tracked, DomainError> {
        let now = now_ms();
        let txn = self.db.begin().await?;
        let event = tracked_event::ActiveModel {
            tenant_id: Set(track.tenant_id.clone()),
            event_id: Set(track.event_id.clone()),
            member_id: Set(track.member_id.clone()),
            event_type: Set(track.event_type.clone()),
            fingerprint: Set(track.fingerprint.clone()),
            status: Set(EventStatus::Pending.as_str().into()),
            occurred_at: Set(track.occurred_at.unwrap_or(now)),
            created_at: Set(now),
        };
        let event = event.insert(&txn).await?;
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
        let applied = EventStatus::Applied.as_str();
        let marked = tracked_event::Entity::update_many()
            .col_expr(tracked_event::Column::Status, Expr::value(applied))
            .filter(tracked_event::Column::TenantId.eq(tenant_id))
            .filter(tracked_event::Column::EventId.eq(event_id))
            .filter(tracked_event::Column::Status.ne(applied))
            .exec(&self.db)
            .await?;
        Ok(marked.rows_affected == 1)
    }
}
