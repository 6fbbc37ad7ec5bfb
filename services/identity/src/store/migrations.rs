//! Schema of identity, portable between SQLite and PostgreSQL.

use questline_kit::access::CreateAccessBlocks;
use questline_kit::db::unique_index;
use questline_kit::outbox::{AddOutboxSubject, CreateOutbox};
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
