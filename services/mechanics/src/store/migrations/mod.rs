//! Schema of the rules engine, portable between SQLite and PostgreSQL.

use questline_kit::access::CreateAccessBlocks;
use questline_kit::inbox::CreateInbox;
use questline_kit::members::{CreateMemberSnapshots, IndexMemberExternalIds};
use questline_kit::outbox::{AddOutboxSubject, CreateOutbox, IndexUnpublishedOutbox};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean, string, string_null, text};

mod counters;
mod event_schemas;
mod recovery;
mod rules_engine;
mod segments;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutbox),
            Box::new(CreateInbox),
            Box::new(CreateMemberSnapshots),
            Box::new(CreateMechanics),
            Box::new(CreateAccessBlocks),
            Box::new(AddOutboxSubject),
            Box::new(rules_engine::RulesEngine),
            Box::new(recovery::PendingEvents),
            Box::new(event_schemas::EventSchemas),
            Box::new(counters::Counters),
            Box::new(segments::Segments),
            Box::new(IndexMemberExternalIds),
            Box::new(IndexUnpublishedOutbox),
        ]
    }
}

struct CreateMechanics;

impl MigrationName for CreateMechanics {
    fn name(&self) -> &str {
        "m0001_create_mechanics"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateMechanics {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("rules")
                .col(string("tenant_id"))
                .col(string("rule_id"))
                .col(string("name"))
                .col(string("event_type"))
                .col(text("condition"))
                .col(text("points"))
                .col(string("currency"))
                .col(boolean("active"))
                .col(big_integer("created_at"))
                .primary_key(Index::create().col("tenant_id").col("rule_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("tracked_events")
                .col(string("tenant_id"))
                .col(string("event_id"))
                .col(string("member_id"))
                .col(string("event_type"))
                .col(string("fingerprint"))
                .col(string("status"))
                .col(big_integer("occurred_at"))
                .col(big_integer("created_at"))
                .primary_key(Index::create().col("tenant_id").col("event_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("awards")
                .col(string("tenant_id"))
                .col(string("event_id"))
                .col(string("rule_id"))
                .col(string("rule_name"))
                .col(string("member_id"))
                .col(string("currency"))
                .col(big_integer("points"))
                .col(string_null("transfer_id"))
                .primary_key(
                    Index::create()
                        .col("tenant_id")
                        .col("event_id")
                        .col("rule_id"),
                )
                .to_owned(),
        )
        .await
    }
}
