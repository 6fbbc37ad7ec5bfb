//! Identity's rules, free of I/O: key formats, token claims, what a valid
//! tenant, client and member look like, and what exchanging an API key for a
//! token requires.

pub mod clients;
pub mod keys;
pub mod members;
pub mod segments;
pub mod tenants;
