//! Segments, and finding their members. Each change is audited and
//! announced (`segment.changed`) in its own transaction.

use cel::Program;
use questline_kit::audit::{self, Change};
use questline_kit::outbox;
use questline_kit::paging::{Page, next_token};
use questline_kit::{DomainError, time::now_ms};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};

use super::entities::{member, segment};
use super::{Store, consent_of, profile_of};
use crate::domain::members;
use crate::domain::segments::{self, Membership};
use crate::events::{self, SOURCE};

/// Members examined per query, and at most per `ListSegmentMembers` call, so
/// a rare segment in a large programme answers in bounded time.
const BATCH: u64 = 500;
const MAX_EXAMINED: usize = 10_000;

/// The fields a segment change may set.
#[derive(Debug, Clone, Default)]
pub struct SegmentChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub predicate: Option<String>,
}

impl Store {
    /// Creates the segment; the same definition again returns it.
    pub async fn create_segment(
        &self,
        row: segment::Model,
        change: &Change,
    ) -> Result<segment::Model, DomainError> {
        let key = (row.tenant_id.clone(), row.segment_id.clone());
        let id = row.segment_id.clone();
        let staged = [change.event(SOURCE), events::segment_changed(&row, false)];
        self.create_once::<segment::Entity>(row, key, same_definition, "segment", &id, &staged)
            .await
    }

    pub async fn update_segment(
        &self,
        tenant_id: &str,
        segment_id: &str,
        fields: &SegmentChange,
        change: &Change,
    ) -> Result<segment::Model, DomainError> {
        let updated = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let current = find(&txn, tenant_id, segment_id).await?;
            let pick = |new: &Option<String>, old: &String| new.clone().unwrap_or(old.clone());
            let next = segment::Model {
                name: pick(&fields.name, &current.name),
                description: pick(&fields.description, &current.description),
                predicate: pick(&fields.predicate, &current.predicate),
                ..current.clone()
            };
            if next == current {
                return Ok((current, false));
            }
            let mut active: segment::ActiveModel = next.into();
            active.updated_at = Set(now_ms());
            let row = active.reset_all().update(&txn).await?;
            audit::stage(&txn, SOURCE, change).await?;
            outbox::stage(&txn, &events::segment_changed(&row, false)).await?;
            txn.commit().await?;
            Ok((row, true))
        })
        .await?;
        Ok(self.relay.woken(updated))
    }

    pub async fn delete_segment(
        &self,
        tenant_id: &str,
        segment_id: &str,
        change: &Change,
    ) -> Result<(), DomainError> {
        questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let gone = find(&txn, tenant_id, segment_id).await?;
            segment::Entity::delete_by_id((tenant_id.to_string(), segment_id.to_string()))
                .exec(&txn)
                .await?;
            audit::stage(&txn, SOURCE, change).await?;
            outbox::stage(&txn, &events::segment_changed(&gone, true)).await?;
            txn.commit().await?;
            Ok(())
        })
        .await?;
        self.relay.wake();
        Ok(())
    }

    pub async fn segment(
        &self,
        tenant_id: &str,
        segment_id: &str,
    ) -> Result<segment::Model, DomainError> {
        find(&self.db, tenant_id, segment_id).await
    }

    /// One page of a tenant's segments by id, fetched for `Page::finish`.
    pub async fn segments(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> Result<Vec<segment::Model>, DomainError> {
        let mut query = segment::Entity::find()
            .filter(segment::Column::TenantId.eq(tenant_id))
            .order_by_asc(segment::Column::SegmentId);
        if let Some(after) = &page.after {
            query = query.filter(segment::Column::SegmentId.gt(after.as_str()));
        }
        Ok(query.limit(page.fetch_limit()).all(&self.db).await?)
    }

    /// Members in the segment of `program`, in joining order, examining at
    /// most `MAX_EXAMINED` members; the token resumes after the last examined.
    pub async fn segment_members(
        &self,
        tenant_id: &str,
        program: &Program,
        page: &Page,
    ) -> Result<(Vec<member::Model>, String), DomainError> {
        let mut after = page.after.clone();
        let mut found = Vec::new();
        let mut examined = 0;
        loop {
            let batch = Page {
                size: BATCH - 1,
                after: after.clone(),
            };
            let rows = self.members(tenant_id, "", &batch).await?;
            let last_batch = (rows.len() as u64) < BATCH;
            let count = rows.len();
            for (i, row) in rows.into_iter().enumerate() {
                examined += 1;
                after = Some(row.member_id.clone());
                if membership(program, &row).is_in() {
                    found.push(row);
                }
                let more = !last_batch || i + 1 < count;
                if found.len() as u64 == page.size || examined >= MAX_EXAMINED {
                    let token = if more {
                        resume_after(&after)
                    } else {
                        String::new()
                    };
                    return Ok((found, token));
                }
            }
            if last_batch {
                return Ok((found, String::new()));
            }
        }
    }
}

fn same_definition(stored: &segment::Model, given: &segment::Model) -> bool {
    stored.name == given.name
        && stored.description == given.description
        && stored.predicate == given.predicate
}

/// Whether a stored member is in the segment of `program`.
pub fn membership(program: &Program, row: &member::Model) -> Membership {
    let facts = members::facts(&profile_of(row), &consent_of(row), row.created_at);
    segments::membership(program, &row.member_id, &row.external_id, &facts)
}

fn resume_after(after: &Option<String>) -> String {
    next_token(0, 1, after.as_deref())
}

async fn find<C: sea_orm::ConnectionTrait>(
    c: &C,
    tenant_id: &str,
    segment_id: &str,
) -> Result<segment::Model, DomainError> {
    segment::Entity::find_by_id((tenant_id.to_string(), segment_id.to_string()))
        .one(c)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("segment {segment_id} not found")))
}
