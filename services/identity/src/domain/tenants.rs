//! Tenants and API clients.

use questline_kit::auth::Scope;
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

/// An IANA zone name such as `Europe/Paris` or `UTC`; empty means `UTC`.
pub fn time_zone(v: &mut Violations, zone: &str) -> String {
    if zone.is_empty() {
        return "UTC".into();
    }
    let ok = zone.len() <= 64
        && zone
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
        && !zone.starts_with('/')
        && !zone.ends_with('/');
    v.check(
        ok,
        "time_zone",
        "must be an IANA time zone name, e.g. Europe/Paris",
    );
    zone.into()
}

/// Scopes an API client may hold: admin and server. Member tokens are issued
/// per member, never to a client.
pub fn client_scopes(raw: &[i32]) -> Result<Vec<Scope>, DomainError> {
    use questline_proto::identity::Scope as Pb;
    if raw.is_empty() {
        return Err(DomainError::invalid(
            "scopes",
            "at least one scope is required",
        ));
    }
    let mut scopes = Vec::new();
    for value in raw {
        let scope = match Pb::try_from(*value) {
            Ok(Pb::Admin) => Scope::Admin,
            Ok(Pb::Server) => Scope::Server,
            _ => {
                return Err(DomainError::invalid(
                    "scopes",
                    "an API client may hold SCOPE_ADMIN and SCOPE_SERVER only",
                ));
            }
        };
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

pub fn scopes_to_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| match s {
            Scope::Operator => "operator",
            Scope::Admin => "admin",
            Scope::Server => "server",
            Scope::Member => "member",
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub fn scopes_from_text(text: &str) -> Vec<Scope> {
    text.split(',')
        .filter_map(|s| match s {
            "operator" => Some(Scope::Operator),
            "admin" => Some(Scope::Admin),
            "server" => Some(Scope::Server),
            "member" => Some(Scope::Member),
            _ => None,
        })
        .collect()
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
    fn clients_never_get_member_or_unknown_scopes() {
        assert!(client_scopes(&[]).is_err());
        assert!(client_scopes(&[3]).is_err());
        assert!(client_scopes(&[99]).is_err());
        assert_eq!(client_scopes(&[2, 2]).unwrap(), vec![Scope::Server]);
        let text = scopes_to_text(&[Scope::Admin, Scope::Server]);
        assert_eq!(scopes_from_text(&text), vec![Scope::Admin, Scope::Server]);
    }

    #[test]
    fn time_zones_default_to_utc() {
        let mut v = Violations::new();
        assert_eq!(time_zone(&mut v, ""), "UTC");
        assert_eq!(time_zone(&mut v, "Europe/Paris"), "Europe/Paris");
        time_zone(&mut v, "../etc/passwd");
        assert!(v.finish().is_err());
    }
}
