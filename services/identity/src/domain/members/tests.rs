//! Profiles checked field by field, consent recorded with when and where,
//! facts without contact details, and the external ids of erased members.

use super::*;
use serde_json::json;

fn object(value: Json) -> Map<String, Json> {
    value.as_object().cloned().unwrap()
}

fn profile(f: impl FnOnce(&mut Profile)) -> Result<Profile, questline_kit::DomainError> {
    let mut given = Profile {
        display_name: "Alice Tan".into(),
        email: "Alice@Example.com".into(),
        phone: "+6591234567".into(),
        birthday: "1990-02-28".into(),
        locale: "en-SG".into(),
        country: "sg".into(),
        attributes: object(json!({"interests": ["coffee", "tea"], "vip": true, "visits": 3})),
    };
    f(&mut given);
    let mut v = Violations::new();
    let checked = validate_profile(&mut v, given);
    v.finish().map(|_| checked)
}

#[test]
fn a_full_profile_is_normalised() {
    let p = profile(|_| {}).unwrap();
    assert_eq!(
        (p.email.as_str(), p.country.as_str()),
        ("alice@example.com", "SG")
    );
    assert_eq!(p.attributes["interests"], json!(["coffee", "tea"]));
    assert!(profile(|p| *p = Profile::default()).is_ok());
}

#[test]
fn every_malformed_field_is_named() {
    type Change = fn(&mut Profile);
    let cases: Vec<(&str, Change)> = vec![
        ("email", |p| p.email = "not-an-email".into()),
        ("email", |p| p.email = "a b@example.com".into()),
        ("phone", |p| p.phone = "91234567".into()),
        ("phone", |p| p.phone = "+1234567890123456".into()),
        ("birthday", |p| p.birthday = "1990-02-30".into()),
        ("birthday", |p| p.birthday = "1899-12-31".into()),
        ("birthday", |p| p.birthday = "31/12/1990".into()),
        ("locale", |p| p.locale = "english".into()),
        ("country", |p| p.country = "SGP".into()),
        ("display_name", |p| p.display_name = "x".repeat(300)),
        ("attributes", |p| {
            p.attributes = object(json!({"nested": {"a": 1}}))
        }),
        ("attributes", |p| {
            p.attributes = object(json!({"bad key": 1}))
        }),
    ];
    for (field, change) in cases {
        let err = profile(change).unwrap_err();
        assert!(format!("{err:?}").contains(field), "{field}: {err:?}");
    }
}

#[test]
fn consent_records_when_and_where_and_facts_carry_no_contact_details() {
    let mut consent = Consent::new();
    assert!(choose(&mut consent, &[("sms", true)], 10, "app"));
    assert!(!choose(&mut consent, &[("sms", true)], 20, "web"));
    assert_eq!(
        consent["sms"],
        ConsentEntry {
            granted: true,
            at: 10,
            source: "app".into()
        }
    );
    // Signed up at 2025-03-01T12:00:00Z.
    let facts = facts(&profile(|_| {}).unwrap(), &consent, 1_740_830_400_000);
    let text = serde_json::to_string(&facts).unwrap();
    for secret in ["Alice", "alice@example.com", "+6591234567"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert_eq!(facts["consent"]["sms"], json!(true));
    assert_eq!(facts["consent"]["push"], json!(false));
    assert_eq!(facts["joined"], json!("2025-03-01T12:00:00Z"));
}

#[test]
fn erased_members_external_ids_are_reserved() {
    let erased = erased_external_id("m1");
    assert_eq!(erased, "erased:m1");
    let mut v = Violations::new();
    validate_external_id(&mut v, &erased);
    let err = v.finish().unwrap_err();
    assert!(
        format!("{err:?}").contains("must not start with 'erased:'"),
        "{err:?}"
    );
    for good in ["alice", "user-erased:1"] {
        let mut v = Violations::new();
        validate_external_id(&mut v, good);
        assert!(v.finish().is_ok(), "{good}");
    }
    let mut v = Violations::new();
    validate_external_id(&mut v, " ");
    assert!(v.finish().is_err());
}
