//! The one call notifications makes to another service: the member as
//! identity knows them now, read with notifications' own credential just
//! before a message leaves (addresses are never kept here).

use async_trait::async_trait;
use questline_kit::DomainError;
use questline_kit::client::{Channel, Outgoing};
use questline_kit::credential::ServiceCredential;
use questline_kit::error::from_upstream;
use questline_proto::identity::identity_service_client::IdentityServiceClient;
use questline_proto::identity::{GetMemberRequest, Member};
use std::sync::Arc;

#[async_trait]
pub trait Directory: Send + Sync {
    /// The member now; None once erased (or never known).
    async fn member(&self, tenant_id: &str, member_id: &str)
    -> Result<Option<Member>, DomainError>;
}

/// Identity over gRPC.
pub struct Identity {
    channel: Channel,
    credential: Arc<ServiceCredential>,
}

impl Identity {
    pub fn new(channel: Channel, credential: Arc<ServiceCredential>) -> Identity {
        Identity {
            channel,
            credential,
        }
    }
}

#[async_trait]
impl Directory for Identity {
    async fn member(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<Option<Member>, DomainError> {
        if !self.credential.has_key() {
            return Err(DomainError::Unavailable(
                "this installation has no service key for notifications to read members with"
                    .into(),
            ));
        }
        let token = self.credential.token(tenant_id).await?;
        let request = GetMemberRequest {
            tenant_id: tenant_id.into(),
            member_id: member_id.into(),
            external_id: String::new(),
        };
        let answer =
            IdentityServiceClient::with_interceptor(self.channel.clone(), Outgoing::bearer(&token))
                .get_member(request)
                .await;
        match answer {
            Ok(answer) => Ok(answer
                .into_inner()
                .member
                .filter(|m| m.erase_time.is_none())),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(from_upstream(status)),
        }
    }
}
