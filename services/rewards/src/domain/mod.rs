//! The catalogue's and the redemption's rules, free of I/O.
//!
//! Invariants (kept by the store with conditional updates, one transaction per step):
//! 1. Stock never goes below zero: a redemption reserves one unit with
//!    `stock = stock - 1 WHERE stock >= 1`, and a failed one gives it back exactly once.
//! 2. A pool code belongs to at most one redemption, and a redemption holds at
//!    most one code; a failed redemption returns its code to the pool.
//! 3. A redemption id names one request forever (by its fingerprint): a replay
//!    answers the first outcome, or resumes a redemption a crash left half-way.
//! 4. A failed redemption leaves the member's balance and the reward's stock
//!    exactly as before: every step done is undone (hold voided, code returned,
//!    stock given back).

pub mod redemption;
pub mod reward;
pub mod steps;
pub mod voucher;
