//! What webhooks carry: the domain event types a brand's systems act on.

/// The domain event types a webhook can carry: what a brand's systems act
/// on. Installation housekeeping (keys, clients, audit) stays inside.
pub const EVENT_TYPES: &[&str] = &[
    "member.upserted",
    "member.consent_changed",
    "member.erased",
    "points.credited",
    "points.debited",
    "points.expired",
    "reward.redeemed",
    "rule.message",
    "rule.changed",
    "segment.changed",
    "message.dispatched",
    "message_preferences.changed",
];

/// Whether webhooks carry events of `event_type`.
pub fn carries(event_type: &str) -> bool {
    EVENT_TYPES.contains(&event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_brand_acts_on_is_carried() {
        assert!(carries("points.credited"));
        assert!(carries("member.erased"));
        for inside in [
            "audit.recorded",
            "signing_key.retired",
            "api_client.revoked",
            "tenant.updated",
            "nope",
        ] {
            assert!(!carries(inside), "{inside}");
        }
    }
}
