//! m0004: event schemas, one row per event type (its current version; the
//! audit trail keeps every definition).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer, string, text};

pub struct EventSchemas;

impl MigrationName for EventSchemas {
    fn name(&self) -> &str {
        "m0004_event_schemas"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for EventSchemas {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("event_schemas")
                .col(string("tenant_id"))
                .col(string("event_type"))
                .col(text("spec"))
                .col(integer("version"))
                .col(big_integer("updated_at"))
                .primary_key(Index::create().col("tenant_id").col("event_type"))
                .to_owned(),
        )
        .await
    }
}
