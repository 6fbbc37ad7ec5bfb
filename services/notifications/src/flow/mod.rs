//! Work notifications does beside answering calls: keeping each
//! programme's triggers and templates compiled, pushing new inbox messages
//! to the members watching, sending webhooks.

pub mod inbox_feed;
pub mod programmes;
pub mod webhooks;
