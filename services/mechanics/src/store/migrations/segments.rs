//! m0006: identity's segments as this service keeps them from
//! `segment.changed`, for `member.segments` in rules.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean, string, text};

pub struct Segments;

impl MigrationName for Segments {
    fn name(&self) -> &str {
        "m0006_segments"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Segments {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("segments")
                .col(string("tenant_id"))
                .col(string("segment_id"))
                .col(text("predicate"))
                .col(boolean("deleted"))
                .col(big_integer("changed_at"))
                .primary_key(Index::create().col("tenant_id").col("segment_id"))
                .to_owned(),
        )
        .await
    }
}
