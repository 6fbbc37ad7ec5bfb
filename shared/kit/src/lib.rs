//! What every Questline service shares: configuration, telemetry, the gRPC host
//! and clients, authentication, error mapping, storage, and the event plumbing
//! (outbox, inbox, bus). Written once here, never copied into a service.

pub mod access;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod bus;
pub mod client;
pub mod config;
pub mod credential;
pub mod db;
pub mod deadline;
pub mod error;
pub mod events;
pub mod export;
pub mod expr;
pub mod fingerprint;
pub mod group;
pub mod inbox;
pub mod members;
pub mod meter;
pub mod outbox;
pub mod paging;
pub mod pipelined;
pub mod server;
pub mod service;
pub mod statistics;
pub mod structs;
pub mod telemetry;
pub mod time;

pub use error::{DomainError, Violations};

/// The PostgreSQL server the storage tests also run against, when set
/// (`QUESTLINE_TEST_POSTGRES_URL`); without it they pass at once.
#[cfg(test)]
fn test_postgres_url() -> Option<String> {
    std::env::var("QUESTLINE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// `N` bytes from the operating system's secure random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], DomainError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(DomainError::internal)?;
    Ok(bytes)
}

/// A new time-ordered id (UUIDv7), used for every entity and event.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
