//! The rules engine's logic, free of I/O.
//!
//! An event is judged by the rule versions in force at its occurrence time
//! (`versions`), each considered then settled against caps and budgets
//! (`judge`). Awards are applied through the ledger under the idempotency
//! key `track:` followed by the hex SHA-256 of the length-prefixed event id
//! and rule id (`track::award_key`), so an event is counted once per rule
//! however often it is tracked or retried.

pub mod backtest;
pub mod book;
pub mod counters;
pub mod judge;
pub mod rules;
pub mod schemas;
pub mod track;
pub mod triggers;
