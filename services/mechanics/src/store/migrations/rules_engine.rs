//! m0002: rules with versions, statuses and their history; caps and budgets
//! usage; traits rules set on members; stored events with their attributes
//! and verdicts. Rules of m0001 become version 1 of the same rule, with one
//! award-points action, read in UTC.

use questline_kit::db::add_column;
use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer, string, text};
use sea_orm_migration::sea_query::ExprTrait;
use serde_json::json;

pub struct RulesEngine;

impl MigrationName for RulesEngine {
    fn name(&self) -> &str {
        "m0002_rules_engine"
    }
}

/// A rule as m0001 kept it.
struct FirstRule {
    tenant_id: String,
    rule_id: String,
    spec: String,
    active: bool,
    created_at: i64,
}

#[async_trait::async_trait]
impl MigrationTrait for RulesEngine {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let first = first_rules(m).await?;
        m.drop_table(Table::drop().table("rules").to_owned())
            .await?;
        create_rules(m).await?;
        create_usage(m).await?;
        create_traits(m).await?;
        for r in &first {
            keep(m, r).await?;
        }
        let added = [
            (
                "tracked_events",
                text("attributes").default("{}").to_owned(),
            ),
            ("tracked_events", text("verdicts").default("[]").to_owned()),
            ("awards", integer("rule_version").default(1).to_owned()),
        ];
        for (table, column) in added {
            add_column(m, table, column).await?;
        }
        m.create_index(
            Index::create()
                .name("tracked_events_by_time")
                .table("tracked_events")
                .col("tenant_id")
                .col("occurred_at")
                .col("event_id")
                .to_owned(),
        )
        .await
    }
}

async fn first_rules(m: &SchemaManager<'_>) -> Result<Vec<FirstRule>, DbErr> {
    let db = m.get_connection();
    let sql = "SELECT tenant_id, rule_id, name, event_type, condition, points, currency, \
               active, created_at FROM rules";
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    rows.iter()
        .map(|row| {
            let text = |c: &str| row.try_get::<String>("", c);
            let spec = json!({
                "name": text("name")?,
                "event_types": [text("event_type")?],
                "condition": text("condition")?,
                "time_zone": "UTC",
                "actions": [{
                    "kind": "award_points",
                    "currency": text("currency")?,
                    "points": text("points")?,
                }],
            });
            Ok(FirstRule {
                tenant_id: text("tenant_id")?,
                rule_id: text("rule_id")?,
                spec: spec.to_string(),
                active: row.try_get("", "active")?,
                created_at: row.try_get("", "created_at")?,
            })
        })
        .collect()
}

async fn keep(m: &SchemaManager<'_>, r: &FirstRule) -> Result<(), DbErr> {
    let status = if r.active { "active" } else { "paused" };
    let inserts = [
        Query::insert()
            .into_table("rules")
            .columns([
                "tenant_id",
                "rule_id",
                "version",
                "status",
                "created_at",
                "updated_at",
            ])
            .values_panic([
                r.tenant_id.clone().into(),
                r.rule_id.clone().into(),
                1.into(),
                status.into(),
                r.created_at.into(),
                r.created_at.into(),
            ])
            .to_owned(),
        Query::insert()
            .into_table("rule_versions")
            .columns(["tenant_id", "rule_id", "version", "spec", "created_at"])
            .values_panic([
                r.tenant_id.clone().into(),
                r.rule_id.clone().into(),
                1.into(),
                r.spec.clone().into(),
                r.created_at.into(),
            ])
            .to_owned(),
        Query::insert()
            .into_table("rule_changes")
            .columns([
                "tenant_id",
                "rule_id",
                "seq",
                "from_ms",
                "version",
                "status",
            ])
            .values_panic([
                r.tenant_id.clone().into(),
                r.rule_id.clone().into(),
                1.into(),
                r.created_at.into(),
                1.into(),
                status.into(),
            ])
            .to_owned(),
    ];
    for insert in inserts {
        m.exec_stmt(insert).await?;
    }
    m.exec_stmt(
        Query::insert()
            .into_table("rule_books")
            .columns(["tenant_id", "revision"])
            .values_panic([r.tenant_id.clone().into(), 1.into()])
            .on_conflict(
                OnConflict::column("tenant_id")
                    .value("revision", Expr::col(("rule_books", "revision")).add(1))
                    .to_owned(),
            )
            .to_owned(),
    )
    .await
}

async fn create_rules(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("rules")
            .col(string("tenant_id"))
            .col(string("rule_id"))
            .col(integer("version"))
            .col(string("status"))
            .col(big_integer("created_at"))
            .col(big_integer("updated_at"))
            .primary_key(Index::create().col("tenant_id").col("rule_id"))
            .to_owned(),
    )
    .await?;
    m.create_table(
        Table::create()
            .table("rule_versions")
            .col(string("tenant_id"))
            .col(string("rule_id"))
            .col(integer("version"))
            .col(text("spec"))
            .col(big_integer("created_at"))
            .primary_key(
                Index::create()
                    .col("tenant_id")
                    .col("rule_id")
                    .col("version"),
            )
            .to_owned(),
    )
    .await?;
    m.create_table(
        Table::create()
            .table("rule_changes")
            .col(string("tenant_id"))
            .col(string("rule_id"))
            .col(integer("seq"))
            .col(big_integer("from_ms"))
            .col(integer("version"))
            .col(string("status"))
            .primary_key(Index::create().col("tenant_id").col("rule_id").col("seq"))
            .to_owned(),
    )
    .await?;
    m.create_table(
        Table::create()
            .table("rule_books")
            .col(string("tenant_id"))
            .col(big_integer("revision"))
            .primary_key(Index::create().col("tenant_id"))
            .to_owned(),
    )
    .await
}

async fn create_usage(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("rule_usage")
            .col(string("tenant_id"))
            .col(string("rule_id"))
            .col(string("holder"))
            .col(string("period"))
            .col(big_integer("count"))
            .col(big_integer("points"))
            .primary_key(
                Index::create()
                    .col("tenant_id")
                    .col("rule_id")
                    .col("holder")
                    .col("period"),
            )
            .to_owned(),
    )
    .await
}

async fn create_traits(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("member_traits")
            .col(string("tenant_id"))
            .col(string("member_id"))
            .col(string("kind"))
            .col(string("name"))
            .col(text("value"))
            .col(big_integer("updated_at"))
            .primary_key(
                Index::create()
                    .col("tenant_id")
                    .col("member_id")
                    .col("kind")
                    .col("name"),
            )
            .to_owned(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database};
    use sea_orm_migration::MigratorTrait;

    use super::super::Migrator;
    use crate::domain::rules::{Action, RuleStatus};
    use crate::store::Store;

    #[tokio::test]
    async fn rules_of_the_first_schema_become_version_one() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        // Every migration before this one.
        Migrator::up(&db, Some(6)).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO rules (tenant_id, rule_id, name, event_type, condition, points, \
             currency, active, created_at) VALUES \
             ('acme', 'base', 'Base', 'purchase', 'event.amount > 0.0', 'event.amount / 10.0', \
              'stars', true, 1000), \
             ('acme', 'old', 'Old', 'scan', '', '1', 'stars', false, 2000)",
        )
        .await
        .unwrap();
        Migrator::up(&db, None).await.unwrap();

        let bus: std::sync::Arc<dyn questline_kit::bus::EventBus> =
            std::sync::Arc::new(questline_kit::bus::MemoryBus::default());
        let relay = questline_kit::outbox::Relay::new(db.clone(), bus, "mechanics");
        let store = Store::new(db, "sqlite::memory:", relay).unwrap();
        let base = store.rule("acme", "base", 0).await.unwrap();
        assert_eq!(base.version, 1);
        assert_eq!(base.head.status, RuleStatus::Active.as_str());
        assert_eq!(base.spec.event_types, ["purchase"]);
        assert_eq!(base.spec.time_zone, "UTC");
        assert_eq!(
            base.spec.actions,
            [Action::AwardPoints {
                currency: "stars".into(),
                points: "event.amount / 10.0".into(),
                rounding: Default::default(),
            }]
        );
        let old = store.rule("acme", "old", 0).await.unwrap();
        assert_eq!(old.head.status, RuleStatus::Paused.as_str());
        let book = store.rule_book("acme").await.unwrap();
        assert_eq!(book.in_force("purchase", 1500).len(), 1);
        assert!(book.in_force("purchase", 999).is_empty());
        assert!(book.in_force("scan", 2500).is_empty());
    }
}
