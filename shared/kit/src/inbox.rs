//! Consumer-side dedup. A consumer records each event id it handles in the same
//! transaction as the effect, so a redelivered event changes nothing:
//! at-least-once delivery, exactly-once effect.

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set, TryInsertResult};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        pub handled_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Adds the `inbox` table; every consuming service lists it in its migrator.
pub struct CreateInbox;

impl MigrationName for CreateInbox {
    fn name(&self) -> &str {
        "m0000_kit_create_inbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateInbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("inbox")
                    .if_not_exists()
                    .col(string("consumer"))
                    .col(string("event_id"))
                    .col(big_integer("handled_at"))
                    .primary_key(Index::create().col("consumer").col("event_id"))
                    .to_owned(),
            )
            .await
    }
}

/// True the first time `consumer` sees `event_id`; false for a redelivery.
pub async fn first_delivery<C: ConnectionTrait>(
    conn: &C,
    consumer: &str,
    event_id: &str,
) -> Result<bool, DbErr> {
    let row = entity::ActiveModel {
        consumer: Set(consumer.to_string()),
        event_id: Set(event_id.to_string()),
        handled_at: Set(crate::time::now_ms()),
    };
    let result = entity::Entity::insert(row)
        .on_conflict_do_nothing_on([entity::Column::Consumer, entity::Column::EventId])
        .exec_without_returning(conn)
        .await?;
    Ok(matches!(result, TryInsertResult::Inserted(n) if n > 0))
}
