//! Schema of notifications, portable between SQLite and PostgreSQL.

use questline_kit::access::CreateAccessBlocks;
use questline_kit::db::{add_column, index, unique_index};
use questline_kit::inbox::CreateInbox;
use questline_kit::members::CreateMemberSnapshots;
use questline_kit::outbox::{AddOutboxSubject, CreateOutbox, IndexUnpublishedOutbox};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean, integer, string, text};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateInbox),
            Box::new(CreateInboxMessages),
            Box::new(CreateAccessBlocks),
            Box::new(CreateMemberSnapshots),
            Box::new(CreateWebhooks),
            // Admin changes to webhooks are audited (`audit.recorded`).
            Box::new(CreateOutbox),
            Box::new(AddOutboxSubject),
            Box::new(IndexUnpublishedOutbox),
            Box::new(CreateProgrammes),
            Box::new(AddInboxReadAt),
            Box::new(GuardTemplates),
            Box::new(CreateCaps),
            Box::new(CreateDispatches),
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

/// Webhook endpoints, their deliveries, and every attempt.
struct CreateWebhooks;

impl MigrationName for CreateWebhooks {
    fn name(&self) -> &str {
        "m0002_create_webhooks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateWebhooks {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("webhook_endpoints")
                .col(string("tenant_id"))
                .col(string("endpoint_id"))
                .col(text("url"))
                .col(text("description"))
                .col(text("event_types"))
                .col(boolean("enabled"))
                .col(text("disabled_reason"))
                .col(text("secret"))
                .col(text("previous_secret"))
                .col(big_integer("previous_expires_at"))
                .col(text("rotation_key"))
                .col(integer("version"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .primary_key(Index::create().col("tenant_id").col("endpoint_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("webhook_deliveries")
                .col(string("delivery_id").primary_key())
                .col(string("tenant_id"))
                .col(string("endpoint_id"))
                .col(string("event_id"))
                .col(string("event_type"))
                .col(string("member_id"))
                .col(text("payload"))
                .col(string("status"))
                .col(integer("attempts"))
                .col(integer("round_attempts"))
                .col(integer("last_status_code"))
                .col(text("last_error"))
                .col(big_integer("next_attempt_at"))
                .col(big_integer("created_at"))
                .to_owned(),
        )
        .await?;
        // The same event never goes twice to one endpoint.
        unique_index(
            m,
            "webhook_deliveries_event",
            "webhook_deliveries",
            &["tenant_id", "endpoint_id", "event_id"],
        )
        .await?;
        for (name, cols) in [
            ("webhook_deliveries_due", &["status", "next_attempt_at"][..]),
            ("webhook_deliveries_log", &["tenant_id", "delivery_id"][..]),
            ("webhook_deliveries_member", &["tenant_id", "member_id"][..]),
        ] {
            index(m, name, "webhook_deliveries", cols).await?;
        }
        m.create_table(
            Table::create()
                .table("webhook_attempts")
                .col(string("delivery_id"))
                .col(integer("attempt"))
                .col(string("tenant_id"))
                .col(big_integer("at"))
                .col(integer("status_code"))
                .col(big_integer("latency_ms"))
                .col(text("error"))
                .primary_key(Index::create().col("delivery_id").col("attempt"))
                .to_owned(),
        )
        .await
    }
}

/// Message templates (every version), triggers, and each programme's
/// revision and tenant settings.
struct CreateProgrammes;

impl MigrationName for CreateProgrammes {
    fn name(&self) -> &str {
        "m0003_create_programmes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateProgrammes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("message_templates")
                .col(string("tenant_id"))
                .col(string("template_key"))
                .col(integer("version"))
                .col(string("event_type"))
                .col(string("channel"))
                .col(string("locale"))
                .col(text("subject"))
                .col(text("body"))
                .col(text("html"))
                .col(boolean("current"))
                .col(string("saved_by"))
                .col(big_integer("created_at"))
                .primary_key(
                    Index::create()
                        .col("tenant_id")
                        .col("template_key")
                        .col("version"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("message_templates_current")
                .table("message_templates")
                .col("tenant_id")
                .col("current")
                .col("template_key")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("notification_triggers")
                .col(string("tenant_id"))
                .col(string("event_type"))
                .col(text("channels"))
                .col(string("purpose"))
                .col(string("topic"))
                .col(boolean("enabled"))
                .col(integer("version"))
                .col(big_integer("updated_at"))
                .primary_key(Index::create().col("tenant_id").col("event_type"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("programmes")
                .col(string("tenant_id").primary_key())
                .col(big_integer("revision"))
                .col(string("default_locale"))
                .col(string("time_zone"))
                .col(big_integer("tenant_as_of"))
                .to_owned(),
        )
        .await
    }
}

/// When a member read each message (0: unread), and the index the live
/// inbox feed looks for new messages by.
struct AddInboxReadAt;

impl MigrationName for AddInboxReadAt {
    fn name(&self) -> &str {
        "m0004_add_inbox_read_at"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddInboxReadAt {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("inbox_messages")
                .add_column(big_integer("read_at").default(0))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            (
                "inbox_messages_unread",
                &["tenant_id", "member_id", "read_at"][..],
            ),
            ("inbox_messages_created", &["created_at"][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table("inbox_messages");
            for col in cols {
                index.col(*col);
            }
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }
}

/// At most one current version per template, held by the database under
/// concurrent saves and deletes; and on PostgreSQL, the keys lists page
/// by compared byte by byte, as the service compares them.
struct GuardTemplates;

impl MigrationName for GuardTemplates {
    fn name(&self) -> &str {
        "m0005_guard_templates"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for GuardTemplates {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        // A partial index: sea-query cannot say WHERE; both databases read it alike.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX message_templates_one_current \
             ON message_templates (tenant_id, template_key) WHERE \"current\"",
        )
        .await?;
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            for (table, column) in [
                ("message_templates", "template_key"),
                ("notification_triggers", "event_type"),
            ] {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar COLLATE \"C\""
                ))
                .await?;
            }
        }
        Ok(())
    }
}

/// A programme's frequency caps, and how many capped messages each member
/// was sent per channel and calendar window.
struct CreateCaps;

impl MigrationName for CreateCaps {
    fn name(&self) -> &str {
        "m0006_create_caps"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCaps {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            text("caps").default("[]").to_owned(),
            integer("settings_version").default(0).to_owned(),
            big_integer("settings_updated_at").default(0).to_owned(),
        ] {
            add_column(m, "programmes", column).await?;
        }
        m.create_table(
            Table::create()
                .table("message_counts")
                .col(string("tenant_id"))
                .col(string("member_id"))
                .col(string("channel"))
                .col(string("period"))
                .col(integer("sent"))
                .primary_key(
                    Index::create()
                        .col("tenant_id")
                        .col("member_id")
                        .col("channel")
                        .col("period"),
                )
                .to_owned(),
        )
        .await
    }
}

/// Messages by email, push and SMS (each with its fate), members'
/// preferences, and the programme's quiet hours and unsubscribe key.
struct CreateDispatches;

impl MigrationName for CreateDispatches {
    fn name(&self) -> &str {
        "m0007_create_dispatches"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDispatches {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            text("quiet_hours").default("").to_owned(),
            text("unsubscribe_key").default("").to_owned(),
        ] {
            add_column(m, "programmes", column).await?;
        }
        m.create_table(
            Table::create()
                .table("dispatches")
                .col(string("dispatch_id").primary_key())
                .col(string("tenant_id"))
                .col(string("member_id"))
                .col(string("event_id"))
                .col(string("event_type"))
                .col(string("channel"))
                .col(string("purpose"))
                .col(string("topic"))
                .col(text("subject"))
                .col(text("body"))
                .col(text("html"))
                .col(string("unsubscribe_token"))
                .col(string("status"))
                .col(string("reason"))
                .col(big_integer("due_at"))
                .col(integer("attempts"))
                .col(text("last_error"))
                .col(big_integer("created_at"))
                .col(big_integer("sent_at"))
                .to_owned(),
        )
        .await?;
        // The same event never goes twice on a channel.
        unique_index(
            m,
            "dispatches_event",
            "dispatches",
            &["tenant_id", "event_id", "channel"],
        )
        .await?;
        for (name, cols) in [
            ("dispatches_due", &["status", "due_at"][..]),
            (
                "dispatches_member",
                &["tenant_id", "member_id", "dispatch_id"][..],
            ),
        ] {
            index(m, name, "dispatches", cols).await?;
        }
        m.create_table(
            Table::create()
                .table("message_preferences")
                .col(string("tenant_id"))
                .col(string("member_id"))
                .col(text("channels_off"))
                .col(text("topics_off"))
                .col(integer("version"))
                .col(big_integer("updated_at"))
                .primary_key(Index::create().col("tenant_id").col("member_id"))
                .to_owned(),
        )
        .await
    }
}
