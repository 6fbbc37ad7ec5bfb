//! What messages a member, and the words it uses. Pure: no I/O.
//!
//! Rules:
//! 1. An event messages its member when a trigger names its type: the
//!    programme's own, else the built-in one (`triggers`).
//! 2. One event gives at most one message per channel (the store enforces it).
//! 3. The words come from the first template in fallback order that renders,
//!    never a half-filled one (`templates`).
//! 4. A message goes only where the member lets it: preferences, consent
//!    for marketing, caps, quiet hours (`respect`, `caps`, `quiet_hours`).

pub mod caps;
pub mod channels;
pub mod quiet_hours;
pub mod respect;
pub mod templates;
#[cfg(test)]
pub(crate) mod test_support;
pub mod triggers;
pub mod unsubscribe;
pub mod variables;
pub mod webhooks;

/// The locale used when neither the member's nor the programme's has words.
pub const DEFAULT_LOCALE: &str = "en";

/// A rendered message: the inbox shows `title` and `body`; an email also
/// has its subject in `title` and, when its template has one, `html`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    pub title: String,
    pub body: String,
    pub html: String,
}
