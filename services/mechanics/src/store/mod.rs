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
use questline_kit::pipelined::Plans::PerExecution;
use questline_kit::{DomainError, outbox};
use sea_orm::{DatabaseConnection, DbBackend};

pub use counters::StoredCounter;
pub use history::Replayed;
pub use lookups::{Known, Reader};
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
    /// The database's URL when it is PostgreSQL: the hot path's batches
    /// open connections of their own there (`pipelined`).
    postgres: Option<String>,
}

impl Store {
    /// The store of the database `db` opened from `url`.
    pub fn new(db: DatabaseConnection, url: &str, relay: outbox::Relay) -> anyhow::Result<Store> {
        let postgres = (db.get_database_backend() == DbBackend::Postgres).then(|| url.to_string());
        let recorder = recorder::Recorder {
            db: db.clone(),
            relay: relay.clone(),
        };
        let marker = match &postgres {
            Some(url) => marks::Marker::Pipelined(Box::new(pipelined::Link::new(
                url,
                "mechanics",
                "marks",
                PerExecution,
            )?)),
            None => marks::Marker::Stepwise(db.clone()),
        };
        Ok(Store {
            relay,
            books: books::Books::default(),
            recorder: Group::start(recorder, recorder::MOST),
            marker: Group::start(marker, marks::MOST),
            db,
            postgres,
        })
    }

    /// Where Track's lookups read (`lookups`), members from `members`.
    pub fn reader(&self, members: MemberDirectory) -> anyhow::Result<Reader> {
        Ok(match &self.postgres {
            Some(url) => Reader::Pipelined(Box::new(pipelined::Link::new(
                url,
                "mechanics",
                "lookup",
                PerExecution,
            )?)),
            None => Reader::Stepwise {
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

    /// Marks each award with the transfer that carried it and the event
    /// applied (`marks`); false when a concurrent call already had.
    pub async fn applied(&self, tracked: &Tracked) -> Result<bool, DomainError> {
        self.marker.submit(marks::Marks::of(tracked)).await
    }
}
