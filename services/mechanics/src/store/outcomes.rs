//! The rows a batch of settled events writes (`recorder`), gathered in
//! memory first, then written in the batch's transaction: by sea-orm here
//! (SQLite), or in one flight (`pipelined::record`).

use std::collections::BTreeMap;

use questline_kit::{DomainError, outbox};
use questline_proto::events::Event;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

use super::entities::{award, member_counter, member_trait, tracked_event};
use super::tracked::{self, UsageRow};
use crate::domain::rules::limits::Used;

/// (tenant, member, kind, name) of a trait.
pub(super) type TraitKey = (String, String, String, String);
/// (tenant, member, counter, bucket) of a counter's bucket.
pub(super) type BucketKey = (String, String, String, String);
/// (tenant, member, counter) whose buckets older than one are deleted.
pub(super) type CounterKey = (String, String, String);

#[derive(Default)]
pub(super) struct Outcomes {
    /// What the batch adds to each usage row it locked.
    pub usage: BTreeMap<UsageRow, Used>,
    /// The last value the batch gives each trait, with when.
    pub traits: BTreeMap<TraitKey, (String, i64)>,
    pub messages: Vec<Event>,
    /// What the batch adds to each bucket (an upsert may touch a row once).
    pub counters: BTreeMap<BucketKey, f64>,
    /// The oldest bucket each counter keeps.
    pub oldest: BTreeMap<CounterKey, String>,
    pub awards: Vec<award::Model>,
    pub events: Vec<tracked_event::Model>,
}

impl Outcomes {
    /// Writes every row with sea-orm, in `txn`.
    pub async fn write(&self, txn: &DatabaseTransaction) -> Result<(), DomainError> {
        for (row, delta) in &self.usage {
            tracked::add_usage(txn, row, *delta).await?;
        }
        self.keep_traits(txn).await?;
        outbox::stage_all(txn, &self.messages).await?;
        self.add_counters(txn).await?;
        if !self.awards.is_empty() {
            let awards = self.awards.iter().cloned().map(award::ActiveModel::from);
            award::Entity::insert_many(awards).exec(txn).await?;
        }
        if !self.events.is_empty() {
            let events = self.events.iter().cloned();
            let events = events.map(tracked_event::ActiveModel::from);
            tracked_event::Entity::insert_many(events).exec(txn).await?;
        }
        Ok(())
    }

    async fn keep_traits(&self, txn: &DatabaseTransaction) -> Result<(), DomainError> {
        use member_trait::Column as C;
        let upsert = OnConflict::columns([C::TenantId, C::MemberId, C::Kind, C::Name])
            .update_columns([C::Value, C::UpdatedAt])
            .to_owned();
        for ((tenant_id, member_id, kind, name), (value, at)) in &self.traits {
            let row = member_trait::ActiveModel {
                tenant_id: Set(tenant_id.clone()),
                member_id: Set(member_id.clone()),
                kind: Set(kind.clone()),
                name: Set(name.clone()),
                value: Set(value.clone()),
                updated_at: Set(*at),
            };
            member_trait::Entity::insert(row)
                .on_conflict(upsert.clone())
                .exec(txn)
                .await?;
        }
        Ok(())
    }

    async fn add_counters(&self, txn: &DatabaseTransaction) -> Result<(), DomainError> {
        use member_counter::Column as C;
        if !self.counters.is_empty() {
            let rows =
                self.counters
                    .iter()
                    .map(|((t, m, c, b), value)| member_counter::ActiveModel {
                        tenant_id: Set(t.clone()),
                        member_id: Set(m.clone()),
                        counter_id: Set(c.clone()),
                        bucket: Set(b.clone()),
                        value: Set(*value),
                    });
            let excluded = Expr::col((Alias::new("excluded"), C::Value));
            member_counter::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([C::TenantId, C::MemberId, C::CounterId, C::Bucket])
                        .value(
                            C::Value,
                            Expr::col((member_counter::Entity, C::Value)).add(excluded),
                        )
                        .to_owned(),
                )
                .exec(txn)
                .await?;
        }
        for ((tenant_id, member_id, counter_id), oldest) in &self.oldest {
            member_counter::Entity::delete_many()
                .filter(C::TenantId.eq(tenant_id.as_str()))
                .filter(C::MemberId.eq(member_id.as_str()))
                .filter(C::CounterId.eq(counter_id.as_str()))
                .filter(C::Bucket.lt(oldest.as_str()))
                .exec(txn)
                .await?;
        }
        Ok(())
    }
}
