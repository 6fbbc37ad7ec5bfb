//! `questline.identity.v1.IdentityService`.

use async_trait::async_trait;
use questline_kit::auth::{KeySource, PublicKey, Scope, TokenVerifier};
use questline_kit::time::{now_ms, to_timestamp};
use questline_kit::{DomainError, Violations, fingerprint, new_id, random_bytes};
use questline_proto::identity::{self as pb, identity_service_server::IdentityService};
use std::sync::Arc;
use tonic::{Request, Response, Status};

use crate::domain::keys::{self, NewApiKey, SigningMaterial};
use crate::domain::{members, tenants};
use crate::store::entities::{api_client, member, tenant};
use crate::store::{ClientOutcome, Store, profile_of};

pub struct IdentityApi {
    store: Store,
    auth: Arc<TokenVerifier>,
    signing: SigningMaterial,
    /// SHA-256 of the configured operator key, if any.
    operator_key_hash: Option<String>,
    token_ttl_seconds: i64,
}

impl IdentityApi {
    pub fn new(
        store: Store,
        signing: SigningMaterial,
        operator_key: &str,
        token_ttl_seconds: i64,
    ) -> IdentityApi {
        let auth = TokenVerifier::new(Arc::new(LocalKeys(store.clone())));
        IdentityApi {
            store,
            auth,
            signing,
            operator_key_hash: (!operator_key.is_empty()).then(|| keys::hash(operator_key)),
            token_ttl_seconds,
        }
    }

    /// The operator, or the API client whose key this is.
    async fn holder_of(&self, api_key: &str) -> Result<(String, String, Vec<Scope>), DomainError> {
        let hashed = keys::hash(api_key);
        if self.operator_key_hash.as_deref() == Some(hashed.as_str()) {
            return Ok(("operator".into(), String::new(), vec![Scope::Operator]));
        }
        let unknown = || DomainError::Unauthenticated("unknown or revoked API key".into());
        let prefix = keys::prefix_of(api_key).ok_or_else(unknown)?;
        let client = self
            .store
            .client_by_prefix(prefix)
            .await?
            .ok_or_else(unknown)?;
        if client.key_hash != hashed {
            return Err(unknown());
        }
        match self.store.tenant(&client.tenant_id).await {
            Err(DomainError::NotFound(_)) => return Err(unknown()),
            other => other?,
        };
        let scopes = tenants::scopes_from_text(&client.scopes);
        Ok((client.client_id, client.tenant_id, scopes))
    }
}

/// Identity verifies tokens against its own key table.
struct LocalKeys(Store);

#[async_trait]
impl KeySource for LocalKeys {
    async fn public_keys(&self) -> Result<Vec<PublicKey>, DomainError> {
        Ok(self
            .0
            .public_keys()
            .await?
            .into_iter()
            .map(|k| PublicKey {
                kid: k.kid,
                x: k.public_x,
            })
            .collect())
    }
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl IdentityService for IdentityApi {
    async fn create_tenant(
        &self,
        request: Request<pb::CreateTenantRequest>,
    ) -> Answer<pb::CreateTenantResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let mut v = Violations::new();
        tenants::validate_tenant_id(&mut v, &req.tenant_id);
        v.text("name", &req.name);
        let time_zone = tenants::time_zone(&mut v, &req.time_zone);
        v.finish()?;
        if !caller.is_operator() {
            return Err(
                DomainError::PermissionDenied("only the operator creates tenants".into()).into(),
            );
        }
        let row = self
            .store
            .create_tenant(tenant::Model {
                tenant_id: req.tenant_id,
                name: req.name,
                time_zone,
                created_at: now_ms(),
            })
            .await?;
        Ok(Response::new(pb::CreateTenantResponse {
            tenant: Some(tenant_pb(row)),
        }))
    }

    async fn create_api_client(
        &self,
        request: Request<pb::CreateApiClientRequest>,
    ) -> Answer<pb::CreateApiClientResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        Violations::new()
            .id("tenant_id", &req.tenant_id)
            .text("name", &req.name)
            .text("idempotency_key", &req.idempotency_key)
            .finish()?;
        let scopes = tenants::client_scopes(&req.scopes)?;
        caller.require_admin(&req.tenant_id)?;
        let draft = api_client::Model {
            client_id: new_id(),
            tenant_id: req.tenant_id.clone(),
            name: req.name.clone(),
            scopes: tenants::scopes_to_text(&scopes),
            key_prefix: String::new(),
            key_hash: String::new(),
            idempotency_key: req.idempotency_key.clone(),
            fingerprint: fingerprint::of(&req),
            created_at: now_ms(),
        };
        let (row, api_key) = match self
            .store
            .create_api_client(draft, random_api_key()?)
            .await?
        {
            ClientOutcome::Created(row, key) => (row, key.full()),
            ClientOutcome::Replayed(row) => (row, String::new()),
        };
        Ok(Response::new(pb::CreateApiClientResponse {
            client: Some(client_pb(row)),
            api_key,
        }))
    }

    async fn issue_token(
        &self,
        request: Request<pb::IssueTokenRequest>,
    ) -> Answer<pb::IssueTokenResponse> {
        let req = request.into_inner();
        Violations::new().text("api_key", &req.api_key).finish()?;
        let (subject, tenant_id, scopes) = self.holder_of(&req.api_key).await?;
        let claims = keys::claims(
            &subject,
            &tenant_id,
            scopes,
            now_ms() / 1000,
            self.token_ttl_seconds,
        );
        let access_token = keys::sign(&claims, &self.signing)?;
        Ok(Response::new(pb::IssueTokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in_seconds: self.token_ttl_seconds,
            tenant_id,
        }))
    }

    async fn get_jwks(&self, _request: Request<pb::GetJwksRequest>) -> Answer<pb::GetJwksResponse> {
        let keys = self.store.public_keys().await?;
        Ok(Response::new(pb::GetJwksResponse {
            keys: keys
                .into_iter()
                .map(|k| pb::JsonWebKey {
                    kid: k.kid,
                    kty: "OKP".into(),
                    crv: "Ed25519".into(),
                    x: k.public_x,
                    alg: "EdDSA".into(),
                    r#use: "sig".into(),
                })
                .collect(),
        }))
    }

    async fn upsert_member(
        &self,
        request: Request<pb::UpsertMemberRequest>,
    ) -> Answer<pb::UpsertMemberResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("tenant_id", &req.tenant_id)
            .text("external_id", &req.external_id);
        members::validate_profile(&mut v, &req.profile);
        v.finish()?;
        caller.require_server(&req.tenant_id)?;
        self.store.tenant(&req.tenant_id).await?;
        let (row, created) = self
            .store
            .upsert_member(&req.tenant_id, &req.external_id, &req.profile)
            .await?;
        Ok(Response::new(pb::UpsertMemberResponse {
            member: Some(member_pb(row)),
            created,
        }))
    }

    async fn get_member(
        &self,
        request: Request<pb::GetMemberRequest>,
    ) -> Answer<pb::GetMemberResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        Violations::new()
            .id("tenant_id", &req.tenant_id)
            .id("member_id", &req.member_id)
            .finish()?;
        caller.require_member_access(&req.tenant_id, &req.member_id)?;
        let row = self.store.member(&req.tenant_id, &req.member_id).await?;
        Ok(Response::new(pb::GetMemberResponse {
            member: Some(member_pb(row)),
        }))
    }
}

fn random_api_key() -> Result<NewApiKey, DomainError> {
    Ok(NewApiKey::from_random(random_bytes()?, random_bytes()?))
}

/// 32 bytes from the OS for a new signing key.
pub fn random_seed() -> Result<[u8; 32], DomainError> {
    random_bytes()
}

fn tenant_pb(t: tenant::Model) -> pb::Tenant {
    pb::Tenant {
        tenant_id: t.tenant_id,
        name: t.name,
        time_zone: t.time_zone,
        create_time: Some(to_timestamp(t.created_at)),
    }
}

fn client_pb(c: api_client::Model) -> pb::ApiClient {
    use questline_proto::identity::Scope as Pb;
    let scopes = tenants::scopes_from_text(&c.scopes)
        .into_iter()
        .map(|s| match s {
            Scope::Admin => Pb::Admin as i32,
            Scope::Server => Pb::Server as i32,
            Scope::Member => Pb::Member as i32,
            Scope::Operator => Pb::Unspecified as i32,
        })
        .collect();
    pb::ApiClient {
        client_id: c.client_id,
        tenant_id: c.tenant_id,
        name: c.name,
        scopes,
        key_prefix: c.key_prefix,
        create_time: Some(to_timestamp(c.created_at)),
    }
}

fn member_pb(m: member::Model) -> pb::Member {
    pb::Member {
        profile: profile_of(&m),
        member_id: m.member_id,
        tenant_id: m.tenant_id,
        external_id: m.external_id,
        create_time: Some(to_timestamp(m.created_at)),
        update_time: Some(to_timestamp(m.updated_at)),
    }
}
