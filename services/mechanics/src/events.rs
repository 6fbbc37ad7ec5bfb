//! What the rules engine consumes: `member.upserted`, into its member read
//! model (see `questline_kit::members`). It publishes nothing yet.

/// The inbox name of this service's consumers.
pub const CONSUMER: &str = "mechanics";
