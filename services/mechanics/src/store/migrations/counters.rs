//! m0005: counters (one row per counter, its current version) and each
//! member's counter buckets (a day, a period, or a lifetime).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, double, integer, string, text};

pub struct Counters;

impl MigrationName for Counters {
    fn name(&self) -> &str {
        "m0005_counters"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Counters {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("counters")
                .col(string("tenant_id"))
                .col(string("counter_id"))
                .col(text("spec"))
                .col(integer("version"))
                .col(big_integer("updated_at"))
                .primary_key(Index::create().col("tenant_id").col("counter_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("member_counters")
                .col(string("tenant_id"))
                .col(string("member_id"))
                .col(string("counter_id"))
                .col(string("bucket"))
                .col(double("value"))
                .primary_key(
                    Index::create()
                        .col("tenant_id")
                        .col("member_id")
                        .col("counter_id")
                        .col("bucket"),
                )
                .to_owned(),
        )
        .await
    }
}
