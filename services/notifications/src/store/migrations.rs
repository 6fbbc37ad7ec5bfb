//! Schema of notifications, portable between SQLite and PostgreSQL.

use questline_kit::access::CreateAccessBlocks;
use questline_kit::db::unique_index;
use questline_kit::inbox::CreateInbox;
use questline_kit::members::CreateMemberSnapshots;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string, text};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateInbox),
            Box::new(CreateInboxMessages),
            Box::new(CreateAccessBlocks),
            Box::new(CreateMemberSnapshots),
        ]
    }
}

struct CreateInboxMessages;

impl MigrationName for CreateInboxMessages {
    fn name(&self) -> &str {
        "m0001_create_inbox_messages"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateInboxMessages {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("inbox_messages")
                .col(string("message_id").primary_key())
                .col(string("tenant_id"))
                .col(string("member_id"))
                .col(string("event_id"))
                .col(string("event_type"))
                .col(text("title"))
                .col(text("body"))
                .col(big_integer("created_at"))
                .to_owned(),
        )
        .await?;
        // A second guard behind the consumer inbox: one message per event.
        unique_index(
            m,
            "inbox_messages_event",
            "inbox_messages",
            &["tenant_id", "event_id"],
        )
        .await?;
        m.create_index(
            Index::create()
                .name("inbox_messages_member")
                .table("inbox_messages")
                .col("tenant_id")
                .col("member_id")
                .col("message_id")
                .to_owned(),
        )
        .await
    }
}
