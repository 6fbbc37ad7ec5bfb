//! Consumer-side dedup. A consumer records each event id it handles in the same
//! transaction as the effect, so a redelivered event changes nothing:
//! at-least-once delivery, exactly-once effect.

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QueryTrait, Set};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string};
use std::collections::{BTreeSet, HashSet};

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
    let first = first_deliveries(conn, consumer, &[event_id]).await?;
    Ok(!first.is_empty())
}

/// The ids among `event_ids` that `consumer` sees for the first time, now
/// recorded as handled: one statement per few hundred ids.
pub async fn first_deliveries<C: ConnectionTrait>(
    conn: &C,
    consumer: &str,
    event_ids: &[&str],
) -> Result<HashSet<String>, DbErr> {
    use entity::Column;
    let now = crate::time::now_ms();
    let distinct: Vec<&str> = event_ids
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut first = HashSet::with_capacity(distinct.len());
    for chunk in distinct.chunks(crate::db::INSERT_CHUNK) {
        let rows = chunk.iter().map(|event_id| entity::ActiveModel {
            consumer: Set(consumer.to_string()),
            event_id: Set(String::from(*event_id)),
            handled_at: Set(now),
        });
        let mut statement = entity::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([Column::Consumer, Column::EventId])
                    .do_nothing()
                    .to_owned(),
            )
            .into_query();
        statement.returning_col(Column::EventId);
        for row in conn.query_all(&statement).await? {
            first.insert(row.try_get::<String>("", "event_id")?);
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Database;

    #[tokio::test]
    async fn events_seen_together_are_first_once_each_and_only_for_their_consumer() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        CreateInbox.up(&SchemaManager::new(&db)).await.unwrap();
        assert!(first_delivery(&db, "notifications", "e1").await.unwrap());

        let first = first_deliveries(&db, "notifications", &["e1", "e2", "e3", "e2"])
            .await
            .unwrap();
        assert_eq!(first, HashSet::from(["e2".to_string(), "e3".to_string()]));
        let again = first_deliveries(&db, "notifications", &["e2", "e3"])
            .await
            .unwrap();
        assert!(again.is_empty());
        let other = first_deliveries(&db, "mechanics", &["e1"]).await.unwrap();
        assert_eq!(other.len(), 1);
        assert!(
            first_deliveries(&db, "mechanics", &[])
                .await
                .unwrap()
                .is_empty()
        );
    }
}
