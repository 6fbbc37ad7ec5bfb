//! The gateway's schema, portable between SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, blob, integer_null, string};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateIdempotencyKeys)]
    }
}

struct CreateIdempotencyKeys;

impl MigrationName for CreateIdempotencyKeys {
    fn name(&self) -> &str {
        "m0001_create_idempotency_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateIdempotencyKeys {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("idempotency_keys")
                .col(string("client"))
                .col(string("key"))
                .col(string("fingerprint"))
                .col(integer_null("status"))
                .col(string("content_type"))
                .col(blob("body"))
                .col(big_integer("lease_until"))
                .col(big_integer("expires_at"))
                .primary_key(Index::create().col("client").col("key"))
                .to_owned(),
        )
        .await?;
        // The hourly prune finds expired keys without a scan.
        m.create_index(
            Index::create()
                .name("idempotency_keys_expiry")
                .table("idempotency_keys")
                .col("expires_at")
                .to_owned(),
        )
        .await
    }
}
