//! Protobuf requests to domain values, every bad field reported at once.

use questline_kit::auth::Scope;
use questline_kit::members::PURPOSES;
use questline_kit::time::from_timestamp;
use questline_kit::{DomainError, Violations};
use questline_proto::identity as pb;

use crate::domain::clients;
use crate::domain::members::{self, Profile};
use crate::domain::tenants::{self, TenantChange, TenantStatus};
use crate::store::AuditFilter;

/// A tenant's id and the id (under `field`) of something in it.
pub fn within_tenant(tenant_id: &str, field: &str, id: &str) -> Result<(), DomainError> {
    Violations::new()
        .id("tenant_id", tenant_id)
        .id(field, id)
        .finish()
}

/// The change an update asks for, validated.
pub fn tenant_change(req: &pb::UpdateTenantRequest) -> Result<TenantChange, DomainError> {
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id);
    if let Some(name) = &req.name {
        v.text("name", name);
    }
    let time_zone = req
        .time_zone
        .as_ref()
        .map(|z| tenants::time_zone(&mut v, z));
    let default_locale = req
        .default_locale
        .as_ref()
        .map(|l| tenants::locale(&mut v, "default_locale", l));
    let status = match pb::TenantStatus::try_from(req.status) {
        Ok(pb::TenantStatus::Unspecified) => None,
        Ok(pb::TenantStatus::Active) => Some(TenantStatus::Active),
        Ok(pb::TenantStatus::Suspended) => Some(TenantStatus::Suspended),
        Err(_) => {
            v.add("status", "is not a TenantStatus");
            None
        }
    };
    v.finish()?;
    Ok(TenantChange {
        name: req.name.clone(),
        time_zone,
        default_locale,
        status,
    })
}

/// The scopes a new API client of `tenant_id` asks for.
pub fn client_scopes(tenant_id: &str, raw: &[i32]) -> Result<Vec<Scope>, DomainError> {
    clients::client_scopes(
        tenant_id,
        raw.iter().map(|value| match pb::Scope::try_from(*value) {
            Ok(pb::Scope::Admin) => Some(Scope::Admin),
            Ok(pb::Scope::Server) => Some(Scope::Server),
            Ok(pb::Scope::Member) => Some(Scope::Member),
            Ok(pb::Scope::Service) => Some(Scope::Service),
            Ok(pb::Scope::Unspecified) | Err(_) => None,
        }),
    )
}

/// A member's profile as sent, checked and normalised.
pub fn profile(v: &mut Violations, given: pb::Profile) -> Profile {
    let given = Profile {
        display_name: given.display_name,
        email: given.email,
        phone: given.phone,
        birthday: given.birthday,
        locale: given.locale,
        country: given.country,
        attributes: questline_kit::structs::to_json(given.attributes.unwrap_or_default()),
    };
    members::validate_profile(v, given)
}

/// Consent choices by purpose name; a value naming no purpose is a violation.
pub fn consent_choices(
    v: &mut Violations,
    choices: &[pb::ConsentChoice],
) -> Vec<(&'static str, bool)> {
    choices
        .iter()
        .filter_map(|c| {
            let name = PURPOSES
                .iter()
                .find(|(_, p)| *p as i32 == c.purpose)
                .map(|(name, _)| *name);
            v.check(
                name.is_some(),
                "choices.purpose",
                "must be a ConsentPurpose",
            );
            name.map(|n| (n, c.granted))
        })
        .collect()
}

/// What `ListAuditEntries` narrows to.
pub fn audit_filter(req: &pb::ListAuditEntriesRequest) -> Result<AuditFilter, DomainError> {
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id);
    if !req.client_id.is_empty() {
        v.id("client_id", &req.client_id);
    }
    let prefix_ok = req.action_prefix.len() <= 200
        && req
            .action_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '/');
    v.check(
        prefix_ok,
        "action_prefix",
        "must be up to 200 of letters, digits, '.' and '/'",
    );
    // A window that ends before it starts holds nothing, as in the ledger's history.
    let since_ms = req.since.as_ref().map(from_timestamp);
    let until_ms = req.until.as_ref().map(from_timestamp);
    v.finish()?;
    Ok(AuditFilter {
        client_id: req.client_id.clone(),
        action_prefix: req.action_prefix.clone(),
        since_ms,
        until_ms,
    })
}
