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
pub mod migrations;
mod retention;
mod rules;
mod schemas;
mod segments;
mod tracked;
mod traits;

use questline_kit::outbox;
use sea_orm::DatabaseConnection;

pub use counters::StoredCounter;
pub use history::Replayed;
pub use retention::RETENTION_DAYS;
pub use rules::{RuleHistory, StoredRule};
pub use schemas::StoredSchema;
pub use tracked::{StoredVerdict, Tracked};

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    relay: outbox::Relay,
    books: books::Books,
}

impl Store {
    pub fn new(db: DatabaseConnection, relay: outbox::Relay) -> Store {
        Store {
            db,
            relay,
            books: books::Books::default(),
        }
    }
}
