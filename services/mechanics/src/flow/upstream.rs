//! What mechanics asks of other services: the ledger credits each award
//! once, always as the tracking caller (the caller's token travels
//! downstream); identity tells a tenant's time zone.
//!
//! Awards credited at the same moment travel together: one `CreditBatch`
//! per tenant and caller (`kit::group`), each credit carrying the trace of
//! the event it belongs to, so the ledger's work for it joins that trace.

use async_trait::async_trait;
use questline_kit::DomainError;
use questline_kit::client::Channel;
use questline_kit::client::Outgoing;
use questline_kit::credential::ServiceCredential;
use questline_kit::error::{code_named, from_upstream};
use questline_kit::group::{Batch, Group};
use questline_proto::identity::{GetTenantRequest, identity_service_client::IdentityServiceClient};
use questline_proto::ledger::{
    CreditBatchRequest, CreditOutcome, CreditRequest, ledger_service_client::LedgerServiceClient,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use tonic::Code;
use tracing::Instrument;

use crate::domain::track::{award_key, award_reason};
use crate::store::entities::award;

/// The ledger's part of tracking.
#[async_trait]
pub trait Points: Send + Sync + 'static {
    /// Credits an award to its member; returns the ledger transfer id.
    /// Idempotent by (event, rule): a repeat answers the first transfer.
    async fn credit(&self, token: &str, award: &award::Model) -> Result<String, DomainError>;
}

/// Most credits in one `CreditBatch` (the ledger takes up to 1,000).
const MOST: usize = 256;

pub struct Ledger {
    credits: Group<Crediting>,
}

impl Ledger {
    pub fn new(channel: Channel) -> Ledger {
        Ledger {
            credits: Group::start(Crediting { channel }, MOST),
        }
    }
}

#[async_trait]
impl Points for Ledger {
    async fn credit(&self, token: &str, award: &award::Model) -> Result<String, DomainError> {
        let credit = Credit {
            token: token.to_string(),
            request: CreditRequest {
                tenant_id: award.tenant_id.clone(),
                member_id: award.member_id.clone(),
                currency: award.currency.clone(),
                amount: award.points,
                reason: award_reason(&award.rule_name),
                idempotency_key: award_key(&award.event_id, &award.rule_id),
                // Where the points came from: the tracked event.
                reference: format!("events/{}", award.event_id),
                metadata: None,
                trace_context: questline_kit::telemetry::current_context(),
            },
        };
        self.credits.submit(credit).await
    }
}

/// One award's credit, as the caller who tracked its event.
struct Credit {
    token: String,
    request: CreditRequest,
}

/// Sends the credits waiting together: one `CreditBatch` per tenant and
/// caller, side by side; answers each with its transfer id or refusal.
struct Crediting {
    channel: Channel,
}

#[async_trait]
impl Batch for Crediting {
    type Job = Credit;
    type Answer = String;

    async fn carry_out(&mut self, jobs: Vec<Credit>) -> Vec<Result<String, DomainError>> {
        let count = jobs.len();
        let mut runs: BTreeMap<(String, String), Vec<(usize, CreditRequest)>> = BTreeMap::new();
        for (i, Credit { token, request }) in jobs.into_iter().enumerate() {
            let run = (request.tenant_id.clone(), token);
            runs.entry(run).or_default().push((i, request));
        }
        let this = &*self;
        let sent = runs.into_iter().map(|((tenant_id, token), run)| {
            let span = batch_span(&run[0].1);
            async move {
                let (at, credits): (Vec<usize>, Vec<CreditRequest>) = run.into_iter().unzip();
                (at, this.send(&tenant_id, &token, credits).await)
            }
            .instrument(span)
        });
        // Filled run by run; an error is made (and logged) only for a
        // credit no run answered.
        let mut answers: Vec<Option<Result<String, DomainError>>> =
            (0..count).map(|_| None).collect();
        for (at, outcome) in futures::future::join_all(sent).await {
            match outcome {
                Ok(outcomes) => {
                    for (i, outcome) in at.into_iter().zip(outcomes) {
                        answers[i] = Some(transfer_of(outcome));
                    }
                }
                Err(err) => at
                    .into_iter()
                    .for_each(|i| answers[i] = Some(Err(err.clone()))),
            }
        }
        answers
            .into_iter()
            .map(|a| {
                a.unwrap_or_else(|| {
                    Err(DomainError::internal("the ledger left a credit unanswered"))
                })
            })
            .collect()
    }
}

impl Crediting {
    /// One `CreditBatch` of `tenant_id`'s credits as the caller of `token`.
    async fn send(
        &self,
        tenant_id: &str,
        token: &str,
        credits: Vec<CreditRequest>,
    ) -> Result<Vec<CreditOutcome>, DomainError> {
        let expected = credits.len();
        let request = CreditBatchRequest {
            tenant_id: tenant_id.to_string(),
            credits,
        };
        let outcomes =
            LedgerServiceClient::with_interceptor(self.channel.clone(), Outgoing::bearer(token))
                .credit_batch(request)
                .await
                .map_err(from_upstream)?
                .into_inner()
                .outcomes;
        if outcomes.len() != expected {
            return Err(DomainError::internal(
                "the ledger answered another number of credits",
            ));
        }
        Ok(outcomes)
    }
}

/// The span a batch's call hangs under: in the trace of its first credit's
/// event (the others' traces show the ledger's work through their own
/// `trace_context`).
fn batch_span(first: &CreditRequest) -> tracing::Span {
    let span = tracing::info_span!(
        "credits",
        otel.name = "mechanics credit awards",
        questline.service = "mechanics"
    );
    questline_kit::telemetry::adopt_context(&span, &first.trace_context);
    span
}

/// A credit's transfer id, or its refusal as the ledger named it. A batch
/// answer carries no field details: a refused argument keeps the ledger's
/// words as the award's violation.
fn transfer_of(outcome: CreditOutcome) -> Result<String, DomainError> {
    match (outcome.credited, outcome.error) {
        (_, Some(error)) => Err(match code_named(&error.code) {
            Code::InvalidArgument | Code::OutOfRange => {
                DomainError::invalid("award", error.message)
            }
            code => from_upstream(tonic::Status::new(code, error.message)),
        }),
        (Some(credited), None) => Ok(credited.transfer.map(|t| t.transfer_id).unwrap_or_default()),
        (None, None) => Err(DomainError::internal(
            "the ledger answered a credit with nothing",
        )),
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

#[cfg(test)]
mod tests {
    use super::*;
    use questline_proto::ledger::{CreditError, CreditResponse, Transfer};

    fn refused(code: &str, message: &str) -> CreditOutcome {
        CreditOutcome {
            error: Some(CreditError {
                code: code.into(),
                message: message.into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn each_outcome_reads_as_the_ledger_meant_it() {
        let credited = CreditOutcome {
            credited: Some(CreditResponse {
                transfer: Some(Transfer {
                    transfer_id: "t-1".into(),
                    ..Default::default()
                }),
                balance: None,
            }),
            ..Default::default()
        };
        assert_eq!(transfer_of(credited).unwrap(), "t-1");
        let unseen = transfer_of(refused("NOT_FOUND", "no such member"));
        assert!(matches!(unseen, Err(DomainError::NotFound(m)) if m == "no such member"));
        let down = transfer_of(refused("UNAVAILABLE", "try later"));
        assert!(matches!(down, Err(DomainError::Unavailable(_))));
        let Err(DomainError::Invalid(violations)) =
            transfer_of(refused("INVALID_ARGUMENT", "amount: too large"))
        else {
            panic!("an invalid credit reads as invalid");
        };
        assert_eq!(
            (
                violations[0].field.as_str(),
                violations[0].description.as_str()
            ),
            ("award", "amount: too large")
        );
        assert!(matches!(
            transfer_of(CreditOutcome::default()),
            Err(DomainError::Internal(_))
        ));
    }
}
