//! The rules engine's storage: rules and their versions, each tracked event
//! with how it was judged and what it awarded (recorded before any point
//! moves), caps and budgets usage, and the traits rules set on members.

mod activity;
mod books;
mod counters;
pub mod entities;
mod erasure;
mod export;
mod history;
mod lookups;
mod marks;
pub mod migrations;
mod outcomes;
mod pipelined;
mod recorder;
mod retention;
mod rules;
mod schemas;
mod segments;
mod tracked;
mod traits;

use questline_kit::group::Group;
use questline_kit::members::MemberDirectory;
use questline_kit::{DomainError, outbox};
use sea_orm::DatabaseConnection;

pub use counters::StoredCounter;
pub use history::Replayed;
pub use lookups::{Known, Reader};
use pipelined::Engine;
pub use recorder::{Recorded, Recording};
pub use retention::RETENTION_DAYS;
pub use rules::{RuleHistory, StoredRule};
pub use schemas::StoredSchema;
pub use tracked::{StoredVerdict, Tracked};

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    relay: outbox::Relay,
    books: books::Books,
    recorder: Group<recorder::Recorder>,
    marker: Group<marks::Marker>,
    /// The database's URL: on PostgreSQL, Track's batches open
    /// connections of their own (`pipelined`).
    url: String,
}

impl Store {
    /// The store of the database `db` opened from `url`.
    pub fn new(db: DatabaseConnection, url: &str, relay: outbox::Relay) -> anyhow::Result<Store> {
        let recorder = recorder::Recorder {
            engine: Engine::open(&db, url, "record")?,
            relay: relay.clone(),
        };
        let marker = marks::Marker(Engine::open(&db, url, "marks")?);
        Ok(Store {
            relay,
            books: books::Books::default(),
            recorder: Group::start(recorder, recorder::MOST),
            marker: Group::start_gathering(marker, marks::MOST, marks::GATHER),
            db,
            url: url.to_string(),
        })
    }

    /// Where Track's lookups read (`lookups`), members from `members`.
    pub fn reader(&self, members: MemberDirectory) -> anyhow::Result<Reader> {
        Ok(match Engine::open(&self.db, &self.url, "lookup")? {
            Engine::Pipelined(link) => Reader::Pipelined(link),
            Engine::Stepwise(_) => Reader::Stepwise {
                store: Box::new(self.clone()),
                members,
            },
        })
    }

    /// Records a first-seen event with whatever others wait beside it
    /// (`recorder`). A concurrent record of the same event id is ABORTED.
    pub async fn record(&self, recording: Recording) -> Result<Recorded, DomainError> {
        self.recorder.submit(recording).await
    }

    /// Hands over the marks of a credited event: each award with the
    /// transfer that carried it, and the event applied (`marks`).
    pub async fn applied(&self, tracked: &Tracked) -> Result<(), DomainError> {
        self.marker.hand_over(marks::Marks::of(tracked)).await
    }
}
