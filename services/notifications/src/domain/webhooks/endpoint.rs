//! An endpoint as an admin puts it, checked: a URL webhooks may reach
//! (`destination`), a short description, and the event types it wants,
//! each one webhooks carry (`payload::EVENT_TYPES`). Its id is an
//! identifier like any other (`Violations::id`).

use questline_kit::{DomainError, Violations};

use super::destination::{self, Allowed};
use super::payload;

/// How long a rotated-out secret may keep signing: a week.
pub const MOST_GRACE_SECONDS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    pub url: String,
    pub description: String,
    /// Sorted, no repeats; empty: every type webhooks carry.
    pub event_types: Vec<String>,
    pub enabled: bool,
}

impl EndpointSpec {
    /// Whether the endpoint wants events of `event_type`.
    pub fn wants(event_types: &[String], event_type: &str) -> bool {
        payload::carries(event_type)
            && (event_types.is_empty() || event_types.iter().any(|t| t == event_type))
    }
}

/// The endpoint an admin asked for, or every way it is wrong.
pub fn spec(
    url: &str,
    description: &str,
    event_types: &[String],
    enabled: bool,
    allowed: &Allowed,
) -> Result<EndpointSpec, DomainError> {
    let mut v = Violations::new();
    if let Err(why) = destination::check_url(url, allowed) {
        v.add("url", why);
    }
    v.optional_text("description", description);
    let mut types: Vec<String> = event_types.to_vec();
    types.sort();
    types.dedup();
    for (i, t) in types.iter().enumerate() {
        if !payload::carries(t) {
            let known = payload::EVENT_TYPES.join(", ");
            v.add(
                &format!("event_types[{i}]"),
                format!("{t:?} is not one of {known}"),
            );
        }
    }
    v.finish()?;
    Ok(EndpointSpec {
        url: url.to_string(),
        description: description.to_string(),
        event_types: types,
        enabled,
    })
}

/// Checks a rotation's grace period.
pub fn check_grace(grace_seconds: i64) -> Result<(), DomainError> {
    if !(0..=MOST_GRACE_SECONDS).contains(&grace_seconds) {
        return Err(DomainError::invalid(
            "grace_seconds",
            "must be 0 to 604800 (7 days)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_good_endpoint_is_kept_with_its_types_sorted_once() {
        let types = strings(&["reward.redeemed", "points.credited", "points.credited"]);
        let spec = spec(
            "https://hooks.brand.example/in",
            "CRM",
            &types,
            true,
            &Allowed::default(),
        )
        .unwrap();
        assert_eq!(spec.event_types, ["points.credited", "reward.redeemed"]);
    }

    #[test]
    fn every_mistake_is_named() {
        let types = strings(&["points.credited", "audit.recorded"]);
        let long = "é".repeat(questline_kit::error::MAX_TEXT + 1);
        let err = spec("http://10.0.0.1/", &long, &types, true, &Allowed::default()).unwrap_err();
        let DomainError::Invalid(violations) = err else {
            panic!("{err:?}")
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["url", "description", "event_types[0]"]);
    }

    #[test]
    fn an_empty_filter_wants_every_carried_type() {
        assert!(EndpointSpec::wants(&[], "points.credited"));
        assert!(!EndpointSpec::wants(&[], "audit.recorded"));
        let only = strings(&["reward.redeemed"]);
        assert!(!EndpointSpec::wants(&only, "points.credited"));
        assert!(EndpointSpec::wants(&only, "reward.redeemed"));
    }

    #[test]
    fn grace_is_at_most_a_week() {
        assert!(check_grace(0).is_ok());
        assert!(check_grace(MOST_GRACE_SECONDS).is_ok());
        assert!(check_grace(-1).is_err());
        assert!(check_grace(MOST_GRACE_SECONDS + 1).is_err());
    }
}
