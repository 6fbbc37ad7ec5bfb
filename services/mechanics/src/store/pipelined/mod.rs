//! Track's hot batches on PostgreSQL, each in flights (`kit::pipelined`)
//! on a connection of its own: the lookup's six reads go out together
//! (`reads`); a record sends its usage locks with BEGIN, then every write
//! with COMMIT (`record`); the marks send BEGIN, updates and COMMIT at
//! once (`marks`). Each text is fixed whatever the batch holds (rows
//! travel as column arrays), so a connection parses and plans it once.
//! `tracked_events` and `member_snapshots` have secondary indexes that
//! lead with the tenant too: only statistics tell the planner to probe the
//! primary key instead, and the service keeps them current
//! (`kit::statistics`).

mod decode;
mod marks;
mod reads;
mod record;

use questline_kit::pipelined::{self, Statements};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio_postgres::{Client, Error, Statement};

pub use marks::mark;
pub use reads::known;
pub use record::record;

pub type Link = pipelined::Link<Sql>;

/// Where a hot batch goes: one statement at a time through sea-orm
/// (SQLite: one connection in the process, no round trips to save), or in
/// flights on a connection of its own (PostgreSQL).
pub enum Engine {
    Stepwise(DatabaseConnection),
    Pipelined(Box<Link>),
}

impl Engine {
    /// The engine for `db`, opened from `url`, as `questline-mechanics-<role>`.
    pub fn open(db: &DatabaseConnection, url: &str, role: &str) -> anyhow::Result<Engine> {
        Ok(match db.get_database_backend() {
            DbBackend::Postgres => {
                let link = Link::new(url, "mechanics", role)?;
                Engine::Pipelined(Box::new(link))
            }
            _ => Engine::Stepwise(db.clone()),
        })
    }
}

/// Every statement the lookup, the record and the marks send.
pub struct Sql {
    revision: Statement,
    events: Statement,
    awards: Statement,
    members: Statement,
    traits: Statement,
    buckets: Statement,
    lock_usage: Statement,
    add_usage: Statement,
    keep_traits: Statement,
    stage: Statement,
    add_counters: Statement,
    prune_counters: Statement,
    insert_awards: Statement,
    insert_events: Statement,
    no_fsync: Statement,
    carried: Statement,
    applied: Statement,
}

impl Statements for Sql {
    async fn prepare(client: &Client) -> Result<Sql, Error> {
        let among = |table: &str, key: &str, order: &str| {
            format!(
                "SELECT * FROM {table} WHERE tenant_id = $1 AND {key} = ANY($2::text[]) {order}"
            )
        };
        Ok(Sql {
            revision: client
                .prepare("SELECT revision FROM rule_books WHERE tenant_id = $1")
                .await?,
            events: client
                .prepare(&among("tracked_events", "event_id", ""))
                .await?,
            awards: client
                .prepare(&among("awards", "event_id", "ORDER BY event_id, rule_id"))
                .await?,
            members: client
                .prepare(&among("member_snapshots", "member_id", ""))
                .await?,
            traits: client
                .prepare(&among("member_traits", "member_id", "ORDER BY kind, name"))
                .await?,
            buckets: client
                .prepare(&among("member_counters", "member_id", ""))
                .await?,
            lock_usage: client.prepare(LOCK_USAGE).await?,
            add_usage: client.prepare(ADD_USAGE).await?,
            keep_traits: client.prepare(KEEP_TRAITS).await?,
            stage: client.prepare(questline_kit::outbox::INSERT_ARRAYS).await?,
            add_counters: client.prepare(ADD_COUNTERS).await?,
            prune_counters: client.prepare(PRUNE_COUNTERS).await?,
            insert_awards: client.prepare(INSERT_AWARDS).await?,
            insert_events: client.prepare(INSERT_EVENTS).await?,
            no_fsync: client.prepare("SET LOCAL synchronous_commit = off").await?,
            carried: client.prepare(CARRIED).await?,
            applied: client.prepare(APPLIED).await?,
        })
    }
}

/// Each usage row, created at zero if new, locked in the order given (the
/// upsert's write lock holds until COMMIT); answers what each holds.
const LOCK_USAGE: &str = "INSERT INTO rule_usage (tenant_id, rule_id, holder, period, count, points) \
     SELECT k.tenant_id, k.rule_id, k.holder, k.period, 0, 0 \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY \
     AS k(tenant_id, rule_id, holder, period, n) ORDER BY k.n \
     ON CONFLICT (tenant_id, rule_id, holder, period) DO UPDATE SET count = rule_usage.count \
     RETURNING tenant_id, rule_id, holder, period, count, points";

const ADD_USAGE: &str = "UPDATE rule_usage u SET count = u.count + k.count, points = u.points + k.points \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[]) \
     AS k(tenant_id, rule_id, holder, period, count, points) \
     WHERE u.tenant_id = k.tenant_id AND u.rule_id = k.rule_id AND u.holder = k.holder \
     AND u.period = k.period";

const KEEP_TRAITS: &str = "INSERT INTO member_traits (tenant_id, member_id, kind, name, value, updated_at) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[]) \
     ON CONFLICT (tenant_id, member_id, kind, name) \
     DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

/// An upsert that adds, so concurrent events of one member both count.
const ADD_COUNTERS: &str = "INSERT INTO member_counters (tenant_id, member_id, counter_id, bucket, value) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[]) \
     ON CONFLICT (tenant_id, member_id, counter_id, bucket) \
     DO UPDATE SET value = member_counters.value + excluded.value";

/// Each counter's buckets older than the oldest it keeps.
const PRUNE_COUNTERS: &str = "DELETE FROM member_counters m \
     USING unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(tenant_id, member_id, counter_id, oldest) \
     WHERE m.tenant_id = k.tenant_id AND m.member_id = k.member_id \
     AND m.counter_id = k.counter_id AND m.bucket < k.oldest";

const INSERT_AWARDS: &str = "INSERT INTO awards (tenant_id, event_id, rule_id, rule_name, member_id, \
     currency, points, transfer_id, rule_version) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
     $7::int8[], $8::text[], $9::int4[])";

const INSERT_EVENTS: &str = "INSERT INTO tracked_events (tenant_id, event_id, member_id, event_type, \
     fingerprint, status, occurred_at, created_at, attributes, verdicts) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
     $7::int8[], $8::int8[], $9::text[], $10::text[])";

/// Each award with the transfer that carried it, probed by primary key.
const CARRIED: &str = "UPDATE awards a SET transfer_id = k.transfer_id \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(tenant_id, event_id, rule_id, transfer_id) \
     WHERE a.tenant_id = k.tenant_id AND a.event_id = k.event_id AND a.rule_id = k.rule_id";

/// The events still pending marked applied (`$3`).
const APPLIED: &str = "UPDATE tracked_events e SET status = $3 \
     FROM unnest($1::text[], $2::text[]) AS k(tenant_id, event_id) \
     WHERE e.tenant_id = k.tenant_id AND e.event_id = k.event_id AND e.status <> $3";
