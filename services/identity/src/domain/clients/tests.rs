//! A client's status and scopes, and every way exchanging a key for a token
//! is refused: all alike but a suspended tenant.

use super::*;
use crate::domain::keys::NewApiKey;

const NOW: i64 = 1_000_000_000;

fn key() -> String {
    NewApiKey::from_random([1; 6], [2; 16]).full()
}

/// A key on file for `key()`, of an active client of an active tenant.
fn on_file() -> KeyOnFile {
    let presented = key();
    KeyOnFile {
        prefix: keys::prefix_of(&presented).unwrap_or_default().into(),
        hash: keys::hash(&presented),
        expires_at: None,
        last_used_at: None,
        client: Some(ClientOnFile {
            client_id: "c1".into(),
            tenant_id: "acme".into(),
            name: "till".into(),
            scopes: vec![Scope::Server],
            status: ClientStatus::Active,
            tenant: Some(TenantStatus::Active),
        }),
    }
}

fn granted(change: impl FnOnce(&mut KeyOnFile)) -> Result<KeyGrant, DomainError> {
    let mut record = on_file();
    change(&mut record);
    grant_for_key(&key(), Some(record), "", NOW)
}

fn client(record: &mut KeyOnFile) -> &mut ClientOnFile {
    record.client.as_mut().unwrap()
}

#[test]
fn client_status_round_trips_through_its_stored_text() {
    for status in [ClientStatus::Active, ClientStatus::Revoked] {
        assert_eq!(ClientStatus::parse(status.as_str()), status);
    }
}

#[test]
fn a_revoked_client_gets_no_new_key() {
    assert!(ClientStatus::Active.may_get_key().is_ok());
    match ClientStatus::Revoked.may_get_key() {
        Err(DomainError::FailedPrecondition { kind, .. }) => assert_eq!(kind, "CLIENT_REVOKED"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn clients_never_get_member_or_unknown_scopes() {
    assert!(client_scopes("acme", []).is_err());
    assert!(client_scopes("acme", [Some(Scope::Member)]).is_err());
    assert!(client_scopes("acme", [Some(Scope::Operator)]).is_err());
    assert!(client_scopes("acme", [Some(Scope::Service)]).is_err());
    assert!(client_scopes("acme", [Some(Scope::Admin), None]).is_err());
    let twice = client_scopes("acme", [Some(Scope::Server), Some(Scope::Server)]);
    assert_eq!(twice.unwrap(), vec![Scope::Server]);
    let text = scopes_to_text(&[Scope::Admin, Scope::Server]);
    assert_eq!(scopes_from_text(&text), vec![Scope::Admin, Scope::Server]);
}

#[test]
fn a_good_key_grants_its_clients_scopes_in_its_tenant() {
    let grant = granted(|_| {}).unwrap();
    assert_eq!(
        grant,
        KeyGrant {
            client_id: "c1".into(),
            tenant_id: "acme".into(),
            scopes: vec![Scope::Server],
            service: String::new(),
            mark_used: Some(on_file().prefix),
        }
    );
    // A key in its grace period still works until its end.
    assert!(granted(|k| k.expires_at = Some(NOW + 1)).is_ok());
}

#[test]
fn a_key_is_refused_alike_whatever_is_wrong() {
    type Change = fn(&mut KeyOnFile);
    let cases: Vec<(&str, Change)> = vec![
        ("another key's hash", |k| k.hash = keys::hash("other")),
        ("ended", |k| k.expires_at = Some(NOW)),
        ("client gone", |k| k.client = None),
        ("client revoked", |k| {
            client(k).status = ClientStatus::Revoked
        }),
        ("tenant gone", |k| client(k).tenant = None),
    ];
    for (name, change) in cases {
        match granted(change) {
            Err(DomainError::Unauthenticated(why)) => {
                assert_eq!(why, "unknown, expired or revoked API key", "{name}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(matches!(
        grant_for_key(&key(), None, "", NOW),
        Err(DomainError::Unauthenticated(_))
    ));
}

#[test]
fn a_tenant_key_acts_for_its_own_tenant_only() {
    let key_on_file = Some(on_file());
    assert!(grant_for_key(&key(), key_on_file.clone(), "acme", NOW).is_ok());
    assert!(matches!(
        grant_for_key(&key(), key_on_file, "globex", NOW),
        Err(DomainError::PermissionDenied(_))
    ));
}

/// `on_file()` as a service client of mechanics, asked for `acting_for`
/// (whose status the store looked up).
fn service_grant(acting_for: &str, tenant: Option<TenantStatus>) -> Result<KeyGrant, DomainError> {
    let mut record = on_file();
    let c = client(&mut record);
    c.tenant_id = SERVICE_CLIENTS.into();
    c.name = "mechanics".into();
    c.scopes = vec![Scope::Service];
    c.tenant = tenant;
    grant_for_key(&key(), Some(record), acting_for, NOW)
}

#[test]
fn a_service_key_acts_for_the_one_tenant_it_names() {
    let grant = service_grant("acme", Some(TenantStatus::Active)).unwrap();
    assert_eq!(
        (grant.tenant_id.as_str(), grant.service.as_str()),
        ("acme", "mechanics")
    );
    assert_eq!(grant.scopes, vec![Scope::Service]);
    assert!(matches!(
        service_grant("", None),
        Err(DomainError::Invalid(_))
    ));
    assert!(matches!(
        service_grant("nowhere", None),
        Err(DomainError::NotFound(_))
    ));
    assert!(matches!(
        service_grant("acme", Some(TenantStatus::Suspended)),
        Err(DomainError::PermissionDenied(_))
    ));
}

#[test]
fn service_clients_hold_the_service_scope_alone_and_name_their_service() {
    let only = client_scopes(SERVICE_CLIENTS, [Some(Scope::Service)]);
    assert_eq!(only.unwrap(), vec![Scope::Service]);
    assert!(client_scopes(SERVICE_CLIENTS, [Some(Scope::Server)]).is_err());
    assert!(client_scopes(SERVICE_CLIENTS, [Some(Scope::Service), Some(Scope::Admin)]).is_err());
    assert!(service_client_name("mechanics").is_ok());
    assert!(service_client_name("identity").is_err());
    assert!(service_client_name("").is_err());
    assert_eq!(
        scopes_from_text(&scopes_to_text(&[Scope::Service])),
        vec![Scope::Service]
    );
}

#[test]
fn a_suspended_tenant_is_named() {
    match granted(|k| client(k).tenant = Some(TenantStatus::Suspended)) {
        Err(DomainError::PermissionDenied(why)) => assert_eq!(why, "tenant acme is suspended"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn last_use_is_noted_at_most_once_a_minute() {
    let recent = granted(|k| k.last_used_at = Some(NOW - LAST_USE_PRECISION_MS + 1));
    assert_eq!(recent.unwrap().mark_used, None);
    let old = granted(|k| k.last_used_at = Some(NOW - LAST_USE_PRECISION_MS));
    assert_eq!(old.unwrap().mark_used, Some(on_file().prefix));
}

#[test]
fn only_the_configured_operator_key_is_the_operator() {
    let hash = keys::hash("operator-secret");
    assert!(is_operator_key("operator-secret", Some(&hash)));
    assert!(!is_operator_key("operator-secret!", Some(&hash)));
    assert!(!is_operator_key("", None));
}
