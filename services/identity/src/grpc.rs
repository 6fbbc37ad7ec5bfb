//! `questline.identity.v1.IdentityService`.

mod audit;
mod export;
mod pb;
mod segments;

pub use export::Peers;

use async_trait::async_trait;
use questline_kit::audit::Change;
use questline_kit::auth::{Caller, KeySource, PublicKey, Scope, TokenVerifier};
use questline_kit::events::INSTALLATION;
use questline_kit::time::now_ms;
use questline_kit::{DomainError, Violations, fingerprint, new_id, paging, random_bytes};
use questline_proto::identity::identity_service_server::{IdentityService, SERVICE_NAME};
use questline_proto::identity::{self as proto};
use std::sync::Arc;
use tonic::{Request, Response, Status};

use crate::domain::keys::{self, Grant, NewApiKey};
use crate::domain::members;
use crate::domain::tenants::{self, TenantChange, TenantStatus};
use crate::store::entities::{api_client, tenant};
use crate::store::{ClientOutcome, Rotation, Store};

pub struct IdentityApi {
    store: Store,
    auth: Arc<TokenVerifier>,
    /// SHA-256 of the configured operator key, if any.
    operator_key_hash: Option<String>,
    token_ttl_seconds: i64,
    peers: Peers,
}

impl IdentityApi {
    pub fn new(
        store: Store,
        auth: Arc<TokenVerifier>,
        operator_key: &str,
        token_ttl_seconds: i64,
        peers: Peers,
    ) -> IdentityApi {
        IdentityApi {
            store,
            auth,
            operator_key_hash: (!operator_key.is_empty()).then(|| keys::hash(operator_key)),
            token_ttl_seconds,
            peers,
        }
    }

    /// The grant an API key (or the operator key) entitles its holder to.
    async fn grant_for(&self, api_key: &str) -> Result<(String, String, Vec<Scope>), DomainError> {
        if self.operator_key_hash.as_deref() == Some(keys::hash(api_key).as_str()) {
            return Ok(("operator".into(), String::new(), vec![Scope::Operator]));
        }
        let unknown = || DomainError::Unauthenticated("unknown, expired or revoked API key".into());
        let holder = self.store.key_holder(api_key).await?.ok_or_else(unknown)?;
        match self.store.active_tenant(&holder.client.tenant_id).await {
            Err(DomainError::NotFound(_)) => return Err(unknown()),
            other => other?,
        };
        self.store.touch(&holder.key).await?;
        let scopes = tenants::scopes_from_text(&holder.client.scopes);
        Ok((holder.client.client_id, holder.client.tenant_id, scopes))
    }

    /// A signed token for `grant`, with the key that signs now.
    async fn token(&self, grant: Grant<'_>) -> Result<String, DomainError> {
        let signing = self.store.signing_key(random_bytes).await?;
        let claims = keys::claims(grant, now_ms() / 1000, self.token_ttl_seconds);
        keys::sign(&claims, &signing)
    }
}

/// Identity verifies tokens against its own key table.
pub struct LocalKeys(pub Store);

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

fn operator_only(caller: &Caller, what: &str) -> Result<(), DomainError> {
    if caller.is_operator() {
        Ok(())
    } else {
        Err(DomainError::PermissionDenied(format!(
            "only the operator {what}"
        )))
    }
}

#[tonic::async_trait]
impl IdentityService for IdentityApi {
    async fn create_tenant(
        &self,
        request: Request<proto::CreateTenantRequest>,
    ) -> Answer<proto::CreateTenantResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let mut v = Violations::new();
        tenants::validate_tenant_id(&mut v, &req.tenant_id);
        v.text("name", &req.name);
        let time_zone = tenants::time_zone(&mut v, &req.time_zone);
        let default_locale = tenants::locale(&mut v, "default_locale", &req.default_locale);
        v.finish()?;
        operator_only(&caller, "creates tenants")?;
        let now = now_ms();
        let change = audited(
            &caller,
            &req.tenant_id,
            "CreateTenant",
            tenant_resource(&req.tenant_id),
        )
        .with("name", req.name.as_str())
        .with("time_zone", time_zone.as_str());
        let row = self
            .store
            .create_tenant(
                tenant::Model {
                    tenant_id: req.tenant_id,
                    name: req.name,
                    time_zone,
                    default_locale,
                    status: TenantStatus::Active.as_str().into(),
                    created_at: now,
                    updated_at: now,
                },
                &change,
            )
            .await?;
        Ok(Response::new(proto::CreateTenantResponse {
            tenant: Some(pb::tenant(row)),
        }))
    }

    async fn get_tenant(
        &self,
        request: Request<proto::GetTenantRequest>,
    ) -> Answer<proto::GetTenantResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        Violations::new().id("tenant_id", &req.tenant_id).finish()?;
        caller.require_admin(&req.tenant_id)?;
        let row = self.store.tenant(&req.tenant_id).await?;
        Ok(Response::new(proto::GetTenantResponse {
            tenant: Some(pb::tenant(row)),
        }))
    }

    async fn list_tenants(
        &self,
        request: Request<proto::ListTenantsRequest>,
    ) -> Answer<proto::ListTenantsResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let page = paging::parse(req.page_size, &req.page_token)?;
        operator_only(&caller, "lists tenants")?;
        let rows = self.store.tenants(&page).await?;
        let (rows, next_page_token) = page.finish(rows, |t| t.tenant_id.as_str());
        Ok(Response::new(proto::ListTenantsResponse {
            next_page_token,
            tenants: rows.into_iter().map(pb::tenant).collect(),
        }))
    }

    async fn update_tenant(
        &self,
        request: Request<proto::UpdateTenantRequest>,
    ) -> Answer<proto::UpdateTenantResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let change = tenant_change(&req)?;
        caller.require_admin(&req.tenant_id)?;
        if change.status.is_some() {
            operator_only(&caller, "suspends or reactivates a tenant")?;
        }
        let audit = tenant_change_audit(&caller, &req.tenant_id, &change);
        let row = self
            .store
            .update_tenant(&req.tenant_id, &change, &audit)
            .await?;
        Ok(Response::new(proto::UpdateTenantResponse {
            tenant: Some(pb::tenant(row)),
        }))
    }

    async fn create_api_client(
        &self,
        request: Request<proto::CreateApiClientRequest>,
    ) -> Answer<proto::CreateApiClientResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        Violations::new()
            .id("tenant_id", &req.tenant_id)
            .text("name", &req.name)
            .text("idempotency_key", &req.idempotency_key)
            .finish()?;
        let scopes = tenants::client_scopes(&req.scopes)?;
        caller.require_admin(&req.tenant_id)?;
        self.store.active_tenant(&req.tenant_id).await?;
        let draft = api_client::Model {
            client_id: new_id(),
            tenant_id: req.tenant_id.clone(),
            name: req.name.clone(),
            scopes: tenants::scopes_to_text(&scopes),
            status: "active".into(),
            idempotency_key: req.idempotency_key.clone(),
            fingerprint: fingerprint::of(&req),
            created_at: now_ms(),
            revoked_at: None,
        };
        let change = audited(
            &caller,
            &req.tenant_id,
            "CreateApiClient",
            client_resource(&draft.client_id),
        )
        .with("name", req.name.as_str())
        .with("scopes", draft.scopes.as_str());
        let outcome = self
            .store
            .create_api_client(draft, random_api_key()?, &change)
            .await?;
        let (client, api_key) = shown_once(outcome);
        Ok(Response::new(proto::CreateApiClientResponse {
            client: Some(client),
            api_key,
        }))
    }

    async fn list_api_clients(
        &self,
        request: Request<proto::ListApiClientsRequest>,
    ) -> Answer<proto::ListApiClientsResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        Violations::new().id("tenant_id", &req.tenant_id).finish()?;
        let page = paging::parse(req.page_size, &req.page_token)?;
        caller.require_admin(&req.tenant_id)?;
        let rows = self.store.api_clients(&req.tenant_id, &page).await?;
        let (rows, next_page_token) = page.finish(rows, |(c, _)| c.client_id.as_str());
        Ok(Response::new(proto::ListApiClientsResponse {
            next_page_token,
            clients: rows.into_iter().map(pb::client).collect(),
        }))
    }

    async fn rotate_api_key(
        &self,
        request: Request<proto::RotateApiKeyRequest>,
    ) -> Answer<proto::RotateApiKeyResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("tenant_id", &req.tenant_id)
            .id("client_id", &req.client_id)
            .text("idempotency_key", &req.idempotency_key);
        let grace = tenants::grace_seconds(&mut v, "grace_seconds", req.grace_seconds);
        v.finish()?;
        caller.require_admin(&req.tenant_id)?;
        let fingerprint = fingerprint::of(&req);
        let rotation = Rotation {
            tenant_id: &req.tenant_id,
            client_id: &req.client_id,
            grace_ms: grace * 1000,
            idempotency_key: &req.idempotency_key,
            fingerprint: &fingerprint,
        };
        let change = audited(
            &caller,
            &req.tenant_id,
            "RotateApiKey",
            client_resource(&req.client_id),
        )
        .with("grace_seconds", grace);
        let outcome = self
            .store
            .rotate_api_key(rotation, random_api_key()?, &change)
            .await?;
        let (client, api_key) = shown_once(outcome);
        Ok(Response::new(proto::RotateApiKeyResponse {
            client: Some(client),
            api_key,
        }))
    }

    async fn revoke_api_client(
        &self,
        request: Request<proto::RevokeApiClientRequest>,
    ) -> Answer<proto::RevokeApiClientResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        Violations::new()
            .id("tenant_id", &req.tenant_id)
            .id("client_id", &req.client_id)
            .finish()?;
        caller.require_admin(&req.tenant_id)?;
        let change = audited(
            &caller,
            &req.tenant_id,
            "RevokeApiClient",
            client_resource(&req.client_id),
        );
        let row = self
            .store
            .revoke_api_client(&req.tenant_id, &req.client_id, &change)
            .await?;
        Ok(Response::new(proto::RevokeApiClientResponse {
            client: Some(pb::client(row)),
        }))
    }

    async fn issue_token(
        &self,
        request: Request<proto::IssueTokenRequest>,
    ) -> Answer<proto::IssueTokenResponse> {
        let req = request.into_inner();
        Violations::new().text("api_key", &req.api_key).finish()?;
        let (client, tenant_id, scopes) = self.grant_for(&req.api_key).await?;
        let grant = Grant {
            subject: &client,
            client: &client,
            tenant: &tenant_id,
            scopes,
        };
        let access_token = self.token(grant).await?;
        Ok(Response::new(proto::IssueTokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in_seconds: self.token_ttl_seconds,
            tenant_id,
        }))
    }

    async fn issue_member_token(
        &self,
        request: Request<proto::IssueMemberTokenRequest>,
    ) -> Answer<proto::IssueMemberTokenResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        Violations::new()
            .id("tenant_id", &req.tenant_id)
            .id("member_id", &req.member_id)
            .finish()?;
        caller.require(&req.tenant_id, &[Scope::Server])?;
        let member = self.store.member(&req.tenant_id, &req.member_id).await?;
        let grant = Grant {
            subject: &member.member_id,
            client: &caller.claims.cid,
            tenant: &member.tenant_id,
            scopes: vec![Scope::Member],
        };
        let access_token = self.token(grant).await?;
        Ok(Response::new(proto::IssueMemberTokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in_seconds: self.token_ttl_seconds,
        }))
    }

    async fn get_jwks(
        &self,
        _request: Request<proto::GetJwksRequest>,
    ) -> Answer<proto::GetJwksResponse> {
        let keys = self.store.public_keys().await?;
        Ok(Response::new(proto::GetJwksResponse {
            keys: keys
                .into_iter()
                .map(|k| proto::JsonWebKey {
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

    async fn rotate_signing_key(
        &self,
        request: Request<proto::RotateSigningKeyRequest>,
    ) -> Answer<proto::RotateSigningKeyResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let overlap = req.overlap_seconds.unwrap_or(self.token_ttl_seconds);
        tenants::grace_seconds(&mut v, "overlap_seconds", overlap);
        v.finish()?;
        operator_only(&caller, "rotates signing keys")?;
        let change = audited(
            &caller,
            INSTALLATION,
            "RotateSigningKey",
            "signing_keys".into(),
        )
        .with("overlap_seconds", overlap);
        let rotation = self
            .store
            .rotate_signing_key(random_bytes()?, overlap * 1000, change)
            .await?;
        Ok(Response::new(proto::RotateSigningKeyResponse {
            kid: rotation.kid,
            retired_kids: rotation.retired_now,
        }))
    }

    async fn upsert_member(
        &self,
        request: Request<proto::UpsertMemberRequest>,
    ) -> Answer<proto::UpsertMemberResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("tenant_id", &req.tenant_id)
            .text("external_id", &req.external_id);
        v.check(
            !req.external_id.starts_with("erased:"),
            "external_id",
            "must not start with 'erased:'",
        );
        let profile = members::validate_profile(&mut v, &req.profile.unwrap_or_default());
        v.finish()?;
        caller.require_server(&req.tenant_id)?;
        self.store.active_tenant(&req.tenant_id).await?;
        let (row, created) = self
            .store
            .upsert_member(&req.tenant_id, &req.external_id, &profile)
            .await?;
        Ok(Response::new(proto::UpsertMemberResponse {
            member: Some(pb::member(row)),
            created,
        }))
    }

    async fn get_member(
        &self,
        request: Request<proto::GetMemberRequest>,
    ) -> Answer<proto::GetMemberResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        member_ref(&req.tenant_id, &req.member_id)?;
        caller.require_member_access(&req.tenant_id, &req.member_id)?;
        let row = self.store.member(&req.tenant_id, &req.member_id).await?;
        Ok(Response::new(proto::GetMemberResponse {
            member: Some(pb::member(row)),
        }))
    }

    async fn list_members(
        &self,
        request: Request<proto::ListMembersRequest>,
    ) -> Answer<proto::ListMembersResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        Violations::new()
            .id("tenant_id", &req.tenant_id)
            .optional_text("query", &req.query)
            .finish()?;
        let page = paging::parse(req.page_size, &req.page_token)?;
        caller.require_server(&req.tenant_id)?;
        let rows = self
            .store
            .members(&req.tenant_id, &req.query, &page)
            .await?;
        let (rows, next_page_token) = page.finish(rows, |m| m.member_id.as_str());
        Ok(Response::new(proto::ListMembersResponse {
            next_page_token,
            members: rows.into_iter().map(pb::member).collect(),
        }))
    }

    async fn update_consent(
        &self,
        request: Request<proto::UpdateConsentRequest>,
    ) -> Answer<proto::UpdateConsentResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("tenant_id", &req.tenant_id)
            .id("member_id", &req.member_id)
            .text("source", &req.source)
            .check(
                !req.choices.is_empty(),
                "choices",
                "at least one choice is required",
            );
        let choices: Vec<(&'static str, bool)> = req
            .choices
            .iter()
            .filter_map(|c| {
                let name = members::purpose_name(c.purpose);
                v.check(
                    name.is_some(),
                    "choices.purpose",
                    "must be a ConsentPurpose",
                );
                name.map(|n| (n, c.granted))
            })
            .collect();
        v.finish()?;
        caller.require_member_access(&req.tenant_id, &req.member_id)?;
        let row = self
            .store
            .update_consent(&req.tenant_id, &req.member_id, &choices, &req.source)
            .await?;
        Ok(Response::new(proto::UpdateConsentResponse {
            member: Some(pb::member(row)),
        }))
    }

    async fn erase_member(
        &self,
        request: Request<proto::EraseMemberRequest>,
    ) -> Answer<proto::EraseMemberResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        member_ref(&req.tenant_id, &req.member_id)?;
        // Irreversible: the brand's backend or an admin, never a member app's token.
        caller.require_server(&req.tenant_id)?;
        let resource = format!("members/{}", req.member_id);
        let change = audited(&caller, &req.tenant_id, "EraseMember", resource);
        let row = self
            .store
            .erase_member(&req.tenant_id, &req.member_id, &change)
            .await?;
        Ok(Response::new(proto::EraseMemberResponse {
            member: Some(pb::member(row)),
        }))
    }

    async fn export_member(
        &self,
        request: Request<proto::ExportMemberRequest>,
    ) -> Answer<proto::ExportMemberResponse> {
        let caller = self.auth.caller(&request).await?;
        let answer = self
            .export_member_for(&caller, request.into_inner())
            .await?;
        Ok(Response::new(answer))
    }

    async fn create_segment(
        &self,
        request: Request<proto::CreateSegmentRequest>,
    ) -> Answer<proto::CreateSegmentResponse> {
        let caller = self.auth.caller(&request).await?;
        let segment = self
            .create_segment_for(&caller, request.into_inner())
            .await?;
        Ok(Response::new(proto::CreateSegmentResponse {
            segment: Some(segment),
        }))
    }

    async fn update_segment(
        &self,
        request: Request<proto::UpdateSegmentRequest>,
    ) -> Answer<proto::UpdateSegmentResponse> {
        let caller = self.auth.caller(&request).await?;
        let segment = self
            .update_segment_for(&caller, request.into_inner())
            .await?;
        Ok(Response::new(proto::UpdateSegmentResponse {
            segment: Some(segment),
        }))
    }

    async fn get_segment(
        &self,
        request: Request<proto::GetSegmentRequest>,
    ) -> Answer<proto::GetSegmentResponse> {
        let caller = self.auth.caller(&request).await?;
        let segment = self.get_segment_for(&caller, request.into_inner()).await?;
        Ok(Response::new(proto::GetSegmentResponse {
            segment: Some(segment),
        }))
    }

    async fn list_segments(
        &self,
        request: Request<proto::ListSegmentsRequest>,
    ) -> Answer<proto::ListSegmentsResponse> {
        let caller = self.auth.caller(&request).await?;
        let answer = self
            .list_segments_for(&caller, request.into_inner())
            .await?;
        Ok(Response::new(answer))
    }

    async fn delete_segment(
        &self,
        request: Request<proto::DeleteSegmentRequest>,
    ) -> Answer<proto::DeleteSegmentResponse> {
        let caller = self.auth.caller(&request).await?;
        self.delete_segment_for(&caller, request.into_inner())
            .await?;
        Ok(Response::new(proto::DeleteSegmentResponse {}))
    }

    async fn validate_segment(
        &self,
        request: Request<proto::ValidateSegmentRequest>,
    ) -> Answer<proto::ValidateSegmentResponse> {
        let caller = self.auth.caller(&request).await?;
        let answer = self.validate_segment_for(&caller, request.into_inner())?;
        Ok(Response::new(answer))
    }

    async fn evaluate_segment(
        &self,
        request: Request<proto::EvaluateSegmentRequest>,
    ) -> Answer<proto::EvaluateSegmentResponse> {
        let caller = self.auth.caller(&request).await?;
        let answer = self
            .evaluate_segment_for(&caller, request.into_inner())
            .await?;
        Ok(Response::new(answer))
    }

    async fn list_segment_members(
        &self,
        request: Request<proto::ListSegmentMembersRequest>,
    ) -> Answer<proto::ListSegmentMembersResponse> {
        let caller = self.auth.caller(&request).await?;
        let answer = self
            .list_segment_members_for(&caller, request.into_inner())
            .await?;
        Ok(Response::new(answer))
    }

    async fn list_audit_entries(
        &self,
        request: Request<proto::ListAuditEntriesRequest>,
    ) -> Answer<proto::ListAuditEntriesResponse> {
        let caller = self.auth.caller(&request).await?;
        let answer = self
            .list_audit_entries_for(&caller, request.into_inner())
            .await?;
        Ok(Response::new(answer))
    }
}

/// The audit entry for `method` of this service on `resource`.
fn audited(caller: &Caller, tenant_id: &str, method: &str, resource: String) -> Change {
    Change::by(caller, tenant_id, SERVICE_NAME, method, resource)
}

fn member_ref(tenant_id: &str, member_id: &str) -> Result<(), DomainError> {
    Violations::new()
        .id("tenant_id", tenant_id)
        .id("member_id", member_id)
        .finish()
}

fn tenant_resource(tenant_id: &str) -> String {
    format!("tenants/{tenant_id}")
}

fn client_resource(client_id: &str) -> String {
    format!("api_clients/{client_id}")
}

/// The audit entry of a tenant update: the settings it sets.
fn tenant_change_audit(caller: &Caller, tenant_id: &str, change: &TenantChange) -> Change {
    let mut audit = audited(
        caller,
        tenant_id,
        "UpdateTenant",
        tenant_resource(tenant_id),
    );
    let settings = [
        ("name", &change.name),
        ("time_zone", &change.time_zone),
        ("default_locale", &change.default_locale),
    ];
    for (field, value) in settings {
        if let Some(value) = value {
            audit = audit.with(field, value.as_str());
        }
    }
    if let Some(status) = change.status {
        audit = audit.with("status", status.as_str());
    }
    audit
}

/// The change an update asks for, validated.
fn tenant_change(req: &proto::UpdateTenantRequest) -> Result<TenantChange, DomainError> {
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
    let status = match proto::TenantStatus::try_from(req.status) {
        Ok(proto::TenantStatus::Unspecified) => None,
        Ok(proto::TenantStatus::Active) => Some(TenantStatus::Active),
        Ok(proto::TenantStatus::Suspended) => Some(TenantStatus::Suspended),
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

/// The client, and its new key on the first answer only.
fn shown_once(outcome: ClientOutcome) -> (proto::ApiClient, String) {
    match outcome {
        ClientOutcome::Created(client, key) => (pb::client(client), key.full()),
        ClientOutcome::Replayed(client) => (pb::client(client), String::new()),
    }
}

fn random_api_key() -> Result<NewApiKey, DomainError> {
    Ok(NewApiKey::from_random(random_bytes()?, random_bytes()?))
}
