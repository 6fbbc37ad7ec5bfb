//! Schema of the rewards service, portable between SQLite and PostgreSQL.

use questline_kit::access::CreateAccessBlocks;
use questline_kit::db::unique_index;
use questline_kit::inbox::CreateInbox;
use questline_kit::members::CreateMemberSnapshots;
use questline_kit::outbox::{AddOutboxSubject, CreateOutbox, IndexUnpublishedOutbox};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string, string_null};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutbox),
            Box::new(CreateInbox),
            Box::new(CreateMemberSnapshots),
            Box::new(CreateRewards),
            Box::new(CreateAccessBlocks),
            Box::new(AddOutboxSubject),
            Box::new(IndexUnpublishedOutbox),
        ]
    }
}

struct CreateRewards;

impl MigrationName for CreateRewards {
    fn name(&self) -> &str {
        "m0001_create_rewards"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateRewards {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("rewards")
                .col(string("tenant_id"))
                .col(string("reward_id"))
                .col(string("name"))
                .col(string("currency"))
                .col(big_integer("price"))
                .col(big_integer("stock"))
                .col(string("voucher_source"))
                .col(string("fingerprint"))
                .col(big_integer("created_at"))
                .primary_key(Index::create().col("tenant_id").col("reward_id"))
                .to_owned(),
        )
        .await?;
        create_voucher_codes(m).await?;
        m.create_table(
            Table::create()
                .table("redemptions")
                .col(string("tenant_id"))
                .col(string("redemption_id"))
                .col(string("member_id"))
                .col(string("reward_id"))
                .col(string("reward_name"))
                .col(string("currency"))
                .col(big_integer("price"))
                .col(string("status"))
                .col(string("step"))
                .col(string_null("hold_id"))
                .col(string_null("voucher_code"))
                .col(string("fingerprint"))
                .col(string_null("failure_kind"))
                .col(string_null("failure_subject"))
                .col(string_null("failure_message"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .primary_key(Index::create().col("tenant_id").col("redemption_id"))
                .to_owned(),
        )
        .await
    }
}

async fn create_voucher_codes(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("voucher_codes")
            .col(string("tenant_id"))
            .col(string("reward_id"))
            .col(string("code"))
            .col(string_null("redemption_id"))
            .col(big_integer("created_at"))
            .primary_key(
                Index::create()
                    .col("tenant_id")
                    .col("reward_id")
                    .col("code"),
            )
            .to_owned(),
    )
    .await?;
    // A redemption holds at most one code, even if two replays race to issue
    // it; free codes (null) never collide, on SQLite as on PostgreSQL.
    unique_index(
        m,
        "voucher_codes_redemption",
        "voucher_codes",
        &["tenant_id", "redemption_id"],
    )
    .await?;
    m.create_index(
        Index::create()
            .name("voucher_codes_free")
            .table("voucher_codes")
            .col("tenant_id")
            .col("reward_id")
            .col("redemption_id")
            .col("created_at")
            .to_owned(),
    )
    .await
}
