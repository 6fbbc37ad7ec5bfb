//! What a redemption asks of the ledger, always as its caller (the caller's
//! token travels downstream): hold the price, then spend it or give it back.

use async_trait::async_trait;
use questline_kit::DomainError;
use questline_kit::client::Channel;
use questline_kit::client::Outgoing;
use questline_kit::error::from_upstream;
use questline_proto::ledger::{
    CommitHoldRequest, CreateHoldRequest, VoidHoldRequest,
    ledger_service_client::LedgerServiceClient,
};

use crate::domain::redemption::{HOLD_TTL_SECONDS, hold_key, hold_reason};
use crate::store::entities::redemption;

/// The ledger's part of a redemption.
#[async_trait]
pub trait Points: Send + Sync + 'static {
    /// Reserves the redemption's price on the member's wallet; returns the hold id.
    /// Idempotent by the redemption id.
    async fn hold(&self, token: &str, r: &redemption::Model) -> Result<String, DomainError>;
    async fn commit(&self, token: &str, tenant_id: &str, hold_id: &str) -> Result<(), DomainError>;
    async fn void(&self, token: &str, tenant_id: &str, hold_id: &str) -> Result<(), DomainError>;
}

pub struct Ledger {
    channel: Channel,
}

impl Ledger {
    pub fn new(channel: Channel) -> Ledger {
        Ledger { channel }
    }

    fn client(&self, token: &str) -> LedgerServiceClient<questline_kit::client::Intercepted> {
        LedgerServiceClient::with_interceptor(self.channel.clone(), Outgoing::bearer(token))
    }
}

#[async_trait]
impl Points for Ledger {
    async fn hold(&self, token: &str, r: &redemption::Model) -> Result<String, DomainError> {
        let request = CreateHoldRequest {
            tenant_id: r.tenant_id.clone(),
            member_id: r.member_id.clone(),
            currency: r.currency.clone(),
            amount: r.price,
            reason: hold_reason(&r.reward_name),
            ttl_seconds: HOLD_TTL_SECONDS,
            idempotency_key: hold_key(&r.redemption_id),
        };
        let response = self
            .client(token)
            .create_hold(request)
            .await
            .map_err(from_upstream)?;
        response
            .into_inner()
            .hold
            .map(|h| h.hold_id)
            .ok_or_else(|| DomainError::internal("ledger answered CreateHold without a hold"))
    }

    async fn commit(&self, token: &str, tenant_id: &str, hold_id: &str) -> Result<(), DomainError> {
        let request = CommitHoldRequest {
            tenant_id: tenant_id.into(),
            hold_id: hold_id.into(),
            amount: 0,
        };
        self.client(token)
            .commit_hold(request)
            .await
            .map_err(from_upstream)?;
        Ok(())
    }

    async fn void(&self, token: &str, tenant_id: &str, hold_id: &str) -> Result<(), DomainError> {
        let request = VoidHoldRequest {
            tenant_id: tenant_id.into(),
            hold_id: hold_id.into(),
        };
        self.client(token)
            .void_hold(request)
            .await
            .map_err(from_upstream)?;
        Ok(())
    }
}
