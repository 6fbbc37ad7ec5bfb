//! What tracking asks of the ledger, always as its caller (the caller's token
//! travels downstream): credit each award once.

use async_trait::async_trait;
use questline_kit::DomainError;
use questline_kit::client::Channel;
use questline_kit::client::Outgoing;
use questline_kit::error::from_upstream;
use questline_proto::ledger::{CreditRequest, ledger_service_client::LedgerServiceClient};

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
