//! Schema of the ledger, portable between SQLite and PostgreSQL.

use questline_kit::access::CreateAccessBlocks;
use questline_kit::db::{add_column, unique_index};
use questline_kit::inbox::CreateInbox;
use questline_kit::members::CreateMemberSnapshots;
use questline_kit::outbox::{AddOutboxSubject, CreateOutbox, IndexUnpublishedOutbox};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, integer, integer_null, string, string_null,
};

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
            Box::new(CreateLegsAndLots),
            Box::new(IndexReversalsAndDueHolds),
            Box::new(IndexProgrammeAccounts),
            Box::new(LeanerWrites),
            Box::new(IndexUnpublishedOutbox),
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
        create_holds(m).await
    }
}

/// The holds table of `CreateLedger`, with its key and due-hold indexes.
async fn create_holds(m: &SchemaManager<'_>) -> Result<(), DbErr> {
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
            add_column(m, "currencies", column).await?;
        }
        Ok(())
    }
}

/// Transfers of many legs, lots, closed accounts, partial commits and the
/// reversal policy. Existing transfers become one-leg transfers; existing
/// wallet balances become one lot each that never expires, as they were
/// earned under no expiry policy.
struct CreateLegsAndLots;

impl MigrationName for CreateLegsAndLots {
    fn name(&self) -> &str {
        "m0003_create_legs_and_lots"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateLegsAndLots {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let added = [
            (
                "currencies",
                boolean("reversals_may_overdraw").default(false).to_owned(),
            ),
            ("accounts", boolean("closed").default(false).to_owned()),
            (
                "holds",
                big_integer("committed_amount").default(0).to_owned(),
            ),
            ("transfers", string("reference").default("").to_owned()),
            ("transfers", string("metadata").default("").to_owned()),
            ("transfers", string_null("reverses")),
        ];
        for (table, column) in added {
            add_column(m, table, column).await?;
        }
        create_legs(m).await?;
        create_lots(m).await?;
        let db = m.get_connection();
        for sql in BACKFILL {
            db.execute_unprepared(sql).await?;
        }
        for column in ["currency", "debit_owner", "credit_owner", "amount"] {
            m.alter_table(
                Table::alter()
                    .table("transfers")
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

const BACKFILL: [&str; 3] = [
    "UPDATE holds SET committed_amount = amount WHERE status = 'committed'",
    "INSERT INTO transfer_legs (transfer_id, leg, tenant_id, currency, debit_account_id, \
     credit_account_id, debit_owner, credit_owner, amount, reverses_leg, created_at) \
     SELECT t.transfer_id, 0, t.tenant_id, t.currency, d.account_id, c.account_id, \
     t.debit_owner, t.credit_owner, t.amount, NULL, t.created_at FROM transfers t \
     JOIN accounts d ON d.tenant_id = t.tenant_id AND d.currency = t.currency AND d.owner = t.debit_owner \
     JOIN accounts c ON c.tenant_id = t.tenant_id AND c.currency = t.currency AND c.owner = t.credit_owner",
    "INSERT INTO lots (lot_id, account_id, transfer_id, expires_at, amount, remaining, created_at) \
     SELECT account_id, account_id, '', NULL, balance, balance, created_at FROM accounts \
     WHERE owner LIKE 'member:%' AND balance > 0",
];

async fn create_legs(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("transfer_legs")
            .col(string("transfer_id"))
            .col(integer("leg"))
            .col(string("tenant_id"))
            .col(string("currency"))
            .col(string("debit_account_id"))
            .col(string("credit_account_id"))
            .col(string("debit_owner"))
            .col(string("credit_owner"))
            .col(big_integer("amount").check(Expr::col("amount").gt(0)))
            .col(integer_null("reverses_leg"))
            .col(big_integer("created_at"))
            .primary_key(Index::create().col("transfer_id").col("leg"))
            .to_owned(),
    )
    .await?;
    for side in ["debit_account_id", "credit_account_id"] {
        m.create_index(
            Index::create()
                .name(format!("transfer_legs_{side}"))
                .table("transfer_legs")
                .col(side)
                .col("transfer_id")
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}

async fn create_lots(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("lots")
            .col(string("lot_id").primary_key())
            .col(string("account_id"))
            .col(string("transfer_id"))
            .col(big_integer_null("expires_at"))
            .col(big_integer("amount"))
            .col(big_integer("remaining").check(Expr::col("remaining").gte(0)))
            .col(big_integer("created_at"))
            .to_owned(),
    )
    .await?;
    for (name, col) in [
        ("lots_account", "account_id"),
        ("lots_expiry", "expires_at"),
    ] {
        m.create_index(
            Index::create()
                .name(name)
                .table("lots")
                .col(col)
                .col("remaining")
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}

/// Reversal tallies look transfers up by the one they reverse, and the sweep
/// looks for pending holds past due across all wallets.
struct IndexReversalsAndDueHolds;

impl MigrationName for IndexReversalsAndDueHolds {
    fn name(&self) -> &str {
        "m0004_index_reversals_and_due_holds"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndexReversalsAndDueHolds {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let indexes = [
            (
                "transfers_reverses",
                "transfers",
                ["reverses", "transfer_id"],
            ),
            ("holds_due", "holds", ["status", "expires_at"]),
        ];
        for (name, table, cols) in indexes {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(table)
                    .col(cols[0])
                    .col(cols[1])
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

/// The programme's figures (metrics) read every account but members'
/// wallets: a handful per currency, found without scanning the wallets.
struct IndexProgrammeAccounts;

impl MigrationName for IndexProgrammeAccounts {
    fn name(&self) -> &str {
        "m0005_index_programme_accounts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndexProgrammeAccounts {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // A partial index: sea-query cannot say WHERE, and both databases
        // read this statement alike.
        m.get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX accounts_programme ON accounts (tenant_id, currency) WHERE {}",
                super::figures::NOT_A_WALLET
            ))
            .await?;
        Ok(())
    }
}

/// Cheaper writes and lookups. No index names a lot's `remaining`, so
/// drawing from a lot changes it in place (a HOT update on PostgreSQL, in
/// pages left a fifth empty for it); a lot drawn empty is deleted, so a
/// wallet's lots stay few. Only reversals are indexed by what they
/// reverse. Identifiers compare as bytes (`IDENTIFIERS`).
struct LeanerWrites;

impl MigrationName for LeanerWrites {
    fn name(&self) -> &str {
        "m0006_leaner_writes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for LeanerWrites {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        // Partial indexes: sea-query cannot say WHERE, and both databases
        // read these statements alike.
        for sql in [
            "DELETE FROM lots WHERE remaining = 0",
            "DROP INDEX lots_account",
            "DROP INDEX lots_expiry",
            "CREATE INDEX lots_account ON lots (account_id)",
            "CREATE INDEX lots_expiry ON lots (expires_at)",
            "DROP INDEX transfers_reverses",
            "CREATE INDEX transfers_reverses ON transfers (reverses, transfer_id) WHERE reverses IS NOT NULL",
        ] {
            db.execute_unprepared(sql).await?;
        }
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            for table in ["lots", "accounts"] {
                db.execute_unprepared(&format!("ALTER TABLE {table} SET (fillfactor = 80)"))
                    .await?;
            }
            for (table, columns) in IDENTIFIERS {
                let collate: Vec<String> = columns
                    .iter()
                    .map(|c| format!("ALTER COLUMN {c} TYPE varchar COLLATE \"C\""))
                    .collect();
                db.execute_unprepared(&format!("ALTER TABLE {table} {}", collate.join(", ")))
                    .await?;
            }
        }
        Ok(())
    }
}

/// Columns of ids, keys and codes: compared byte by byte on PostgreSQL
/// (SQLite always does), not by the database's locale, whose comparisons
/// cost several times more in every index probe and insert.
const IDENTIFIERS: [(&str, &[&str]); 6] = [
    ("currencies", &["tenant_id", "code"]),
    (
        "accounts",
        &["account_id", "tenant_id", "currency", "owner"],
    ),
    (
        "transfers",
        &["transfer_id", "tenant_id", "idempotency_key", "reverses"],
    ),
    (
        "transfer_legs",
        &["transfer_id", "debit_account_id", "credit_account_id"],
    ),
    ("lots", &["lot_id", "account_id"]),
    (
        "holds",
        &[
            "hold_id",
            "tenant_id",
            "idempotency_key",
            "account_id",
            "status",
        ],
    ),
];
