//! What the rules engine consumes: `member.upserted`, into its member read
//! model (see `questline_kit::members`). It publishes only audit entries.

/// The `source` of the events it writes.
pub const SOURCE: &str = "mechanics";

/// The inbox name of this service's consumers.
pub const CONSUMER: &str = "mechanics";
