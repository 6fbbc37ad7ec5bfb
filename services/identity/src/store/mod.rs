//! Identity's storage.

mod audit;
mod clients;
pub mod entities;
mod members;
pub mod migrations;
mod segments;
mod signing;
mod tenants;

pub use audit::AuditFilter;
pub use clients::{ClientOutcome, ClientWithKeys, KeyHolder, Rotation};
pub use members::{consent_of, profile_of};
pub use segments::{SegmentChange, membership};
pub use signing::SigningRotation;

use questline_kit::outbox;
use sea_orm::DatabaseConnection;

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
