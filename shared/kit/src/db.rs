//! Database connection by URL (a SQLite file in dev, PostgreSQL in production),
//! with the service's migrations run before it serves.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr,
    EntityTrait, IntoActiveModel,
};
use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::{ColumnDef, Index, IndexCreateStatement, SchemaManager, Table};
use std::future::Future;
use std::time::Duration;

use crate::error::DomainError;

/// Opens the database at `url` and brings its schema up to date.
pub async fn connect<M: MigratorTrait>(url: &str) -> anyhow::Result<DatabaseConnection> {
    let db = open(url).await?;
    migrate::<M>(&db, true).await?;
    Ok(db)
}

/// Runs `M`'s pending migrations; with `run` false, only checks that none
/// is pending (a migration job has the schema in its care).
pub async fn migrate<M: MigratorTrait>(db: &DatabaseConnection, run: bool) -> anyhow::Result<()> {
    if run {
        return Ok(M::up(db, None).await?);
    }
    // Read-only: a service's database user may not create tables.
    let pending = match M::get_pending_migrations_read_only(db).await {
        Ok(pending) => pending,
        // The schema is newer than this binary (a rollback after the job
        // migrated forward): migrations only add, so the old code still runs.
        Err(DbErr::Custom(why)) if why.contains("is missing") => {
            tracing::warn!(%why, "the database is ahead of this version");
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    };
    if let Some(first) = pending.first() {
        anyhow::bail!(
            "{} database migration(s) pending, from {}: run `questline migrate` first",
            pending.len(),
            first.name()
        );
    }
    Ok(())
}

/// Opens the database at `url`, with this engine's pool settings.
pub async fn open(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    if let Some(path) = sqlite_path(url) {
        if let Some(dir) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(dir)?;
        }
        // One writer at a time is SQLite's nature; one connection makes every
        // transaction serialisable instead of failing with SQLITE_BUSY.
        options.max_connections(1).min_connections(1);
        // Erased members' data must not linger in free pages of the file.
        options.map_sqlx_sqlite_opts(|o| o.pragma("secure_delete", "ON"));
    } else {
        options.max_connections(16);
        // A dead connection fails its query and is dropped; a ping before
        // every transaction would cost each one a round trip.
        options.test_before_acquire(false);
        // A generic plan cached while a table is small keeps being used as
        // it grows (never better than a scan of the tenant's rows); a plan
        // per execution follows the table, and these queries plan in
        // microseconds.
        //
        // Batches make statements of many shapes (an `IN` list or a
        // multi-row insert per batch size): a connection keeps up to 512
        // prepared, so a shape seen before skips the parse round trip.
        options.map_sqlx_postgres_opts(|o| {
            o.options([("plan_cache_mode", "force_custom_plan")])
                .statement_cache_capacity(512)
        });
    }
    Ok(Database::connect(options).await?)
}

/// Runs `op` again when it lost a race to a concurrent write (a unique key
/// taken in between); the second run sees the winner's row and answers from it.
pub async fn retrying<T, F, Fut>(mut op: F) -> Result<T, DomainError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DomainError>>,
{
    const ATTEMPTS: usize = 3;
    let mut attempt = 1;
    loop {
        match op().await {
            Err(DomainError::Aborted(why)) if attempt < ATTEMPTS => {
                tracing::debug!(%why, attempt, "retrying after a concurrent write");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// ABORTED unless a definition (`what`) stands at the version the caller
/// expects, when it expects one.
pub fn expect_version(what: &str, version: i32, expected: Option<i32>) -> Result<(), DomainError> {
    match expected {
        Some(expected) if expected != version => Err(DomainError::Aborted(format!(
            "{what} is at version {version}, not {expected}"
        ))),
        _ => Ok(()),
    }
}

/// Rows per insert statement: far inside every backend's parameter limit.
pub(crate) const INSERT_CHUNK: usize = 400;

/// Inserts `rows` a few hundred per statement; with `on_conflict`, an
/// upsert of stored rows.
pub async fn insert_all<M, A, C>(
    conn: &C,
    rows: Vec<M>,
    on_conflict: Option<OnConflict>,
) -> Result<(), DbErr>
where
    M: IntoActiveModel<A>,
    A: ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    let mut rows = rows
        .into_iter()
        .map(IntoActiveModel::into_active_model)
        .peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(INSERT_CHUNK).collect();
        let mut statement = A::Entity::insert_many(chunk);
        if let Some(conflict) = on_conflict.clone() {
            statement = statement.on_conflict(conflict);
        }
        statement.exec_without_returning(conn).await?;
    }
    Ok(())
}

/// Creates the unique index `name` on `table(cols)`.
pub async fn unique_index(
    m: &SchemaManager<'_>,
    name: &str,
    table: &str,
    cols: &[&'static str],
) -> Result<(), DbErr> {
    m.create_index(index_on(name, table, cols).unique().to_owned())
        .await
}

/// Adds `column` to `table` (SQLite alters one column per statement).
pub async fn add_column(
    m: &SchemaManager<'_>,
    table: &str,
    mut column: ColumnDef,
) -> Result<(), DbErr> {
    let mut alter = Table::alter();
    alter.table(table.to_string()).add_column(&mut column);
    m.alter_table(alter).await
}

/// Creates the index `name` on `table(cols)`.
pub async fn index(
    m: &SchemaManager<'_>,
    name: &str,
    table: &str,
    cols: &[&'static str],
) -> Result<(), DbErr> {
    m.create_index(index_on(name, table, cols)).await
}

/// The statement creating the index `name` on `table(cols)`.
fn index_on(name: &str, table: &str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table.to_string());
    for col in cols {
        index.col(*col);
    }
    index
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_sqlite_file() {
        assert_eq!(
            super::sqlite_path("sqlite://./data/ledger.db?mode=rwc"),
            Some("./data/ledger.db")
        );
        assert_eq!(super::sqlite_path("postgres://x@h/db"), None);
        assert_eq!(super::sqlite_path("sqlite://:memory:"), None);
    }
}
