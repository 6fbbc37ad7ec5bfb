//! Work notifications does beside answering calls: keeping each
//! programme's triggers and templates compiled, sending webhooks.

pub mod programmes;
pub mod webhooks;
