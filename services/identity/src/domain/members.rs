//! Members and their zero-party profile.

use questline_kit::Violations;
use std::collections::BTreeMap;

pub const MAX_PROFILE_ENTRIES: usize = 64;
pub const MAX_PROFILE_VALUE: usize = 1024;

pub fn validate_profile(v: &mut Violations, profile: &BTreeMap<String, String>) {
    v.check(
        profile.len() <= MAX_PROFILE_ENTRIES,
        "profile",
        "must have at most 64 entries",
    );
    for (key, value) in profile {
        let key_ok = (1..=64).contains(&key.len())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        v.check(
            key_ok,
            "profile",
            "keys must be 1 to 64 of letters, digits and '_'",
        );
        v.check(
            value.chars().count() <= MAX_PROFILE_VALUE,
            &format!("profile.{key}"),
            "must be at most 1024 characters",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_bounded() {
        let mut ok = BTreeMap::new();
        ok.insert("birthday".to_string(), "1990-04-01".to_string());
        let mut v = Violations::new();
        validate_profile(&mut v, &ok);
        assert!(v.finish().is_ok());

        let mut bad = BTreeMap::new();
        bad.insert("bad key".to_string(), "x".repeat(2000));
        let mut v = Violations::new();
        validate_profile(&mut v, &bad);
        assert!(v.finish().is_err());
    }
}
