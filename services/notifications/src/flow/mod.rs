//! Work notifications does beside answering calls: keeping each
//! programme's triggers and templates compiled, pushing new inbox messages
//! to the members watching, sending webhooks, and sending email, push and
//! SMS through their providers.

pub mod dispatcher;
pub mod inbox_feed;
pub mod programmes;
pub mod providers;
mod sending;
pub mod upstream;
pub mod webhooks;
