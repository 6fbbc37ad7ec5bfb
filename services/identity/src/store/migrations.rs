//! Schema of identity, portable between SQLite and PostgreSQL.

use questline_kit::access::CreateAccessBlocks;
use questline_kit::db::unique_index;
use questline_kit::outbox::{AddOutboxSubject, CreateOutbox, IndexUnpublishedOutbox};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, binary, string, text};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutbox),
            Box::new(CreateIdentity),
            Box::new(CreateAccessBlocks),
            Box::new(AddOutboxSubject),
            Box::new(CreateSegmentsAndAudit),
            Box::new(IndexUnpublishedOutbox),
        ]
    }
}

struct CreateIdentity;

impl MigrationName for CreateIdentity {
    fn name(&self) -> &str {
        "m0001_create_identity"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateIdentity {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("tenants")
                .col(string("tenant_id").primary_key())
                .col(string("name"))
                .col(string("time_zone"))
                .col(string("default_locale"))
                .col(string("status"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("api_clients")
                .col(string("client_id").primary_key())
                .col(string("tenant_id"))
                .col(string("name"))
                .col(string("scopes"))
                .col(string("status"))
                .col(string("idempotency_key"))
                .col(string("fingerprint"))
                .col(big_integer("created_at"))
                .col(big_integer_null("revoked_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("api_keys")
                .col(string("key_prefix").primary_key())
                .col(string("client_id"))
                .col(string("key_hash"))
                .col(string("idempotency_key"))
                .col(string("fingerprint"))
                .col(big_integer("created_at"))
                .col(big_integer_null("expires_at"))
                .col(big_integer_null("last_used_at"))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "api_keys_rotation",
            "api_keys",
            &["client_id", "idempotency_key"],
        )
        .await?;
        unique_index(
            m,
            "api_clients_key",
            "api_clients",
            &["tenant_id", "idempotency_key"],
        )
        .await?;
        m.create_table(
            Table::create()
                .table("signing_keys")
                .col(string("kid").primary_key())
                .col(binary("private_pkcs8"))
                .col(string("public_x"))
                .col(big_integer("created_at"))
                .col(big_integer_null("retire_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("members")
                .col(string("member_id").primary_key())
                .col(string("tenant_id"))
                .col(string("external_id"))
                .col(text("display_name"))
                .col(text("email"))
                .col(text("phone"))
                .col(string("birthday"))
                .col(string("locale"))
                .col(string("country"))
                .col(text("attributes"))
                .col(text("consent"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .col(big_integer_null("erased_at"))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "members_external",
            "members",
            &["tenant_id", "external_id"],
        )
        .await
    }
}

struct CreateSegmentsAndAudit;

impl MigrationName for CreateSegmentsAndAudit {
    fn name(&self) -> &str {
        "m0002_create_segments_and_audit"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateSegmentsAndAudit {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("segments")
                .col(string("tenant_id"))
                .col(string("segment_id"))
                .col(text("name"))
                .col(text("description"))
                .col(text("predicate"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .primary_key(Index::create().col("tenant_id").col("segment_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("audit_entries")
                .col(string("audit_id").primary_key())
                .col(string("tenant_id"))
                .col(string("client_id"))
                .col(string("action"))
                .col(text("resource"))
                .col(text("details"))
                .col(big_integer("occurred_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("audit_entries_tenant")
                .table("audit_entries")
                .col("tenant_id")
                .col("audit_id")
                .to_owned(),
        )
        .await
    }
}
