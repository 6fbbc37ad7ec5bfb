//! m0003: the recovery loop finds events still pending (their awards not all
//! credited) by status and age, without reading every stored event.

use sea_orm_migration::prelude::*;

pub struct PendingEvents;

impl MigrationName for PendingEvents {
    fn name(&self) -> &str {
        "m0003_pending_events"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for PendingEvents {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("tracked_events_by_status")
                .table("tracked_events")
                .col("status")
                .col("created_at")
                .to_owned(),
        )
        .await
    }
}
