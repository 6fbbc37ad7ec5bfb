//! Schema of the ledger, portable between SQLite and PostgreSQL.

use questline_kit::access::CreateAccessBlocks;
use questline_kit::db::unique_index;
use questline_kit::inbox::CreateInbox;
use questline_kit::members::CreateMemberSnapshots;
use questline_kit::outbox::{AddOutboxSubject, CreateOutbox};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean, string, string_null};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutbox),
            Box::new(CreateInbox),
            Box::new(CreateMemberSnapshots),
            Box::new(CreateLedger),
            Box::new(CreateAccessBlocks),
            Box::new(AddOutboxSubject),
            Box::new(AddCurrencyPolicy),
        ]
    }
}

struct CreateLedger;

impl MigrationName for CreateLedger {
    fn name(&self) -> &str {
        "m0001_create_ledger"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateLedger {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("currencies")
                .col(string("tenant_id"))
                .col(string("code"))
                .col(string("name"))
                .col(big_integer("created_at"))
                .primary_key(Index::create().col("tenant_id").col("code"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("accounts")
                .col(string("account_id").primary_key())
                .col(string("tenant_id"))
                .col(string("currency"))
                .col(string("owner"))
                .col(big_integer("balance"))
                // A safety net under the conditional updates: never negative.
                .col(big_integer("held").check(Expr::col("held").gte(0)))
                .col(boolean("allow_negative"))
                .col(big_integer("created_at"))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "accounts_owner",
            "accounts",
            &["tenant_id", "currency", "owner"],
        )
        .await?;
        m.create_table(
            Table::create()
                .table("transfers")
                .col(string("transfer_id").primary_key())
                .col(string("tenant_id"))
                .col(string("currency"))
                .col(string("debit_owner"))
                .col(string("credit_owner"))
                .col(big_integer("amount"))
                .col(string("reason"))
                .col(string("idempotency_key"))
                .col(string("fingerprint"))
                .col(big_integer("member_total"))
                .col(big_integer("member_held"))
                .col(big_integer("created_at"))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "transfers_key",
            "transfers",
            &["tenant_id", "idempotency_key"],
        )
        .await?;
        m.create_table(
            Table::create()
                .table("holds")
                .col(string("hold_id").primary_key())
                .col(string("tenant_id"))
                .col(string("currency"))
                .col(string("member_id"))
                .col(string("account_id"))
                .col(big_integer("amount"))
                .col(string("status"))
                .col(string("reason"))
                .col(big_integer("expires_at"))
                .col(string("idempotency_key"))
                .col(string("fingerprint"))
                .col(string_null("transfer_id"))
                .col(big_integer("created_at"))
                .to_owned(),
        )
        .await?;
        unique_index(m, "holds_key", "holds", &["tenant_id", "idempotency_key"]).await?;
        m.create_index(
            Index::create()
                .name("holds_pending")
                .table("holds")
                .col("account_id")
                .col("status")
                .col("expires_at")
                .to_owned(),
        )
        .await
    }
}

/// Expiry policy, time zone and decimal places per currency; existing
/// currencies never expire, count in UTC and in whole points.
struct AddCurrencyPolicy;

impl MigrationName for AddCurrencyPolicy {
    fn name(&self) -> &str {
        "m0002_add_currency_policy"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddCurrencyPolicy {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let columns = [
            ColumnDef::new("expiry")
                .string()
                .not_null()
                .default("never")
                .to_owned(),
            ColumnDef::new("time_zone")
                .string()
                .not_null()
                .default("UTC")
                .to_owned(),
            ColumnDef::new("decimal_places")
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
        ];
        for column in columns {
            m.alter_table(
                Table::alter()
                    .table("currencies")
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
