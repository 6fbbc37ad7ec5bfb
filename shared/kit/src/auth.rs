//! Who is calling, and may they act for this tenant? Tokens are EdDSA JWTs
//! signed by identity and verified here, locally, against its cached key set:
//! no round trip per call.

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

use crate::access::AccessList;
use crate::error::DomainError;

/// The `iss` of every Questline token.
pub const ISSUER: &str = "questline";
/// The `aud` of every Questline token: the services of the mesh.
pub const AUDIENCE: &str = "questline-api";
/// The JOSE `typ` of an access token (RFC 9068), so no other JWT identity
/// might sign is ever taken for one.
pub const TOKEN_TYPE: &str = "at+jwt";

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Runs the installation: creates tenants, acts for any tenant.
    Operator,
    /// Programme management inside one tenant.
    Admin,
    /// A brand's backend: track, credit, redeem for any member of its tenant.
    Server,
    /// A member app: only that member's own data.
    Member,
    /// A service of the mesh acting on its own (a recovery loop, a sweep):
    /// one tenant, and only its service's `Duty` list.
    Service,
}

/// What a service may do on its own, with no caller behind it. Each RPC that
/// accepts a service token names the duty it serves; nothing else does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    /// Mechanics credits the awards of events it recorded.
    CreditAwards,
    /// A service reads a member identity has not announced to it yet.
    ReadMembers,
    /// Mechanics reads a tenant's time zone, the default of its rules and
    /// counters, whoever saves or checks them.
    ReadTenantZone,
}

/// The duties of each service; a service token names its service in `svc`.
pub fn duties_of(service: &str) -> &'static [Duty] {
    match service {
        "mechanics" => &[Duty::CreditAwards, Duty::ReadMembers, Duty::ReadTenantZone],
        "ledger" | "rewards" | "notifications" => &[Duty::ReadMembers],
        _ => &[],
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The API client (or member) the token was issued to.
    pub sub: String,
    /// The API client that obtained the token: itself, or the server client
    /// that minted a member token. Revoking it ends every token it obtained.
    pub cid: String,
    /// The tenant it acts for; empty for the operator.
    pub tenant: String,
    pub scopes: Vec<Scope>,
    pub iat: i64,
    pub exp: i64,
    /// A service token's service (`mechanics`, ...); absent otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub svc: String,
}

/// A verified caller, with the raw token so a service can act downstream as it.
#[derive(Clone)]
pub struct Caller {
    pub claims: Claims,
    pub token: String,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("claims", &self.claims)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Caller {
    fn has(&self, scope: Scope) -> bool {
        self.claims.scopes.contains(&scope)
    }

    pub fn is_operator(&self) -> bool {
        self.has(Scope::Operator)
    }

    /// A member app's token: it reaches only the member it names.
    pub fn is_member_only(&self) -> bool {
        !self.is_operator()
            && self.has(Scope::Member)
            && !self.has(Scope::Server)
            && !self.has(Scope::Admin)
    }

    /// Allows the call when the caller holds one of `scopes` for `tenant_id`
    /// (the operator holds all of them everywhere).
    pub fn require(&self, tenant_id: &str, scopes: &[Scope]) -> Result<(), DomainError> {
        if self.is_operator() {
            return Ok(());
        }
        if self.claims.tenant != tenant_id {
            return Err(DomainError::PermissionDenied(
                "the credential does not belong to this tenant".into(),
            ));
        }
        if scopes.iter().any(|s| self.has(*s)) {
            Ok(())
        } else {
            Err(DomainError::PermissionDenied(format!(
                "requires one of the scopes {scopes:?}"
            )))
        }
    }

    pub fn require_admin(&self, tenant_id: &str) -> Result<(), DomainError> {
        self.require(tenant_id, &[Scope::Admin])
    }

    /// Backend calls: a server key, or an admin acting by hand.
    pub fn require_server(&self, tenant_id: &str) -> Result<(), DomainError> {
        self.require(tenant_id, &[Scope::Server, Scope::Admin])
    }

    /// Like `require_server`, and also a service token of this tenant whose
    /// service has one of `duties`.
    pub fn require_server_or(&self, tenant_id: &str, duties: &[Duty]) -> Result<(), DomainError> {
        self.on_duty(tenant_id, duties)
            .unwrap_or_else(|| self.require_server(tenant_id))
    }

    /// Like `require_admin`, and also a service token of this tenant whose
    /// service has one of `duties`.
    pub fn require_admin_or(&self, tenant_id: &str, duties: &[Duty]) -> Result<(), DomainError> {
        self.on_duty(tenant_id, duties)
            .unwrap_or_else(|| self.require_admin(tenant_id))
    }

    /// For a service token of this tenant, whether its service has one of
    /// `duties`; `None` for any other caller.
    fn on_duty(&self, tenant_id: &str, duties: &[Duty]) -> Option<Result<(), DomainError>> {
        if !self.has(Scope::Service) || self.claims.tenant != tenant_id {
            return None;
        }
        let own = duties_of(&self.claims.svc);
        Some(if duties.iter().any(|d| own.contains(d)) {
            Ok(())
        } else {
            Err(DomainError::PermissionDenied(format!(
                "the {} service may not do this on its own",
                self.claims.svc
            )))
        })
    }

    /// One member's data: the brand's backend, or that member's own app.
    pub fn require_member_access(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<(), DomainError> {
        self.require(tenant_id, &[Scope::Server, Scope::Admin, Scope::Member])?;
        if self.is_member_only() && self.claims.sub != member_id {
            return Err(DomainError::PermissionDenied(
                "a member token reaches only its own member".into(),
            ));
        }
        Ok(())
    }
}

/// A public key of identity's key set (RFC 8037 OKP / Ed25519).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    /// base64url of the 32-byte Ed25519 public key (the JWK `x`).
    pub x: String,
}

/// Where the verifier gets identity's public keys.
#[async_trait]
pub trait KeySource: Send + Sync {
    async fn public_keys(&self) -> Result<Vec<PublicKey>, DomainError>;
}

/// Verifies bearer tokens. The key set is refetched when it meets an unknown
/// `kid` (a new key) and when the cache is older than `KEY_SET_MAX_AGE` (a key
/// retired on schedule), at most once per `REFRESH_EVERY`. Keys retired early,
/// revoked clients and suspended tenants come from the `AccessList`.
pub struct TokenVerifier {
    source: Arc<dyn KeySource>,
    keys: RwLock<KeySet>,
    /// Held while refetching, so one caller fetches and the others wait.
    refreshing: Mutex<()>,
    access: AccessList,
    verified: Verified,
}

/// Tokens whose signature and claims already checked out, with their key
/// id: a caller sends the same token for its whole life, and an Ed25519
/// verification per call was a twentieth of the engine's CPU. A hit still
/// checks expiry, that the key is still in the set, and the access list.
#[derive(Default)]
struct Verified(std::sync::Mutex<HashMap<String, (String, Claims)>>);

/// Past this many tokens the expired ones go, then all of them.
const VERIFIED_MAX: usize = 4096;
/// Seconds a token stays good past its `exp`, for clocks that drift.
const LEEWAY_SECONDS: i64 = 5;

impl Verified {
    fn recall(&self, token: &str, now: i64) -> Option<(String, Claims)> {
        let verified = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (kid, claims) = verified.get(token)?;
        (claims.exp + LEEWAY_SECONDS >= now).then(|| (kid.clone(), claims.clone()))
    }

    fn keep(&self, token: &str, kid: &str, claims: &Claims, now: i64) {
        let mut verified = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_MAX {
            verified.retain(|_, (_, c)| c.exp + LEEWAY_SECONDS >= now);
        }
        if verified.len() >= VERIFIED_MAX {
            verified.clear();
        }
        verified.insert(token.into(), (kid.into(), claims.clone()));
    }
}

/// The cached key set and when it was fetched.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

impl KeySet {
    fn fetched_within(&self, age: Duration) -> bool {
        self.fetched_at.is_some_and(|t| t.elapsed() < age)
    }

    /// The key, if the set is younger than `max_age` and holds it.
    fn get(&self, kid: &str, max_age: Duration) -> Option<DecodingKey> {
        self.fetched_within(max_age)
            .then(|| self.keys.get(kid).cloned())
            .flatten()
    }
}

const REFRESH_EVERY: Duration = Duration::from_secs(5);
const KEY_SET_MAX_AGE: Duration = Duration::from_secs(60);

impl TokenVerifier {
    /// A verifier that knows of no revocation: for tools and tests.
    pub fn new(source: Arc<dyn KeySource>) -> Arc<TokenVerifier> {
        TokenVerifier::guarded(source, AccessList::default())
    }

    /// A verifier that also refuses what `access` has switched off.
    pub fn guarded(source: Arc<dyn KeySource>, access: AccessList) -> Arc<TokenVerifier> {
        Arc::new(TokenVerifier {
            source,
            keys: RwLock::new(KeySet::default()),
            refreshing: Mutex::new(()),
            access,
            verified: Verified::default(),
        })
    }

    /// The caller of a gRPC request, from its `authorization: Bearer` metadata.
    pub async fn caller<T>(&self, request: &tonic::Request<T>) -> Result<Caller, DomainError> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| DomainError::Unauthenticated("missing authorization metadata".into()))?
            .to_str()
            .map_err(|_| DomainError::Unauthenticated("malformed authorization".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| DomainError::Unauthenticated("expected a Bearer token".into()))?;
        let claims = self.verify(token).await?;
        Ok(Caller {
            claims,
            token: token.to_string(),
        })
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, DomainError> {
        let now = crate::time::now_ms() / 1000;
        if let Some((kid, claims)) = self.verified.recall(token, now)
            && self.key(&kid).await?.is_some()
        {
            self.access.admit(&claims, &kid)?;
            return Ok(claims);
        }
        let unauthenticated =
            |why: &str| DomainError::Unauthenticated(format!("invalid token: {why}"));
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("malformed"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(unauthenticated("unexpected algorithm"));
        }
        if header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(unauthenticated("not an access token"));
        }
        let kid = header.kid.ok_or_else(|| unauthenticated("no key id"))?;
        let key = self
            .key(&kid)
            .await?
            .ok_or_else(|| unauthenticated("unknown key"))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS as u64;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => unauthenticated("expired"),
                _ => unauthenticated("signature or claims rejected"),
            })?;
        self.access.admit(&claims, &kid)?;
        self.verified.keep(token, &kid, &claims, now);
        Ok(claims)
    }

    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, DomainError> {
        // The hot path: a read lock only.
        if let Some(key) = self.keys.read().await.get(kid, KEY_SET_MAX_AGE) {
            return Ok(Some(key));
        }
        let _one_at_a_time = self.refreshing.lock().await;
        {
            let set = self.keys.read().await;
            if set.fetched_within(REFRESH_EVERY) {
                return Ok(set.keys.get(kid).cloned());
            }
        }
        let fetched = match self.source.public_keys().await {
            Ok(fetched) => fetched,
            // Identity unreachable: keep verifying with the keys we have.
            Err(err) if !self.keys.read().await.keys.is_empty() => {
                tracing::warn!(%err, "key set refresh failed; using the cached keys");
                return Ok(self.keys.read().await.keys.get(kid).cloned());
            }
            Err(err) => return Err(err),
        };
        // The fetched set replaces the cache: a key identity retired stops verifying.
        let mut keys = HashMap::new();
        for public in fetched {
            match DecodingKey::from_ed_components(&public.x) {
                Ok(key) => {
                    keys.insert(public.kid, key);
                }
                Err(err) => {
                    tracing::warn!(kid = %public.kid, %err, "skipping malformed public key")
                }
            }
        }
        let found = keys.get(kid).cloned();
        *self.keys.write().await = KeySet {
            keys,
            fetched_at: Some(Instant::now()),
        };
        Ok(found)
    }
}

/// Identity's key set, fetched over gRPC.
pub struct RemoteKeys {
    channel: crate::client::Channel,
}

impl RemoteKeys {
    pub fn new(channel: crate::client::Channel) -> Arc<RemoteKeys> {
        Arc::new(RemoteKeys { channel })
    }
}

#[async_trait]
impl KeySource for RemoteKeys {
    async fn public_keys(&self) -> Result<Vec<PublicKey>, DomainError> {
        use questline_proto::identity::{
            GetJwksRequest, identity_service_client::IdentityServiceClient,
        };
        let mut client = IdentityServiceClient::with_interceptor(
            self.channel.clone(),
            crate::client::Outgoing::default(),
        );
        let response = client
            .get_jwks(GetJwksRequest {})
            .await
            .map_err(|status| {
                tracing::warn!(%status, "cannot fetch identity's keys");
                DomainError::Unavailable("cannot verify tokens: identity unreachable".into())
            })?
            .into_inner();
        Ok(response
            .keys
            .into_iter()
            .map(|k| PublicKey { kid: k.kid, x: k.x })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(tenant: &str, sub: &str, scopes: &[Scope]) -> Caller {
        Caller {
            claims: Claims {
                iss: ISSUER.into(),
                aud: AUDIENCE.into(),
                sub: sub.into(),
                cid: sub.into(),
                tenant: tenant.into(),
                scopes: scopes.to_vec(),
                iat: 0,
                exp: 0,
                svc: String::new(),
            },
            token: String::new(),
        }
    }

    #[test]
    fn a_tenant_credential_never_reaches_another_tenant() {
        let server = caller("acme", "c1", &[Scope::Server]);
        assert!(server.require_server("acme").is_ok());
        assert!(matches!(
            server.require_server("globex"),
            Err(DomainError::PermissionDenied(_))
        ));
        assert!(server.require_admin("acme").is_err());
    }

    #[test]
    fn a_member_token_reaches_only_its_member() {
        let member = caller("acme", "m1", &[Scope::Member]);
        assert!(member.require_member_access("acme", "m1").is_ok());
        assert!(member.require_member_access("acme", "m2").is_err());
        assert!(member.require_server("acme").is_err());
    }

    #[test]
    fn a_service_token_does_its_duties_in_its_tenant_only() {
        let mut mechanics = caller("acme", "svc1", &[Scope::Service]);
        mechanics.claims.svc = "mechanics".into();
        assert!(
            mechanics
                .require_server_or("acme", &[Duty::CreditAwards])
                .is_ok()
        );
        assert!(
            mechanics
                .require_server_or("globex", &[Duty::CreditAwards])
                .is_err()
        );
        assert!(mechanics.require_server_or("acme", &[]).is_err());
        assert!(mechanics.require_server("acme").is_err());
        assert!(mechanics.require_member_access("acme", "m1").is_err());
        let mut rewards = caller("acme", "svc2", &[Scope::Service]);
        rewards.claims.svc = "rewards".into();
        assert!(
            rewards
                .require_server_or("acme", &[Duty::CreditAwards])
                .is_err()
        );
        assert!(
            rewards
                .require_server_or("acme", &[Duty::ReadMembers])
                .is_ok()
        );
        // Where admins alone may act, a duty lets a service in, no one else.
        let zone = [Duty::ReadTenantZone];
        assert!(mechanics.require_admin_or("acme", &zone).is_ok());
        assert!(mechanics.require_admin_or("globex", &zone).is_err());
        assert!(rewards.require_admin_or("acme", &zone).is_err());
        let server = caller("acme", "c1", &[Scope::Server]);
        assert!(server.require_admin_or("acme", &zone).is_err());
    }

    #[test]
    fn the_operator_acts_everywhere() {
        let operator = caller("", "operator", &[Scope::Operator]);
        assert!(operator.require_admin("any").is_ok());
        assert!(operator.require_member_access("any", "m9").is_ok());
    }
}
