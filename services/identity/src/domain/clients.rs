//! API clients: whether a client may still act, the scopes it may hold, and
//! what exchanging one of its API keys for a token requires of the key, the
//! client and the client's tenant.
//!
//! A refused key answers the same whatever was wrong with it (unknown,
//! mistyped, ended, its client revoked or its tenant gone), so a caller learns
//! nothing of which; only a suspended tenant is named, as its admins can act
//! on that.

use questline_kit::DomainError;
use questline_kit::auth::Scope;
use questline_kit::events::INSTALLATION;

use super::keys;
use super::tenants::TenantStatus;

/// Whether a client's keys still work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStatus {
    Active,
    Revoked,
}

impl ClientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientStatus::Active => "active",
            ClientStatus::Revoked => "revoked",
        }
    }

    pub fn parse(text: &str) -> ClientStatus {
        if text == "revoked" {
            ClientStatus::Revoked
        } else {
            ClientStatus::Active
        }
    }

    /// A revoked client gets no new key.
    pub fn may_get_key(self) -> Result<(), DomainError> {
        match self {
            ClientStatus::Active => Ok(()),
            ClientStatus::Revoked => Err(DomainError::precondition(
                "CLIENT_REVOKED",
                "client_id",
                "a revoked client gets no new key",
            )),
        }
    }
}

/// The tenant service clients are filed under: they belong to the
/// installation and act for one tenant per token.
pub const SERVICE_CLIENTS: &str = INSTALLATION;

/// The services that may hold a service client (identity reads its own
/// database and needs none).
pub const SERVICES: [&str; 4] = ["ledger", "mechanics", "rewards", "notifications"];

/// Scopes an API client of `tenant_id` may hold: admin and server in a
/// tenant, service alone for a service client. Member tokens are issued per
/// member, never to a client. `None` stands for a requested value that names
/// no scope.
pub fn client_scopes(
    tenant_id: &str,
    requested: impl IntoIterator<Item = Option<Scope>>,
) -> Result<Vec<Scope>, DomainError> {
    let service_client = tenant_id == SERVICE_CLIENTS;
    let mut scopes = Vec::new();
    for scope in requested {
        let scope = match scope {
            Some(scope @ (Scope::Admin | Scope::Server)) if !service_client => scope,
            Some(Scope::Service) if service_client => Scope::Service,
            _ if service_client => {
                return Err(DomainError::invalid(
                    "scopes",
                    "a service client holds SCOPE_SERVICE only",
                ));
            }
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
    if scopes.is_empty() {
        return Err(DomainError::invalid(
            "scopes",
            "at least one scope is required",
        ));
    }
    Ok(scopes)
}

/// A service client is named after the service it stands for.
pub fn service_client_name(name: &str) -> Result<(), DomainError> {
    if SERVICES.contains(&name) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "name",
            format!("a service client is named after its service: one of {SERVICES:?}"),
        ))
    }
}

pub fn scopes_to_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| match s {
            Scope::Operator => "operator",
            Scope::Admin => "admin",
            Scope::Server => "server",
            Scope::Member => "member",
            Scope::Service => "service",
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
            "service" => Some(Scope::Service),
            _ => None,
        })
        .collect()
}

/// Last use is kept to the minute: a token request writes at most once a
/// minute per key.
pub const LAST_USE_PRECISION_MS: i64 = 60_000;

/// What the store holds under a presented API key's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOnFile {
    pub prefix: String,
    /// SHA-256 of the whole key.
    pub hash: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// The key's client, if it still exists.
    pub client: Option<ClientOnFile>,
}

/// A key's client as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOnFile {
    pub client_id: String,
    pub tenant_id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub status: ClientStatus,
    /// Its tenant's status (for a service client, the status of the tenant
    /// it asks to act for); `None` when the tenant does not exist.
    pub tenant: Option<TenantStatus>,
}

/// What a key grants: a token for its client, in the client's tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub client_id: String,
    pub tenant_id: String,
    pub scopes: Vec<Scope>,
    /// A service client's service, empty for any other client.
    pub service: String,
    /// The prefix of the key to note as used now, when its last use is a
    /// minute old or more.
    pub mark_used: Option<String>,
}

/// The configured operator key, known by its hash only.
pub fn is_operator_key(presented: &str, operator_key_hash: Option<&str>) -> bool {
    operator_key_hash == Some(keys::hash(presented).as_str())
}

/// The grant for `presented` at `now_ms`, given what the store holds under
/// its prefix (`None` when the key has not our shape or nothing is stored).
/// The key must be the one on file and not ended, its client active and its
/// tenant existing and active.
pub fn grant_for_key(
    presented: &str,
    on_file: Option<KeyOnFile>,
    acting_for: &str,
    now_ms: i64,
) -> Result<KeyGrant, DomainError> {
    let unknown = || DomainError::Unauthenticated("unknown, expired or revoked API key".into());
    let key = on_file.ok_or_else(unknown)?;
    if key.hash != keys::hash(presented) || key.expires_at.is_some_and(|at| at <= now_ms) {
        return Err(unknown());
    }
    let client = key
        .client
        .filter(|c| c.status == ClientStatus::Active)
        .ok_or_else(unknown)?;
    let service_client = client.tenant_id == SERVICE_CLIENTS;
    let tenant_id = acts_for(&client.tenant_id, acting_for)?;
    let tenant = match client.tenant {
        Some(status) => status,
        None if service_client => return Err(DomainError::NotFound(format!("tenant {tenant_id}"))),
        None => return Err(unknown()),
    };
    tenant.require_active(&tenant_id)?;
    let due = key
        .last_used_at
        .is_none_or(|at| now_ms - at >= LAST_USE_PRECISION_MS);
    Ok(KeyGrant {
        client_id: client.client_id,
        tenant_id,
        scopes: client.scopes,
        service: if service_client {
            client.name
        } else {
            String::new()
        },
        mark_used: due.then_some(key.prefix),
    })
}

/// The tenant a token acts for: the one asked for, by a service client; a
/// tenant's own client acts for its tenant only.
fn acts_for(client_tenant: &str, acting_for: &str) -> Result<String, DomainError> {
    if client_tenant == SERVICE_CLIENTS {
        if acting_for.is_empty() {
            return Err(DomainError::invalid(
                "tenant_id",
                "a service key names the tenant its token acts for",
            ));
        }
        return Ok(acting_for.into());
    }
    if !acting_for.is_empty() && acting_for != client_tenant {
        return Err(DomainError::PermissionDenied(
            "the key does not belong to this tenant".into(),
        ));
    }
    Ok(client_tenant.into())
}

#[cfg(test)]
mod tests;
