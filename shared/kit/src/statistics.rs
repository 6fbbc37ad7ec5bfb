//! Planner statistics kept current by the service that owns the tables.
//!
//! A statement planned once per connection (`pipelined`) is only as
//! good as the statistics it was planned with. On a table never analyzed,
//! every index that leads with the tenant costs the same as the primary
//! key, and the planner may pick the one that scans all of a tenant's rows.
//! `ANALYZE` invalidates the plans made before it, so each connection plans
//! again with what it found. Autovacuum does this about once a minute when
//! it is on, and servers run without it; so every service on PostgreSQL
//! analyzes its own tables as autovacuum would (`STALE`), checked every
//! `EVERY`. Replicas take turns through an advisory lock.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_secs(1);

/// The current schema's tables this role owns (ANALYZE skips others with a
/// warning) changed by more rows since they were last analyzed than
/// autovacuum's default threshold (50 rows and a tenth): at once when never
/// analyzed, then at most once a minute, as autovacuum would (each ANALYZE
/// costs a sample of the table and a plan on every connection) — unless
/// the table has more than doubled since, as a new service's tables do in
/// their first minute: a plan made for a table of fifty rows scans it.
const STALE: &str = "SELECT format('%I.%I', s.schemaname, s.relname) AS name \
     FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
     WHERE s.schemaname = current_schema() AND pg_has_role(c.relowner, 'USAGE') \
     AND s.n_mod_since_analyze >= 50 + 0.1 * greatest(c.reltuples, 0) \
     AND (coalesce(greatest(s.last_analyze, s.last_autoanalyze), '-infinity') \
          < now() - interval '1 minute' \
          OR s.n_live_tup > 2 * greatest(c.reltuples, 0)) \
     ORDER BY s.relname";

/// A tenth of the default sample: enough to tell a primary key from an
/// index that leads with the tenant, at a tenth of the cost (ANALYZE of a
/// table of 200 MB goes from 230 ms of a core to 30).
const SAMPLE: &str = "SET LOCAL default_statistics_target = 10";

/// Held by the replica analyzing, until its transaction ends.
const TURN: &str = "SELECT pg_try_advisory_xact_lock(7283915) AS mine";

/// Keeps `db`'s statistics current until `stop`; on other databases,
/// returns at once.
pub async fn keep(db: DatabaseConnection, stop: CancellationToken) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    // A database that is down says so once here (readiness says the rest).
    let mut failing = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
        match analyze_stale(&db).await {
            Ok(_) => failing = false,
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(%err, "could not bring the planner's statistics up to date");
            }
            Err(err) => tracing::debug!(%err, "planner statistics still out of reach"),
        }
    }
}

/// Analyzes every stale table, unless another replica is at it; answers
/// the tables analyzed.
pub async fn analyze_stale(db: &DatabaseConnection) -> Result<Vec<String>, sea_orm::DbErr> {
    let txn = db.begin().await?;
    let turn = txn.query_one_raw(statement(TURN)).await?;
    let mine = match turn {
        Some(row) => row.try_get::<bool>("", "mine")?,
        None => false,
    };
    let mut analyzed = Vec::new();
    if mine {
        txn.execute_unprepared(SAMPLE).await?;
        for row in txn.query_all_raw(statement(STALE)).await? {
            let table: String = row.try_get("", "name")?;
            txn.execute_unprepared(&format!("ANALYZE {table}")).await?;
            analyzed.push(table);
        }
    }
    txn.commit().await?;
    if !analyzed.is_empty() {
        tracing::debug!(tables = ?analyzed, "planner statistics brought up to date");
    }
    Ok(analyzed)
}

fn statement(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Database;

    async fn analyzed(db: &DatabaseConnection, table: &str) -> bool {
        let sql = format!(
            "SELECT last_analyze IS NOT NULL AS done FROM pg_stat_user_tables \
             WHERE relname = '{table}'"
        );
        let row = db.query_one_raw(statement(&sql)).await.unwrap().unwrap();
        row.try_get("", "done").unwrap()
    }

    /// The writers' counts reach the statistics a moment after they commit.
    async fn first_analyzed(db: &DatabaseConnection) -> Vec<String> {
        for _ in 0..50 {
            let seen = analyze_stale(db).await.unwrap();
            if !seen.is_empty() {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Vec::new()
    }

    /// A database of its own on the test server, `setup` run in it.
    struct Scratch {
        server: DatabaseConnection,
        db: DatabaseConnection,
        name: String,
    }

    /// `None` when no test server is set.
    async fn scratch(suffix: &str, setup: &str) -> Option<Scratch> {
        let url = crate::test_postgres_url()?;
        let name = format!("ql_statistics_{suffix}_{}", std::process::id());
        let server = Database::connect(&url).await.unwrap();
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            server.execute_unprepared(&sql).await.unwrap();
        }
        let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
        let db = Database::connect(format!("{base}/{name}")).await.unwrap();
        db.execute_unprepared(setup).await.unwrap();
        Some(Scratch { server, db, name })
    }

    impl Scratch {
        async fn drop(self) {
            self.db.close().await.unwrap();
            let drop = format!("DROP DATABASE {} WITH (FORCE)", self.name);
            self.server.execute_unprepared(&drop).await.unwrap();
        }
    }

    /// Lets the writers' counts reach the statistics, then looks once.
    async fn settled_look(db: &DatabaseConnection) -> Vec<String> {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        analyze_stale(db).await.unwrap()
    }

    /// A table past the threshold is analyzed once, a table under it is
    /// left alone, and a replica without the turn analyzes nothing.
    #[tokio::test]
    async fn only_tables_changed_past_the_threshold_are_analyzed_by_one_replica() {
        let setup = "CREATE TABLE busy (n int4 PRIMARY KEY); CREATE TABLE quiet (n int4); \
             INSERT INTO busy SELECT generate_series(1, 500); INSERT INTO quiet VALUES (1)";
        let Some(scratch) = scratch("threshold", setup).await else {
            return;
        };
        let db = &scratch.db;
        assert_eq!(first_analyzed(db).await, ["public.busy"]);
        assert!(analyzed(db, "busy").await);
        assert!(!analyzed(db, "quiet").await);
        assert!(analyze_stale(db).await.unwrap().is_empty());

        let other = db.begin().await.unwrap();
        other.query_one_raw(statement(TURN)).await.unwrap();
        db.execute_unprepared("INSERT INTO quiet SELECT generate_series(1, 500)")
            .await
            .unwrap();
        assert!(settled_look(db).await.is_empty());
        other.rollback().await.unwrap();
        assert_eq!(first_analyzed(db).await, ["public.quiet"]);
        scratch.drop().await;
    }

    /// Within the minute after an ANALYZE, a table changed past the
    /// threshold waits, and one that has more than doubled does not.
    #[tokio::test]
    async fn a_table_that_doubles_is_analyzed_again_within_the_minute() {
        let setup = "CREATE TABLE growing (n int4 PRIMARY KEY); \
             INSERT INTO growing SELECT generate_series(1, 500)";
        let Some(scratch) = scratch("doubling", setup).await else {
            return;
        };
        let db = &scratch.db;
        assert_eq!(first_analyzed(db).await, ["public.growing"]);

        // Past the threshold (100 rows) but not doubled: 700 of 500.
        db.execute_unprepared("INSERT INTO growing SELECT generate_series(501, 700)")
            .await
            .unwrap();
        assert!(settled_look(db).await.is_empty());

        // Doubled: 1,100 of 500.
        db.execute_unprepared("INSERT INTO growing SELECT generate_series(701, 1100)")
            .await
            .unwrap();
        assert_eq!(first_analyzed(db).await, ["public.growing"]);
        let sql = "SELECT reltuples::int8 AS n FROM pg_class WHERE relname = 'growing'";
        let row = db.query_one_raw(statement(sql)).await.unwrap().unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1100);
        scratch.drop().await;
    }
}
