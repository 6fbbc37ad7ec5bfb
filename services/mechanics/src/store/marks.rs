//! Marking credited events applied: each award with the ledger transfer
//! that carried it, and the event applied. Events credited together are
//! marked together (`kit::group`), in one transaction.
//!
//! Losing a batch in a crash loses nothing: its events stay pending, and
//! finishing them again credits under the same keys, which the ledger
//! answers with the first transfers. So on PostgreSQL it does not wait for
//! the disk, and goes in one flight (`pipelined`).

use std::collections::{BTreeMap, HashSet};

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
    /// Whether this call marked the event (false: another had).
    type Answer = bool;

    async fn carry_out(&mut self, jobs: Vec<Marks>) -> Vec<Result<bool, DomainError>> {
        let marked = match &mut self.0 {
            Engine::Stepwise(db) => mark(db, &jobs).await,
            Engine::Pipelined(link) => pipelined::mark(link, &jobs).await,
        };
        match marked {
            Ok(mut marked) => jobs
                .iter()
                .map(|m| Ok(marked.remove(&(m.tenant_id.clone(), m.event_id.clone()))))
                .collect(),
            Err(err) => jobs.iter().map(|_| Err(err.clone())).collect(),
        }
    }
}

async fn mark(
    db: &DatabaseConnection,
    jobs: &[Marks],
) -> Result<HashSet<(String, String)>, DomainError> {
    let txn = db.begin().await?;
    carried(&txn, jobs).await?;
    let marked = applied(&txn, jobs).await?;
    txn.commit().await?;
    Ok(marked)
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
/// statement each, read by key); answers those it marked.
async fn applied(
    txn: &DatabaseTransaction,
    jobs: &[Marks],
) -> Result<HashSet<(String, String)>, DomainError> {
    use tracked_event::Column as C;
    let mut by_tenant: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in jobs {
        by_tenant.entry(&m.tenant_id).or_default().push(&m.event_id);
    }
    let applied = EventStatus::Applied.as_str();
    let mut marked = HashSet::new();
    for (tenant_id, events) in by_tenant {
        let rows = tracked_event::Entity::update_many()
            .col_expr(C::Status, Expr::value(applied))
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::EventId.is_in(events))
            .filter(C::Status.ne(applied))
            .exec_with_returning(txn)
            .await?;
        marked.extend(rows.into_iter().map(|e| (e.tenant_id, e.event_id)));
    }
    Ok(marked)
}
