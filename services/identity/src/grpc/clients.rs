//! API clients, their keys, the tokens a key (or the operator key) is
//! exchanged for, and the signing keys behind those tokens.

use async_trait::async_trait;
use questline_kit::auth::{KeySource, PublicKey, Scope};
use questline_kit::events::INSTALLATION;
use questline_kit::time::now_ms;
use questline_kit::{DomainError, Violations, fingerprint, new_id, paging, random_bytes};
use questline_proto::identity as pb;
use tonic::{Request, Response};

use super::{IdentityApi, audited, decode, encode, operator_only};
use crate::domain::clients::{self, ClientStatus, KeyGrant};
use crate::domain::keys::{self, Grant, NewApiKey};
use crate::domain::tenants;
use crate::store::entities::api_client;
use crate::store::{ClientOutcome, Rotation, Store};

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

pub(super) async fn create(
    api: &IdentityApi,
    request: Request<pb::CreateApiClientRequest>,
) -> tonic::Result<Response<pb::CreateApiClientResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    Violations::new()
        .id("tenant_id", &req.tenant_id)
        .text("name", &req.name)
        .text("idempotency_key", &req.idempotency_key)
        .finish()?;
    let scopes = decode::client_scopes(&req.tenant_id, &req.scopes)?;
    if req.tenant_id == clients::SERVICE_CLIENTS {
        clients::service_client_name(&req.name)?;
        operator_only(&caller, "creates service clients")?;
    } else {
        caller.require_admin(&req.tenant_id)?;
        api.store.active_tenant(&req.tenant_id).await?;
    }
    let draft = api_client::Model {
        client_id: new_id(),
        tenant_id: req.tenant_id.clone(),
        name: req.name.clone(),
        scopes: clients::scopes_to_text(&scopes),
        status: ClientStatus::Active.as_str().into(),
        idempotency_key: req.idempotency_key.clone(),
        fingerprint: fingerprint::of(&req),
        created_at: now_ms(),
        revoked_at: None,
    };
    let change = audited(
        &caller,
        &req.tenant_id,
        "CreateApiClient",
        resource(&draft.client_id),
    )
    .with("name", req.name.as_str())
    .with("scopes", draft.scopes.as_str());
    let outcome = api
        .store
        .create_api_client(draft, random_api_key()?, &change)
        .await?;
    let (client, api_key) = shown_once(outcome);
    Ok(Response::new(pb::CreateApiClientResponse {
        client: Some(client),
        api_key,
    }))
}

pub(super) async fn list(
    api: &IdentityApi,
    request: Request<pb::ListApiClientsRequest>,
) -> tonic::Result<Response<pb::ListApiClientsResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    Violations::new().id("tenant_id", &req.tenant_id).finish()?;
    let page = paging::parse(req.page_size, &req.page_token)?;
    caller.require_admin(&req.tenant_id)?;
    let rows = api.store.api_clients(&req.tenant_id, &page).await?;
    let (rows, next_page_token) = page.finish(rows, |(c, _)| c.client_id.as_str());
    Ok(Response::new(pb::ListApiClientsResponse {
        next_page_token,
        clients: rows.into_iter().map(encode::client).collect(),
    }))
}

pub(super) async fn rotate_key(
    api: &IdentityApi,
    request: Request<pb::RotateApiKeyRequest>,
) -> tonic::Result<Response<pb::RotateApiKeyResponse>> {
    let caller = api.auth.caller(&request).await?;
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
        resource(&req.client_id),
    )
    .with("grace_seconds", grace);
    let outcome = api
        .store
        .rotate_api_key(rotation, random_api_key()?, &change)
        .await?;
    let (client, api_key) = shown_once(outcome);
    Ok(Response::new(pb::RotateApiKeyResponse {
        client: Some(client),
        api_key,
    }))
}

pub(super) async fn revoke(
    api: &IdentityApi,
    request: Request<pb::RevokeApiClientRequest>,
) -> tonic::Result<Response<pb::RevokeApiClientResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    decode::within_tenant(&req.tenant_id, "client_id", &req.client_id)?;
    caller.require_admin(&req.tenant_id)?;
    let change = audited(
        &caller,
        &req.tenant_id,
        "RevokeApiClient",
        resource(&req.client_id),
    );
    let row = api
        .store
        .revoke_api_client(&req.tenant_id, &req.client_id, &change)
        .await?;
    Ok(Response::new(pb::RevokeApiClientResponse {
        client: Some(encode::client(row)),
    }))
}

pub(super) async fn issue_token(
    api: &IdentityApi,
    request: Request<pb::IssueTokenRequest>,
) -> tonic::Result<Response<pb::IssueTokenResponse>> {
    let req = request.into_inner();
    let mut v = Violations::new();
    v.text("api_key", &req.api_key);
    if !req.tenant_id.is_empty() {
        v.id("tenant_id", &req.tenant_id);
    }
    v.finish()?;
    let granted = grant_for(api, &req.api_key, &req.tenant_id).await?;
    let grant = Grant {
        subject: &granted.client_id,
        client: &granted.client_id,
        tenant: &granted.tenant_id,
        scopes: granted.scopes,
        service: &granted.service,
    };
    let access_token = token(api, grant).await?;
    Ok(Response::new(pb::IssueTokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in_seconds: api.token_ttl_seconds,
        tenant_id: granted.tenant_id,
    }))
}

pub(super) async fn issue_member_token(
    api: &IdentityApi,
    request: Request<pb::IssueMemberTokenRequest>,
) -> tonic::Result<Response<pb::IssueMemberTokenResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    decode::within_tenant(&req.tenant_id, "member_id", &req.member_id)?;
    caller.require(&req.tenant_id, &[Scope::Server])?;
    let member = api.store.member(&req.tenant_id, &req.member_id).await?;
    let grant = Grant {
        subject: &member.member_id,
        client: &caller.claims.cid,
        tenant: &member.tenant_id,
        scopes: vec![Scope::Member],
        service: "",
    };
    let access_token = token(api, grant).await?;
    Ok(Response::new(pb::IssueMemberTokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in_seconds: api.token_ttl_seconds,
    }))
}

pub(super) async fn jwks(
    api: &IdentityApi,
    _request: Request<pb::GetJwksRequest>,
) -> tonic::Result<Response<pb::GetJwksResponse>> {
    let keys = api.store.public_keys().await?;
    Ok(Response::new(pb::GetJwksResponse {
        keys: keys.into_iter().map(encode::json_web_key).collect(),
    }))
}

pub(super) async fn rotate_signing_key(
    api: &IdentityApi,
    request: Request<pb::RotateSigningKeyRequest>,
) -> tonic::Result<Response<pb::RotateSigningKeyResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let mut v = Violations::new();
    let overlap = req.overlap_seconds.unwrap_or(api.token_ttl_seconds);
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
    let rotation = api
        .store
        .rotate_signing_key(random_bytes()?, overlap * 1000, change)
        .await?;
    Ok(Response::new(pb::RotateSigningKeyResponse {
        kid: rotation.kid,
        retired_kids: rotation.retired_now,
    }))
}

/// The grant an API key (or the operator key) entitles its holder to, in
/// `acting_for` when a service key names a tenant.
async fn grant_for(
    api: &IdentityApi,
    api_key: &str,
    acting_for: &str,
) -> Result<KeyGrant, DomainError> {
    if clients::is_operator_key(api_key, api.operator_key_hash.as_deref()) {
        return Ok(KeyGrant {
            client_id: "operator".into(),
            tenant_id: String::new(),
            scopes: vec![Scope::Operator],
            service: String::new(),
            mark_used: None,
        });
    }
    let on_file = api.store.key_on_file(api_key, acting_for).await?;
    let now = now_ms();
    let grant = clients::grant_for_key(api_key, on_file, acting_for, now)?;
    if let Some(prefix) = &grant.mark_used {
        api.store.mark_used(prefix, now).await?;
    }
    Ok(grant)
}

/// A signed token for `grant`, with the key that signs now.
async fn token(api: &IdentityApi, grant: Grant<'_>) -> Result<String, DomainError> {
    let signing = api.store.signing_key(random_bytes).await?;
    let claims = keys::claims(grant, now_ms() / 1000, api.token_ttl_seconds);
    keys::sign(&claims, &signing)
}

fn resource(client_id: &str) -> String {
    format!("api_clients/{client_id}")
}

/// The client, and its new key on the first answer only.
fn shown_once(outcome: ClientOutcome) -> (pb::ApiClient, String) {
    match outcome {
        ClientOutcome::Created(client, key) => (encode::client(client), key.full()),
        ClientOutcome::Replayed(client) => (encode::client(client), String::new()),
    }
}

fn random_api_key() -> Result<NewApiKey, DomainError> {
    Ok(NewApiKey::from_random(random_bytes()?, random_bytes()?))
}
