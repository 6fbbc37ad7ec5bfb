//! Marking credited events applied: each award with the ledger transfer
//! that carried it, and the event applied. Marks are handed over once the
//! ledger has answered (Track does not wait for them) and gathered for
//! `GATHER` into one transaction (`kit::group`).
//!
//! Losing marks in a crash or a failed batch loses nothing: the events stay
//! pending, and finishing them again (a replay, or `flow::recovery`)
//! credits under the same keys, which the ledger answers with the first
//! transfers. So on PostgreSQL they do not wait for the disk, and go in one
//! flight (`pipelined`).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use questline_kit::DomainError;
use questline_kit::group::Batch;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, IntoActiveModel,
    QueryFilter, TransactionTrait,
};

use super::entities::{award, tracked_event};
use super::pipelined::{self, Engine};
use super::tracked::Tracked;
use crate::domain::track::EventStatus;

/// Most events marked in one batch.
pub(super) const MOST: usize = 256;
/// How long a batch of marks gathers: the time a replay may find a
/// credited event still pending (it asks the ledger again, which answers
/// the first transfers).
pub(super) const GATHER: Duration = Duration::from_millis(50);

/// One event's marks: (tenant, event) and its awards, each with its transfer.
pub struct Marks {
    pub(super) tenant_id: String,
    pub(super) event_id: String,
    awards: Vec<award::Model>,
}

impl Marks {
    pub fn of(tracked: &Tracked) -> Marks {
        Marks {
            tenant_id: tracked.event.tenant_id.clone(),
            event_id: tracked.event.event_id.clone(),
            awards: tracked.awards.clone(),
        }
    }
}

pub(super) struct Marker(pub Engine);

#[async_trait]
impl Batch for Marker {
    type Job = Marks;
    type Answer = ();

    async fn carry_out(&mut self, jobs: Vec<Marks>) -> Vec<Result<(), DomainError>> {
        let marked = match &mut self.0 {
            Engine::Stepwise(db) => mark(db, &jobs).await,
            Engine::Pipelined(link) => pipelined::mark(link, &jobs).await,
        };
        if let Err(err) = &marked {
            tracing::warn!(events = jobs.len(), error = %err, "marks not written: the events stay pending until finished again");
        }
        jobs.iter().map(|_| marked.clone()).collect()
    }
}

async fn mark(db: &DatabaseConnection, jobs: &[Marks]) -> Result<(), DomainError> {
    let txn = db.begin().await?;
    carried(&txn, jobs).await?;
    applied(&txn, jobs).await?;
    txn.commit().await?;
    Ok(())
}

/// Every award of the batch that reached the ledger, each once: an award
/// twice in the batch (a replay racing its first call) got the same
/// transfer both times.
pub(super) fn carried_awards(jobs: &[Marks]) -> Vec<&award::Model> {
    let rows: BTreeMap<(&str, &str, &str), &award::Model> = jobs
        .iter()
        .flat_map(|m| &m.awards)
        .filter(|a| a.transfer_id.is_some())
        .map(|a| {
            let key = (
                a.tenant_id.as_str(),
                a.event_id.as_str(),
                a.rule_id.as_str(),
            );
            (key, a)
        })
        .collect();
    rows.into_values().collect()
}

/// Every award of the batch gets its transfer, in one statement: the award
/// rows exist, so the upsert always takes its update path, by primary key
/// (an `UPDATE … CASE` over keys scanned the table).
async fn carried(txn: &DatabaseTransaction, jobs: &[Marks]) -> Result<(), DomainError> {
    use award::Column as C;
    let rows = carried_awards(jobs);
    if rows.is_empty() {
        return Ok(());
    }
    let rows = rows.into_iter().map(|a| a.clone().into_active_model());
    award::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([C::TenantId, C::EventId, C::RuleId])
                .update_column(C::TransferId)
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// The events of the batch still pending, marked applied, by tenant (one
/// statement each, read by key).
async fn applied(txn: &DatabaseTransaction, jobs: &[Marks]) -> Result<(), DomainError> {
    use tracked_event::Column as C;
    let mut by_tenant: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in jobs {
        by_tenant.entry(&m.tenant_id).or_default().push(&m.event_id);
    }
    let applied = EventStatus::Applied.as_str();
    for (tenant_id, events) in by_tenant {
        tracked_event::Entity::update_many()
            .col_expr(C::Status, Expr::value(applied))
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::EventId.is_in(events))
            .filter(C::Status.ne(applied))
            .exec(txn)
            .await?;
    }
    Ok(())
}
