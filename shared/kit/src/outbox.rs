//! Transactional outbox. A service stages its events in the same database
//! transaction as the state change they describe; the relay publishes them to
//! the bus afterwards and marks them published. A crash between the two only
//! delays an event, and a duplicate publish is absorbed by consumers' inboxes.

use prost::Message;
use questline_proto::events::Event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, binary, string};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::admin::Sampler;
use crate::bus::EventBus;
use crate::meter;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        pub event_type: String,
        pub payload: Vec<u8>,
        pub created_at: i64,
        pub published_at: Option<i64>,
        /// The member the event is about, or empty: lets an erasure find them.
        pub subject: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Adds the outbox's `subject` column; every producing service lists it after `CreateOutbox`.
pub struct AddOutboxSubject;

impl MigrationName for AddOutboxSubject {
    fn name(&self) -> &str {
        "m0001_kit_add_outbox_subject"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddOutboxSubject {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("outbox")
                    .add_column(string("subject").default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_subject")
                    .table("outbox")
                    .col("subject")
                    .to_owned(),
            )
            .await
    }
}

/// Replaces `outbox_pending` with an index of the unpublished rows alone,
/// in the relay's order; every producing service lists it last among the
/// outbox's. A look for pending rows then walks those and the published
/// ones not yet vacuumed away, not every row the table ever held.
pub struct IndexUnpublishedOutbox;

impl MigrationName for IndexUnpublishedOutbox {
    fn name(&self) -> &str {
        "m0002_kit_index_unpublished_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndexUnpublishedOutbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("outbox_unpublished")
                    .table("outbox")
                    .col("created_at")
                    .col("event_id")
                    .and_where(Expr::col("published_at").is_null())
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("outbox_pending")
                    .table("outbox")
                    .to_owned(),
            )
            .await
    }
}

/// Adds the `outbox` table; every producing service lists it in its migrator.
pub struct CreateOutbox;

impl MigrationName for CreateOutbox {
    fn name(&self) -> &str {
        "m0000_kit_create_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOutbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("outbox")
                    .if_not_exists()
                    .col(string("event_id").primary_key())
                    .col(string("event_type"))
                    .col(binary("payload"))
                    .col(big_integer("created_at"))
                    .col(big_integer_null("published_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_pending")
                    .table("outbox")
                    .col("published_at")
                    .col("created_at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}

/// Writes `event` in the caller's transaction.
pub async fn stage<C: ConnectionTrait>(conn: &C, event: &Event) -> Result<(), DbErr> {
    stage_all(conn, std::slice::from_ref(event)).await
}

/// Writes `events` in the caller's transaction, in one statement per few hundred.
pub async fn stage_all<C: ConnectionTrait>(conn: &C, events: &[Event]) -> Result<(), DbErr> {
    crate::db::insert_all(conn, rows(events), None).await
}

/// The outbox rows of `events`, one each, staged now.
pub fn rows(events: &[Event]) -> Vec<entity::Model> {
    let now = crate::time::now_ms();
    events.iter().map(|event| row(event, now)).collect()
}

fn row(event: &Event, now: i64) -> entity::Model {
    entity::Model {
        event_id: event.event_id.clone(),
        event_type: event.r#type.clone(),
        payload: crate::events::encode(event),
        created_at: now,
        published_at: None,
        subject: event.subject.clone(),
    }
}

/// `event_type` of a parcel: one row holding the events of one transaction.
pub const PARCEL: &str = "questline.outbox.parcel";

/// The outbox row of `events` as one parcel (a single event keeps a row of
/// its own), for a writer that stages many at once: it then writes one row
/// and its index entries, and the relay reads and marks one. A parcel is
/// named after its first event and about no one subject, so an erasure
/// does not find it: parcels suit events that carry no personal data.
pub fn parcel(events: &[Event]) -> Option<entity::Model> {
    let now = crate::time::now_ms();
    match events {
        [] => None,
        [event] => Some(row(event, now)),
        [first, ..] => {
            let payload = events
                .iter()
                .flat_map(Message::encode_length_delimited_to_vec)
                .collect();
            Some(entity::Model {
                event_id: first.event_id.clone(),
                event_type: PARCEL.into(),
                payload,
                created_at: now,
                published_at: None,
                subject: String::new(),
            })
        }
    }
}

/// The events a row holds: its own, or a parcel's.
fn unpack(row: &entity::Model) -> Result<Vec<Event>, prost::DecodeError> {
    if row.event_type != PARCEL {
        return Ok(vec![crate::events::decode(&row.payload)?]);
    }
    let mut events = Vec::new();
    let mut rest = row.payload.as_slice();
    while !rest.is_empty() {
        events.push(Event::decode_length_delimited(&mut rest)?);
    }
    Ok(events)
}

/// The same rows as one PostgreSQL statement of column arrays (`$1` event
/// ids, `$2` types, `$3` payloads, `$4` times, `$5` subjects), for a
/// writer that sends its statements itself.
pub const INSERT_ARRAYS: &str = "INSERT INTO outbox (event_id, event_type, payload, created_at, subject) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int8[], $5::text[])";

/// Drops every staged or published event about `subject` (an erased member):
/// those not yet sent need not reach anyone now.
pub async fn forget_subject<C: ConnectionTrait>(conn: &C, subject: &str) -> Result<(), DbErr> {
    entity::Entity::delete_many()
        .filter(entity::Column::Subject.eq(subject))
        .exec(conn)
        .await?;
    Ok(())
}

/// Publishes staged events, oldest first. Cheap to clone; `wake` after a commit
/// so events leave at once instead of at the next poll.
///
/// A wake-up looks only at rows staged since shortly before the newest one
/// it published (`LATE_COMMIT_MS`): the index still holds entries of rows
/// published since the last vacuum, and a look from the start would walk
/// them all, thousands a second under load. A full look runs at least once
/// per `POLL` and finds any row whose transaction committed later than
/// that, or whose writer's clock was behind.
#[derive(Clone)]
pub struct Relay {
    db: DatabaseConnection,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    /// The service whose outbox this is, as its metrics name it.
    service: &'static str,
}

const BATCH: u64 = 100;
const POLL: Duration = Duration::from_secs(1);
/// How long a look waits after a wake-up for more commits to join it.
const GATHER: Duration = Duration::from_millis(50);
/// How long before its commit a row may have been staged and still be
/// found by a quick look, in ms.
const LATE_COMMIT_MS: i64 = 250;

/// What one look published: how many rows, and when the newest was staged.
pub struct Published {
    pub rows: usize,
    pub newest: Option<i64>,
}

impl Relay {
    pub fn new(db: DatabaseConnection, bus: Arc<dyn EventBus>, service: &'static str) -> Relay {
        metrics::counter!(meter::OUTBOX_PUBLISHED, "questline_service" => service).increment(0);
        Relay {
            db,
            bus,
            wake: Arc::new(Notify::new()),
            service,
        }
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Passes on a write's answer, waking the relay when the write says it
    /// staged an event (`staged`), so no caller repeats the check.
    pub fn woken<T>(&self, (answer, staged): (T, bool)) -> T {
        if staged {
            self.wake();
        }
        answer
    }

    /// Runs until `shutdown`, publishing whatever is pending.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut resume_from: Option<i64> = None;
        let mut last_full: Option<Instant> = None;
        loop {
            let full = last_full.is_none_or(|at| at.elapsed() >= POLL);
            if full {
                last_full = Some(Instant::now());
            }
            let from = if full { None } else { resume_from };
            let published = tokio::select! {
                _ = shutdown.cancelled() => return,
                published = self.publish_pending(from) => published,
            };
            let pause = match published {
                Ok(published) => {
                    let start = published.newest.map(|t| t - LATE_COMMIT_MS);
                    resume_from = Ord::max(resume_from, start);
                    if published.rows as u64 == BATCH {
                        Duration::ZERO
                    } else {
                        POLL
                    }
                }
                Err(err) => {
                    tracing::warn!(%err, "outbox relay: publish failed, will retry");
                    POLL
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
            // Commits that follow within GATHER leave in the same look:
            // under load one look per commit costs more than the wait.
            if !pause.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(GATHER) => {}
                }
            }
        }
    }

    /// Publishes one batch of pending rows staged at or after `from` (ms;
    /// all of them without), their events in one call to the bus.
    pub async fn publish_pending(&self, from: Option<i64>) -> anyhow::Result<Published> {
        use entity::Column;
        let mut pending = entity::Entity::find().filter(Column::PublishedAt.is_null());
        if let Some(from) = from {
            pending = pending.filter(Column::CreatedAt.gte(from));
        }
        let pending = pending
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::EventId)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let newest = pending.iter().map(|row| row.created_at).max();
        if pending.is_empty() {
            return Ok(Published { rows: 0, newest });
        }
        let mut events = Vec::with_capacity(pending.len());
        for row in &pending {
            events.extend(unpack(row)?);
        }
        let count = events.len() as u64;
        self.publish(events).await?;
        // One statement marks the whole batch; a crash before it only
        // publishes these again, and consumers' inboxes absorb repeats.
        entity::Entity::update_many()
            .col_expr(Column::PublishedAt, Expr::value(crate::time::now_ms()))
            .filter(Column::EventId.is_in(pending.iter().map(|row| row.event_id.as_str())))
            .exec(&self.db)
            .await?;
        metrics::counter!(meter::OUTBOX_PUBLISHED, "questline_service" => self.service)
            .increment(count);
        Ok(Published {
            rows: pending.len(),
            newest,
        })
    }

    /// Publishes each event under a PRODUCER span, whose context the event
    /// then carries, so its consumers' spans hang under the publish.
    async fn publish(&self, mut events: Vec<Event>) -> anyhow::Result<()> {
        let spans: Vec<tracing::Span> = events
            .iter_mut()
            .map(|event| {
                let route = self.bus.route(event);
                let span = crate::events::producing_span(self.service, event, &route);
                event.trace_context = crate::telemetry::context_map(&span);
                span
            })
            .collect();
        crate::events::in_spans(&spans, self.bus.publish(&events)).await
    }
}

/// The backlog figures: how many rows wait, and since when.
#[async_trait::async_trait]
impl Sampler for Relay {
    async fn sample(&self) -> anyhow::Result<()> {
        use entity::Column;
        let (pending, oldest): (i64, Option<i64>) = entity::Entity::find()
            .select_only()
            .column_as(Expr::col(Column::EventId).count(), "pending")
            .column_as(Expr::col(Column::CreatedAt).min(), "oldest")
            .filter(Column::PublishedAt.is_null())
            .into_tuple()
            .one(&self.db)
            .await?
            .unwrap_or((0, None));
        let lag_ms = oldest.map_or(0, |t| Ord::max(crate::time::now_ms() - t, 0));
        let service = self.service;
        metrics::gauge!(meter::OUTBOX_PENDING, "questline_service" => service).set(pending as f64);
        metrics::gauge!(meter::OUTBOX_LAG, "questline_service" => service)
            .set(lag_ms as f64 / 1000.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use questline_proto::events::event::Payload;
    use questline_proto::events::{PointsCredited, TenantUpdated};

    fn credited(member: &str, amount: i64) -> Event {
        crate::events::new_event(
            "acme",
            "ledger",
            member,
            Payload::PointsCredited(PointsCredited {
                member_id: member.into(),
                currency: "stars".into(),
                amount,
                ..Default::default()
            }),
        )
    }

    /// Keeps every event handed to it.
    #[derive(Default)]
    struct Seen(std::sync::Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl crate::bus::EventHandler for Seen {
        async fn handle(&self, event: &Event) -> Result<(), crate::DomainError> {
            self.0.lock().unwrap().push(event.event_id.clone());
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_row_committed_late_is_left_to_the_full_look() {
        use crate::bus::{EventBus, MemoryBus};
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let manager = SchemaManager::new(&db);
        CreateOutbox.up(&manager).await.unwrap();
        AddOutboxSubject.up(&manager).await.unwrap();
        IndexUnpublishedOutbox.up(&manager).await.unwrap();
        let bus = Arc::new(MemoryBus::expecting(&["seen"]));
        let seen = Arc::new(Seen::default());
        let shutdown = CancellationToken::new();
        bus.subscribe("seen", seen.clone(), shutdown.clone())
            .await
            .unwrap();
        let relay = Relay::new(db.clone(), bus, "test");

        let first = credited("m1", 5);
        stage(&db, &first).await.unwrap();
        let published = relay.publish_pending(None).await.unwrap();
        let newest = published.newest.unwrap();
        assert_eq!(published.rows, 1);

        // Staged a second before the first, committed after it.
        let late = credited("m2", 7);
        let mut row = row(&late, newest - 1000);
        row.subject = "m2".into();
        entity::Entity::insert(sea_orm::IntoActiveModel::into_active_model(row))
            .exec(&db)
            .await
            .unwrap();
        let quick = relay
            .publish_pending(Some(newest - LATE_COMMIT_MS))
            .await
            .unwrap();
        assert_eq!(quick.rows, 0);
        let full = relay.publish_pending(None).await.unwrap();
        assert_eq!(full.rows, 1);
        assert_eq!(relay.publish_pending(None).await.unwrap().rows, 0);
        assert_eq!(
            *seen.0.lock().unwrap(),
            [first.event_id.clone(), late.event_id.clone()]
        );
        shutdown.cancel();
    }

    #[test]
    fn a_parcel_gives_back_its_events_in_order() {
        let events = [credited("m1", 5), credited("m2", 7), credited("m1", 1)];
        let row = parcel(&events).unwrap();
        assert_eq!(
            (
                row.event_type.as_str(),
                row.event_id.as_str(),
                row.subject.as_str()
            ),
            (PARCEL, events[0].event_id.as_str(), "")
        );
        assert_eq!(unpack(&row).unwrap(), events.to_vec());
    }

    #[test]
    fn one_event_keeps_a_row_of_its_own_and_none_stages_nothing() {
        assert!(parcel(&[]).is_none());
        let event = crate::events::new_event(
            "acme",
            "identity",
            "",
            Payload::TenantUpdated(TenantUpdated::default()),
        );
        let row = parcel(std::slice::from_ref(&event)).unwrap();
        assert_eq!(row.event_type, event.r#type);
        assert_eq!(unpack(&row).unwrap(), vec![event]);
    }

    #[test]
    fn a_damaged_parcel_is_an_error_not_fewer_events() {
        let mut row = parcel(&[credited("m1", 5), credited("m2", 7)]).unwrap();
        row.payload.truncate(row.payload.len() - 3);
        assert!(unpack(&row).is_err());
    }
}
