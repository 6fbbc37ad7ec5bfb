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
mod marks;
pub mod migrations;
mod recorder;
mod retention;
mod rules;
mod schemas;
mod segments;
mod tracked;
mod traits;

use questline_kit::group::Group;
use questline_kit::{DomainError, outbox};
use sea_orm::DatabaseConnection;

pub use counters::StoredCounter;
pub use history::Replayed;
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
}

impl Store {
    pub fn new(db: DatabaseConnection, relay: outbox::Relay) -> Store {
        let recorder = recorder::Recorder {
            db: db.clone(),
            relay: relay.clone(),
        };
        Store {
            relay,
            books: books::Books::default(),
            recorder: Group::start(recorder, recorder::MOST),
            marker: Group::start(marks::Marker { db: db.clone() }, marks::MOST),
            db,
        }
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
