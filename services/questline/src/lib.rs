//! The `questline` binary's library: running services in one process (the
//! whole mesh for `questline dev` and tests, or one service for a pod) and
//! loading the demo programme.

pub mod demo;
pub mod mesh;
