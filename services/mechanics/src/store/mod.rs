//! The rules engine's storage: its rules, and each tracked event with the
//! awards it earned, recorded before any point moves.

pub mod entities;
mod export;
pub mod migrations;
mod rules;
mod tracked;

use questline_kit::outbox;
use sea_orm::DatabaseConnection;

pub use tracked::Tracked;

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    relay: outbox::Relay,
}

impl Store {
    pub fn new(db: DatabaseConnection, relay: outbox::Relay) -> Store {
        Store { db, relay }
    }
}
