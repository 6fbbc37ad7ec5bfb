//! Stored events read back for a backtest: in occurrence order, a page at a
//! time; what the live rules awarded for them; and every member as the
//! rules see them.

use std::collections::{BTreeMap, HashMap};

use questline_kit::DomainError;
use questline_kit::members::{MemberSnapshot, entity as snapshot};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::Store;
use super::entities::{award, tracked_event};
use crate::domain::backtest::{MemberView, Replay, Report, StoredEvent};
use crate::domain::book::RuleBook;
use crate::domain::counters;
use crate::domain::track::{self, Standing};

/// Where a page of stored events starts: after this (time, event id).
#[derive(Debug, Clone, Default)]
struct After {
    at_ms: i64,
    event_id: String,
}

/// Stored events read per page (and per progress report).
const PAGE: u64 = 10_000;

/// A finished backtest: the replay's report, and what the live rules
/// awarded per currency for the same events.
pub struct Replayed {
    pub report: Report,
    pub live: BTreeMap<String, i64>,
}

impl Store {
    /// Replays the tenant's events in `range` through `book`, oldest first,
    /// telling `progress` (replayed, total) after each page; it answers
    /// false to stop (the caller left), and then there is no report.
    pub async fn replay(
        &self,
        tenant_id: &str,
        book: &RuleBook,
        range: (i64, i64),
        sample_size: usize,
        mut progress: impl FnMut(i64, i64) -> bool,
    ) -> Result<Option<Replayed>, DomainError> {
        let total = self.count_events(tenant_id, range).await?;
        let live = self.rule_book(tenant_id).await?;
        let reads_segments = book
            .rules
            .iter()
            .any(|r| r.versions.values().any(|v| v.uses_segments));
        let members = self.member_views(tenant_id, &live, reads_segments).await?;
        let unknown = MemberView {
            facts: questline_kit::expr::value(&serde_json::json!({})),
            dates: Default::default(),
        };
        let mut replay = Replay::new(book, sample_size);
        let first = After {
            at_ms: range.0.saturating_sub(1),
            event_id: String::new(),
        };
        // The next page is read while this one is judged.
        let mut next = self.fetch(tenant_id, first, range.1);
        loop {
            let page = next.await.map_err(DomainError::internal)??;
            let Some(last) = page.last() else {
                break;
            };
            let after = After {
                at_ms: last.at_ms,
                event_id: last.event_id.clone(),
            };
            next = self.fetch(tenant_id, after, range.1);
            replay.replay_page(&page, |id| members.get(id).unwrap_or(&unknown));
            if !progress(replay.replayed(), total) {
                next.abort();
                return Ok(None);
            }
        }
        let live = self.live_points(tenant_id, range).await?;
        Ok(Some(Replayed {
            report: replay.finish(),
            live,
        }))
    }

    fn fetch(
        &self,
        tenant_id: &str,
        after: After,
        end: i64,
    ) -> tokio::task::JoinHandle<Result<Vec<StoredEvent>, DomainError>> {
        let (store, tenant_id) = (self.clone(), tenant_id.to_string());
        tokio::spawn(async move { store.events_page(&tenant_id, &after, end, PAGE).await })
    }

    pub async fn count_events(
        &self,
        tenant_id: &str,
        (start, end): (i64, i64),
    ) -> Result<i64, DomainError> {
        let count = tracked_event::Entity::find()
            .filter(in_range(tenant_id, start, end))
            .count(&self.db)
            .await?;
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }

    /// Up to `limit` events after `after`, before `end`, oldest first:
    /// a range scan of the (tenant, time, event id) index.
    async fn events_page(
        &self,
        tenant_id: &str,
        after: &After,
        end: i64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, DomainError> {
        use tracked_event::Column as E;
        let key = Expr::tuple([Expr::col(E::OccurredAt), Expr::col(E::EventId)]);
        let from = Expr::tuple([
            Expr::value(after.at_ms),
            Expr::value(after.event_id.clone()),
        ]);
        let rows: Vec<(String, String, String, i64, String)> = tracked_event::Entity::find()
            .select_only()
            .columns([
                E::EventId,
                E::MemberId,
                E::EventType,
                E::OccurredAt,
                E::Attributes,
            ])
            .filter(E::TenantId.eq(tenant_id))
            .filter(key.gt(from))
            .filter(E::OccurredAt.lt(end))
            .order_by_asc(E::OccurredAt)
            .order_by_asc(E::EventId)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.into_iter().map(stored_event).collect()
    }

    /// Currency → points the live rules awarded for the events in range.
    pub async fn live_points(
        &self,
        tenant_id: &str,
        (start, end): (i64, i64),
    ) -> Result<BTreeMap<String, i64>, DomainError> {
        use award::Column as A;
        let events = Query::select()
            .column(tracked_event::Column::EventId)
            .from(tracked_event::Entity)
            .cond_where(in_range(tenant_id, start, end))
            .to_owned();
        let rows: Vec<(String, i64)> = award::Entity::find()
            .select_only()
            .column(A::Currency)
            .column_as(Expr::col(A::Points).sum().cast_as("BIGINT"), "points")
            .filter(A::TenantId.eq(tenant_id))
            .filter(A::EventId.in_subquery(events))
            .group_by(A::Currency)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Every member of the tenant as the rules see them now (erased ones
    /// left out), with the traits rules set, and their counters and
    /// segments now (from `book`, the live one); segments are evaluated only
    /// when a replayed rule `reads_segments`, as Track does.
    pub async fn member_views(
        &self,
        tenant_id: &str,
        book: &RuleBook,
        reads_segments: bool,
    ) -> Result<HashMap<String, MemberView>, DomainError> {
        let mut buckets = if book.counters.is_empty() {
            HashMap::new()
        } else {
            self.buckets_by_member(tenant_id, None).await?
        };
        let now = questline_kit::time::now_ms();
        let mut traits = self.traits_by_member(tenant_id, None).await?;
        self.members_now(tenant_id)
            .await?
            .into_iter()
            .map(|member| {
                let kept = buckets.remove(&member.member_id).unwrap_or_default();
                let standing = Standing {
                    traits: traits.remove(&member.member_id).unwrap_or_default(),
                    counters: counters::values(&book.counters, &kept, now),
                    segments: if reads_segments {
                        track::segments_of(&book.segments, &member)
                    } else {
                        vec![]
                    },
                };
                let facts = track::member_facts(&member, standing);
                let view = MemberView {
                    dates: track::member_dates(&member.facts),
                    facts: questline_kit::expr::value(&facts),
                };
                Ok((member.member_id, view))
            })
            .collect()
    }
}

impl Store {
    /// Every member of the tenant the read model holds, erased ones left out.
    pub async fn members_now(&self, tenant_id: &str) -> Result<Vec<MemberSnapshot>, DomainError> {
        let rows = snapshot::Entity::find()
            .filter(snapshot::Column::TenantId.eq(tenant_id))
            .filter(snapshot::Column::Erased.eq(false))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| MemberSnapshot {
                member_id: row.member_id,
                external_id: row.external_id,
                facts: serde_json::from_str(&row.facts).unwrap_or_default(),
            })
            .collect())
    }
}

fn in_range(tenant_id: &str, start: i64, end: i64) -> Condition {
    use tracked_event::Column as E;
    Condition::all()
        .add(E::TenantId.eq(tenant_id))
        .add(E::OccurredAt.gte(start))
        .add(E::OccurredAt.lt(end))
}

/// A row of `events_page`: (event id, member id, type, time, attributes).
fn stored_event(
    (event_id, member_id, event_type, at_ms, attributes): (String, String, String, i64, String),
) -> Result<StoredEvent, DomainError> {
    let attributes = serde_json::from_str(&attributes).map_err(DomainError::internal)?;
    Ok(StoredEvent {
        facts: track::event_facts(&event_type, &event_id, attributes),
        event_id,
        member_id,
        event_type,
        at_ms,
    })
}
