//! Members: the profile they chose to share, their consent, what other
//! services may know of them (`facts`: never a name, email or phone), and the
//! external id an erased member is left with.

use questline_kit::Violations;
use questline_kit::structs;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;

pub const MAX_ATTRIBUTES: usize = 64;
pub const MAX_ATTRIBUTE_TEXT: usize = 1024;
pub const MAX_LIST_ITEMS: usize = 64;

/// A validated, normalised profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub display_name: String,
    /// Lower case.
    pub email: String,
    pub phone: String,
    pub birthday: String,
    pub locale: String,
    /// Upper case.
    pub country: String,
    pub attributes: Map<String, Json>,
}

/// One purpose's current choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEntry {
    pub granted: bool,
    pub at: i64,
    pub source: String,
}

pub type Consent = BTreeMap<String, ConsentEntry>;

/// An erased member keeps its row for the books, its external id replaced by
/// this prefix and its member id: external ids are unique per tenant, so the
/// brand may sign the same person up again, and no brand may claim one.
pub const ERASED_PREFIX: &str = "erased:";

/// The external id an erased member is left with.
pub fn erased_external_id(member_id: &str) -> String {
    format!("{ERASED_PREFIX}{member_id}")
}

/// An external id a brand may give: any text not reserved for erased members.
pub fn validate_external_id(v: &mut Violations, external_id: &str) {
    v.text("external_id", external_id);
    v.check(
        !external_id.starts_with(ERASED_PREFIX),
        "external_id",
        &format!("must not start with '{ERASED_PREFIX}'"),
    );
}

/// Checks every field of `given` (a profile as sent), collecting every
/// problem, and answers it normalised.
pub fn validate_profile(v: &mut Violations, given: Profile) -> Profile {
    v.optional_text("profile.display_name", &given.display_name);
    let email = given.email.trim().to_lowercase();
    v.check(
        email.is_empty() || is_email(&email),
        "profile.email",
        "must be an email address",
    );
    v.check(
        given.phone.is_empty() || is_e164(&given.phone),
        "profile.phone",
        "must be an E.164 number, e.g. +6591234567",
    );
    v.check(
        given.birthday.is_empty() || is_date(&given.birthday),
        "profile.birthday",
        "must be a date YYYY-MM-DD from 1900 on",
    );
    if !given.locale.is_empty() {
        crate::domain::tenants::locale(v, "profile.locale", &given.locale);
    }
    let country = given.country.to_uppercase();
    v.check(
        country.is_empty()
            || (country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase())),
        "profile.country",
        "must be an ISO 3166-1 alpha-2 code, e.g. SG",
    );
    validate_attributes(v, &given.attributes);
    Profile {
        email,
        country,
        ..given
    }
}

fn validate_attributes(v: &mut Violations, attributes: &Map<String, Json>) {
    v.check(
        attributes.len() <= MAX_ATTRIBUTES,
        "profile.attributes",
        "must have at most 64 keys",
    );
    for (key, value) in attributes {
        let key_ok = (1..=64).contains(&key.len())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        v.check(
            key_ok,
            "profile.attributes",
            "keys must be 1 to 64 of letters, digits and '_'",
        );
        let field = format!("profile.attributes.{}", questline_kit::error::clip(key));
        let ok = match value {
            Json::Array(items) => {
                items.len() <= MAX_LIST_ITEMS && items.iter().all(|i| scalar(i) && !i.is_boolean())
            }
            other => scalar(other),
        };
        v.check(
            ok,
            &field,
            "must be a string (up to 1024 characters), number, boolean, or a list of up to 64 strings or numbers",
        );
    }
}

fn scalar(value: &Json) -> bool {
    match value {
        Json::String(s) => {
            s.chars().count() <= MAX_ATTRIBUTE_TEXT && !s.chars().any(char::is_control)
        }
        Json::Number(_) | Json::Bool(_) => true,
        _ => false,
    }
}

fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_e164(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or("x");
    (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1900..=2100).contains(&y) && (1..=days).contains(&d)
}

/// Applies `choices` made at `at` from `source`; true if anything changed.
pub fn choose(
    consent: &mut Consent,
    choices: &[(&'static str, bool)],
    at: i64,
    source: &str,
) -> bool {
    let mut changed = false;
    for (purpose, granted) in choices {
        if consent.get(*purpose).map(|e| e.granted) != Some(*granted) {
            let entry = ConsentEntry {
                granted: *granted,
                at,
                source: source.into(),
            };
            consent.insert((*purpose).into(), entry);
            changed = true;
        }
    }
    changed
}

/// What other services may know: no name, email or phone. Built by the kit,
/// so every service reads a member's facts alike. `joined_ms`: when the
/// member signed up.
pub fn facts(profile: &Profile, consent: &Consent, joined_ms: i64) -> Map<String, Json> {
    let given = questline_kit::members::Facts {
        locale: profile.locale.clone(),
        country: profile.country.clone(),
        birthday: profile.birthday.clone(),
        // Through a Struct and back, as the other services receive them:
        // every number a float, so a rule reads `42` alike everywhere.
        attributes: structs::to_json(structs::from_json(&profile.attributes)),
        joined: questline_kit::time::to_timestamp(joined_ms).to_string(),
    };
    questline_kit::members::facts(given, |name| consent.get(name).is_some_and(|e| e.granted))
}

#[cfg(test)]
mod tests;
