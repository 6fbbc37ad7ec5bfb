//! The rules engine's logic, free of I/O.
//!
//! A rule listens to one event type. When its CEL `condition` holds for the
//! event and the member, it awards `floor(points)` of its currency. Awards are
//! applied through the ledger under the idempotency key `track:` followed by
//! the hex SHA-256 of the length-prefixed event id and rule id
//! (`track::award_key`), so an event is counted once per rule however often it
//! is tracked or retried.

pub mod rules;
pub mod track;
