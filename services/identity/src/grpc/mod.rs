//! `questline.identity.v1.IdentityService`: one line per RPC, grouped by
//! resource. Each resource's file decodes, authorises, calls the domain and
//! the store, and encodes.

mod audit;
mod clients;
mod decode;
mod encode;
mod export;
mod members;
mod segments;
mod tenants;

pub use clients::LocalKeys;
pub use export::Peers;

use questline_kit::DomainError;
use questline_kit::audit::Change;
use questline_kit::auth::{Caller, TokenVerifier};
use questline_proto::identity as pb;
use questline_proto::identity::identity_service_server::{IdentityService, SERVICE_NAME};
use std::sync::Arc;
use tonic::{Request, Response};

use crate::domain::keys;
use crate::store::Store;

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
}

#[tonic::async_trait]
impl IdentityService for IdentityApi {
    // Tenants

    async fn create_tenant(
        &self,
        request: Request<pb::CreateTenantRequest>,
    ) -> tonic::Result<Response<pb::CreateTenantResponse>> {
        tenants::create(self, request).await
    }

    async fn get_tenant(
        &self,
        request: Request<pb::GetTenantRequest>,
    ) -> tonic::Result<Response<pb::GetTenantResponse>> {
        tenants::get(self, request).await
    }

    async fn list_tenants(
        &self,
        request: Request<pb::ListTenantsRequest>,
    ) -> tonic::Result<Response<pb::ListTenantsResponse>> {
        tenants::list(self, request).await
    }

    async fn update_tenant(
        &self,
        request: Request<pb::UpdateTenantRequest>,
    ) -> tonic::Result<Response<pb::UpdateTenantResponse>> {
        tenants::update(self, request).await
    }

    // API clients and tokens

    async fn create_api_client(
        &self,
        request: Request<pb::CreateApiClientRequest>,
    ) -> tonic::Result<Response<pb::CreateApiClientResponse>> {
        clients::create(self, request).await
    }

    async fn list_api_clients(
        &self,
        request: Request<pb::ListApiClientsRequest>,
    ) -> tonic::Result<Response<pb::ListApiClientsResponse>> {
        clients::list(self, request).await
    }

    async fn rotate_api_key(
        &self,
        request: Request<pb::RotateApiKeyRequest>,
    ) -> tonic::Result<Response<pb::RotateApiKeyResponse>> {
        clients::rotate_key(self, request).await
    }

    async fn revoke_api_client(
        &self,
        request: Request<pb::RevokeApiClientRequest>,
    ) -> tonic::Result<Response<pb::RevokeApiClientResponse>> {
        clients::revoke(self, request).await
    }

    async fn issue_token(
        &self,
        request: Request<pb::IssueTokenRequest>,
    ) -> tonic::Result<Response<pb::IssueTokenResponse>> {
        clients::issue_token(self, request).await
    }

    async fn issue_member_token(
        &self,
        request: Request<pb::IssueMemberTokenRequest>,
    ) -> tonic::Result<Response<pb::IssueMemberTokenResponse>> {
        clients::issue_member_token(self, request).await
    }

    async fn get_jwks(
        &self,
        request: Request<pb::GetJwksRequest>,
    ) -> tonic::Result<Response<pb::GetJwksResponse>> {
        clients::jwks(self, request).await
    }

    async fn rotate_signing_key(
        &self,
        request: Request<pb::RotateSigningKeyRequest>,
    ) -> tonic::Result<Response<pb::RotateSigningKeyResponse>> {
        clients::rotate_signing_key(self, request).await
    }

    // Members

    async fn upsert_member(
        &self,
        request: Request<pb::UpsertMemberRequest>,
    ) -> tonic::Result<Response<pb::UpsertMemberResponse>> {
        members::upsert(self, request).await
    }

    async fn get_member(
        &self,
        request: Request<pb::GetMemberRequest>,
    ) -> tonic::Result<Response<pb::GetMemberResponse>> {
        members::get(self, request).await
    }

    async fn list_members(
        &self,
        request: Request<pb::ListMembersRequest>,
    ) -> tonic::Result<Response<pb::ListMembersResponse>> {
        members::list(self, request).await
    }

    async fn erase_member(
        &self,
        request: Request<pb::EraseMemberRequest>,
    ) -> tonic::Result<Response<pb::EraseMemberResponse>> {
        members::erase(self, request).await
    }

    // Consent

    async fn update_consent(
        &self,
        request: Request<pb::UpdateConsentRequest>,
    ) -> tonic::Result<Response<pb::UpdateConsentResponse>> {
        members::update_consent(self, request).await
    }

    // Segments

    async fn create_segment(
        &self,
        request: Request<pb::CreateSegmentRequest>,
    ) -> tonic::Result<Response<pb::CreateSegmentResponse>> {
        segments::create(self, request).await
    }

    async fn update_segment(
        &self,
        request: Request<pb::UpdateSegmentRequest>,
    ) -> tonic::Result<Response<pb::UpdateSegmentResponse>> {
        segments::update(self, request).await
    }

    async fn get_segment(
        &self,
        request: Request<pb::GetSegmentRequest>,
    ) -> tonic::Result<Response<pb::GetSegmentResponse>> {
        segments::get(self, request).await
    }

    async fn list_segments(
        &self,
        request: Request<pb::ListSegmentsRequest>,
    ) -> tonic::Result<Response<pb::ListSegmentsResponse>> {
        segments::list(self, request).await
    }

    async fn delete_segment(
        &self,
        request: Request<pb::DeleteSegmentRequest>,
    ) -> tonic::Result<Response<pb::DeleteSegmentResponse>> {
        segments::delete(self, request).await
    }

    async fn validate_segment(
        &self,
        request: Request<pb::ValidateSegmentRequest>,
    ) -> tonic::Result<Response<pb::ValidateSegmentResponse>> {
        segments::validate(self, request).await
    }

    async fn evaluate_segment(
        &self,
        request: Request<pb::EvaluateSegmentRequest>,
    ) -> tonic::Result<Response<pb::EvaluateSegmentResponse>> {
        segments::evaluate(self, request).await
    }

    async fn list_segment_members(
        &self,
        request: Request<pb::ListSegmentMembersRequest>,
    ) -> tonic::Result<Response<pb::ListSegmentMembersResponse>> {
        segments::list_members(self, request).await
    }

    // Audit

    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> tonic::Result<Response<pb::ListAuditEntriesResponse>> {
        audit::list(self, request).await
    }

    // Export

    async fn export_member(
        &self,
        request: Request<pb::ExportMemberRequest>,
    ) -> tonic::Result<Response<pb::ExportMemberResponse>> {
        export::member(self, request).await
    }
}

/// The audit entry for `method` of this service on `resource`.
fn audited(caller: &Caller, tenant_id: &str, method: &str, resource: String) -> Change {
    Change::by(caller, tenant_id, SERVICE_NAME, method, resource)
}

fn operator_only(caller: &Caller, what: &str) -> Result<(), DomainError> {
    if caller.is_operator() {
        Ok(())
    } else {
        Err(DomainError::PermissionDenied(format!(
            "only the operator {what}"
        )))
    }
}
