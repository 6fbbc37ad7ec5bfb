//! Work notifications does beside answering calls: sending webhooks.

pub mod webhooks;
