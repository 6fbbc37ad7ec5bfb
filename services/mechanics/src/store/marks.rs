//! Marking credited events applied: each award with the ledger transfer
//! that carried it, and the event applied. Events credited together are
//! marked together (`kit::group`), in one transaction.
//!
//! Losing a batch in a crash loses nothing: its events stay pending, and
//! finishing them again credits under the same keys, which the ledger
//! answers with the first transfers. So on PostgreSQL it does not wait for
//! the disk.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use questline_kit::DomainError;
use questline_kit::group::Batch;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, TransactionTrait,
};

use super::entities::{award, tracked_event};
use super::tracked::Tracked;
use crate::domain::track::EventStatus;

/// Most events marked in one batch.
pub(super) const MOST: usize = 256;

/// One event's marks: (tenant, event) and each award's (rule, transfer).
pub struct Marks {
    tenant_id: String,
    event_id: String,
    transfers: Vec<(String, Option<String>)>,
}

impl Marks {
    pub fn of(tracked: &Tracked) -> Marks {
        Marks {
            tenant_id: tracked.event.tenant_id.clone(),
            event_id: tracked.event.event_id.clone(),
            transfers: tracked
                .awards
                .iter()
                .map(|a| (a.rule_id.clone(), a.transfer_id.clone()))
                .collect(),
        }
    }
}

pub(super) struct Marker {
    pub db: DatabaseConnection,
}

#[async_trait]
impl Batch for Marker {
    type Job = Marks;
    /// Whether this call marked the event (false: another had).
    type Answer = bool;

    async fn carry_out(&mut self, jobs: Vec<Marks>) -> Vec<Result<bool, DomainError>> {
        match self.mark(&jobs).await {
            Ok(answers) => answers.into_iter().map(Ok).collect(),
            Err(err) => jobs.iter().map(|_| Err(err.clone())).collect(),
        }
    }
}

impl Marker {
    async fn mark(&self, jobs: &[Marks]) -> Result<Vec<bool>, DomainError> {
        let txn = self.db.begin().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared("SET LOCAL synchronous_commit = off")
                .await?;
        }
        carried(&txn, jobs).await?;
        let mut marked = applied(&txn, jobs).await?;
        txn.commit().await?;
        let answers = jobs
            .iter()
            .map(|m| marked.remove(&(m.tenant_id.clone(), m.event_id.clone())))
            .collect();
        Ok(answers)
    }
}

/// Every award of the batch gets its transfer: a statement per award, by
/// its key (one statement for all, a CASE over keys, scanned the table).
async fn carried(txn: &DatabaseTransaction, jobs: &[Marks]) -> Result<(), DomainError> {
    use award::Column as C;
    for m in jobs {
        for (rule_id, transfer_id) in &m.transfers {
            award::Entity::update_many()
                .col_expr(C::TransferId, Expr::value(transfer_id.clone()))
                .filter(C::TenantId.eq(m.tenant_id.as_str()))
                .filter(C::EventId.eq(m.event_id.as_str()))
                .filter(C::RuleId.eq(rule_id.as_str()))
                .exec(txn)
                .await?;
        }
    }
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
