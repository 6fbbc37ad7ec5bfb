//! Tenants: what a valid tenant id, time zone and locale look like, and
//! whether a tenant may act.

use questline_kit::{DomainError, Violations};

/// A tenant id is part of URLs and bus subjects: `[a-z0-9-]`, 3 to 63 long,
/// starting with a letter.
pub fn validate_tenant_id(v: &mut Violations, tenant_id: &str) {
    let ok = (3..=63).contains(&tenant_id.len())
        && tenant_id.starts_with(|c: char| c.is_ascii_lowercase())
        && tenant_id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    v.check(
        ok,
        "tenant_id",
        "must be 3 to 63 of a-z, 0-9 and '-', starting with a letter",
    );
}

/// An IANA zone name such as `Europe/Paris` or `UTC`, known to the bundled
/// time zone database (so every machine agrees); empty means `UTC`.
pub fn time_zone(v: &mut Violations, zone: &str) -> String {
    if zone.is_empty() {
        return "UTC".into();
    }
    v.check(
        zone.len() <= 64 && jiff::tz::TimeZone::get(zone).is_ok(),
        "time_zone",
        "must be an IANA time zone name, e.g. Europe/Paris",
    );
    zone.into()
}

/// A BCP 47 language tag such as `en`, `fr-FR` or `zh-Hant-TW`; empty means `en`.
pub fn locale(v: &mut Violations, field: &str, tag: &str) -> String {
    if tag.is_empty() {
        return "en".into();
    }
    v.locale(field, tag);
    tag.into()
}

/// Whether a tenant may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }

    pub fn parse(text: &str) -> TenantStatus {
        if text == "suspended" {
            TenantStatus::Suspended
        } else {
            TenantStatus::Active
        }
    }

    /// A suspended tenant's clients, members and admins may not act.
    pub fn require_active(self, tenant_id: &str) -> Result<(), DomainError> {
        match self {
            TenantStatus::Active => Ok(()),
            TenantStatus::Suspended => Err(DomainError::PermissionDenied(format!(
                "tenant {tenant_id} is suspended"
            ))),
        }
    }
}

/// The settings an update may change; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantChange {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub default_locale: Option<String>,
    pub status: Option<TenantStatus>,
}

/// The longest a replaced credential keeps working (an API key's grace, a
/// signing key's overlap): 7 days.
pub const MAX_GRACE_SECONDS: i64 = 7 * 24 * 3600;

pub fn grace_seconds(v: &mut Violations, field: &str, grace: i64) -> i64 {
    v.check(
        (0..=MAX_GRACE_SECONDS).contains(&grace),
        field,
        "must be 0 to 604800 (7 days)",
    );
    grace
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_url_and_subject_safe() {
        for good in ["acme", "snapping-saturday", "t42"] {
            let mut v = Violations::new();
            validate_tenant_id(&mut v, good);
            assert!(v.finish().is_ok(), "{good}");
        }
        for bad in [
            "",
            "ab",
            "Acme",
            "acme.prod",
            "1acme",
            "a b c",
            &"a".repeat(64),
        ] {
            let mut v = Violations::new();
            validate_tenant_id(&mut v, bad);
            assert!(v.finish().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_an_active_tenant_may_act() {
        for status in [TenantStatus::Active, TenantStatus::Suspended] {
            assert_eq!(TenantStatus::parse(status.as_str()), status);
        }
        assert!(TenantStatus::Active.require_active("acme").is_ok());
        match TenantStatus::Suspended.require_active("acme") {
            Err(DomainError::PermissionDenied(why)) => assert_eq!(why, "tenant acme is suspended"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn locales_are_language_tags() {
        for good in ["", "en", "fr-FR", "zh-Hant-TW", "es-419"] {
            let mut v = Violations::new();
            locale(&mut v, "default_locale", good);
            assert!(v.finish().is_ok(), "{good}");
        }
        for bad in ["e", "english", "en_GB", "fr-", "-fr", "en-a", "<script>"] {
            let mut v = Violations::new();
            locale(&mut v, "default_locale", bad);
            assert!(v.finish().is_err(), "{bad}");
        }
    }

    #[test]
    fn grace_is_bounded() {
        let mut v = Violations::new();
        grace_seconds(&mut v, "grace_seconds", 0);
        grace_seconds(&mut v, "grace_seconds", MAX_GRACE_SECONDS);
        assert!(v.finish().is_ok());
        for bad in [-1, MAX_GRACE_SECONDS + 1, i64::MAX, i64::MIN] {
            let mut v = Violations::new();
            grace_seconds(&mut v, "grace_seconds", bad);
            assert!(v.finish().is_err(), "{bad}");
        }
    }

    #[test]
    fn time_zones_default_to_utc_and_must_exist() {
        let mut v = Violations::new();
        assert_eq!(time_zone(&mut v, ""), "UTC");
        assert_eq!(time_zone(&mut v, "Europe/Paris"), "Europe/Paris");
        assert!(v.finish().is_ok());
        for unknown in ["../etc/passwd", "Mars/Olympus_Mons", "Europe/Pariss"] {
            let mut v = Violations::new();
            time_zone(&mut v, unknown);
            assert!(v.finish().is_err(), "{unknown}");
        }
    }
}
