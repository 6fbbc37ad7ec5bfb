//! What mechanics asks of other services: the ledger credits each award
//! once, always as the tracking caller (the caller's token travels
//! downstream); identity tells a tenant's time zone.

use async_trait::async_trait;
use questline_kit::DomainError;
use questline_kit::client::Channel;
use questline_kit::client::Outgoing;
use questline_kit::credential::ServiceCredential;
use questline_kit::error::from_upstream;
use questline_proto::identity::{GetTenantRequest, identity_service_client::IdentityServiceClient};
use questline_proto::ledger::{CreditRequest, ledger_service_client::LedgerServiceClient};
use std::sync::Arc;

use crate::domain::track::{award_key, award_reason};
use crate::store::entities::award;

/// The ledger's part of tracking.
#[async_trait]
pub trait Points: Send + Sync + 'static {
    /// Credits an award to its member; returns the ledger transfer id.
    /// Idempotent by (event, rule): a repeat answers the first transfer.
    async fn credit(&self, token: &str, award: &award::Model) -> Result<String, DomainError>;
}

pub struct Ledger {
    channel: Channel,
}

impl Ledger {
    pub fn new(channel: Channel) -> Ledger {
        Ledger { channel }
    }
}

#[async_trait]
impl Points for Ledger {
    async fn credit(&self, token: &str, award: &award::Model) -> Result<String, DomainError> {
        let request = CreditRequest {
            tenant_id: award.tenant_id.clone(),
            member_id: award.member_id.clone(),
            currency: award.currency.clone(),
            amount: award.points,
            reason: award_reason(&award.rule_name),
            idempotency_key: award_key(&award.event_id, &award.rule_id),
            // Where the points came from: the tracked event.
            reference: format!("events/{}", award.event_id),
            metadata: None,
        };
        let credited =
            LedgerServiceClient::with_interceptor(self.channel.clone(), Outgoing::bearer(token))
                .credit(request)
                .await
                .map_err(from_upstream)?
                .into_inner();
        Ok(credited.transfer.map(|t| t.transfer_id).unwrap_or_default())
    }
}

/// Where a tenant's time zone comes from: identity, asked with mechanics'
/// own credential, so whoever may save or check a rule gets the same zone.
pub struct TenantZones {
    identity: Channel,
    credential: Arc<ServiceCredential>,
}

impl TenantZones {
    pub fn new(identity: Channel, credential: Arc<ServiceCredential>) -> TenantZones {
        TenantZones {
            identity,
            credential,
        }
    }

    /// The tenant's IANA time zone.
    pub async fn of(&self, tenant_id: &str) -> Result<String, DomainError> {
        if !self.credential.has_key() {
            return Err(DomainError::invalid(
                "time_zone",
                "is required: this installation has no service key to read the tenant's",
            ));
        }
        let token = self.credential.token(tenant_id).await?;
        let request = GetTenantRequest {
            tenant_id: tenant_id.into(),
        };
        let tenant = IdentityServiceClient::with_interceptor(
            self.identity.clone(),
            Outgoing::bearer(&token),
        )
        .get_tenant(request)
        .await
        .map_err(from_upstream)?
        .into_inner()
        .tenant
        .ok_or_else(|| DomainError::internal("identity answered without a tenant"))?;
        Ok(tenant.time_zone)
    }
}
