//! The Track flow: dedup by event id, evaluate the active rules against the
//! event and the member, record the outcome, then credit each award through
//! the ledger. Every step can be repeated: a replay of a pending event resumes
//! where it stopped, a replay of an applied one answers as the first time.

use questline_kit::auth::Caller;
use questline_kit::client::Outgoing;
use questline_kit::error::from_upstream;
use questline_kit::members::MemberDirectory;
use questline_kit::meter::{EVENT_CREDIT_LATENCY, EVENTS_TRACKED};
use questline_kit::time::{from_timestamp, now_ms};
use questline_kit::{DomainError, fingerprint};
use questline_proto::ledger::{CreditRequest, ledger_service_client::LedgerServiceClient};
use questline_proto::mechanics::{Award, TrackRequest, TrackResponse};
use tonic::transport::Channel;

use crate::domain::rules::Facts;
use crate::domain::track::{self, award_key};
use crate::store::entities::tracked_event;
use crate::store::{APPLIED, Store, Tracked};

pub struct Tracker {
    store: Store,
    members: MemberDirectory,
    ledger: Channel,
}

impl Tracker {
    pub fn new(store: Store, members: MemberDirectory, ledger: Channel) -> Tracker {
        Tracker {
            store,
            members,
            ledger,
        }
    }

    /// The member read model, for checks outside the hot path (exports).
    pub fn members(&self) -> &MemberDirectory {
        &self.members
    }

    pub async fn track(
        &self,
        caller: &Caller,
        req: TrackRequest,
    ) -> Result<TrackResponse, DomainError> {
        let fingerprint = fingerprint::of(&req);
        let attributes =
            questline_kit::structs::to_json(req.attributes.clone().unwrap_or_default());
        let size = serde_json::to_vec(&attributes)
            .map(|b| b.len())
            .unwrap_or(usize::MAX);
        track::validate(
            &req.tenant_id,
            &req.event_id,
            &req.member_id,
            &req.event_type,
            size,
        )?;
        caller.require_server(&req.tenant_id)?;
        let mut tracked = match self.store.tracked(&req.tenant_id, &req.event_id).await? {
            Some(first) => first,
            None => {
                self.evaluate(caller, &req, attributes, &fingerprint)
                    .await?
            }
        };
        fingerprint::same_request(&tracked.event.fingerprint, &fingerprint)?;
        if tracked.event.status != APPLIED {
            self.apply(caller, &mut tracked).await?;
        }
        Ok(answer(tracked))
    }

    async fn evaluate(
        &self,
        caller: &Caller,
        req: &TrackRequest,
        attributes: serde_json::Map<String, serde_json::Value>,
        fingerprint: &str,
    ) -> Result<Tracked, DomainError> {
        let member = self
            .members
            .get(&req.tenant_id, &req.member_id, &caller.token)
            .await?;
        let rules: Vec<_> = self
            .store
            .active_rules(&req.tenant_id, &req.event_type)
            .await?
            .into_iter()
            .filter_map(|spec| {
                let rule_id = spec.rule_id.clone();
                spec.compile_stored()
                    .inspect_err(|err| tracing::warn!(%rule_id, %err, "stored rule does not compile; skipped"))
                    .ok()
            })
            .collect();
        let facts = Facts::new(
            &req.event_type,
            attributes,
            &member.member_id,
            &member.external_id,
            &member.facts,
        );
        let awards = track::evaluate(&rules, &facts);
        let now = now_ms();
        let row = tracked_event::Model {
            tenant_id: req.tenant_id.clone(),
            event_id: req.event_id.clone(),
            member_id: req.member_id.clone(),
            event_type: req.event_type.clone(),
            fingerprint: fingerprint.into(),
            status: String::new(),
            occurred_at: req.occur_time.as_ref().map(from_timestamp).unwrap_or(now),
            created_at: now,
        };
        match self.store.record(row, &awards).await {
            Ok(tracked) => {
                let outcome = if awards.is_empty() {
                    "no_award"
                } else {
                    "awarded"
                };
                metrics::counter!(EVENTS_TRACKED, "outcome" => outcome).increment(1);
                Ok(tracked)
            }
            // The same event tracked concurrently: the first record wins.
            Err(DomainError::Aborted(_)) => self
                .store
                .tracked(&req.tenant_id, &req.event_id)
                .await?
                .ok_or_else(|| DomainError::Aborted("event is being tracked concurrently".into())),
            other => other,
        }
    }

    /// Credits every award not yet carried by the ledger, then marks the event applied.
    async fn apply(&self, caller: &Caller, tracked: &mut Tracked) -> Result<(), DomainError> {
        let mut ledger = LedgerServiceClient::with_interceptor(
            self.ledger.clone(),
            Outgoing::bearer(&caller.token),
        );
        for award in tracked
            .awards
            .iter_mut()
            .filter(|a| a.transfer_id.is_none())
        {
            let credited = ledger
                .credit(CreditRequest {
                    tenant_id: award.tenant_id.clone(),
                    member_id: award.member_id.clone(),
                    currency: award.currency.clone(),
                    amount: award.points,
                    reason: track::award_reason(&award.rule_name),
                    idempotency_key: award_key(&award.event_id, &award.rule_id),
                    // Where the points came from: the tracked event.
                    reference: format!("events/{}", award.event_id),
                    metadata: None,
                })
                .await
                .map_err(from_upstream)?
                .into_inner();
            let transfer_id = credited.transfer.map(|t| t.transfer_id).unwrap_or_default();
            self.store.award_applied(award, &transfer_id).await?;
            award.transfer_id = Some(transfer_id);
        }
        let first = self
            .store
            .event_applied(&tracked.event.tenant_id, &tracked.event.event_id)
            .await?;
        tracked.event.status = APPLIED.into();
        if first && !tracked.awards.is_empty() {
            let since_recorded = now_ms().saturating_sub(tracked.event.created_at);
            metrics::histogram!(EVENT_CREDIT_LATENCY).record(since_recorded as f64 / 1000.0);
        }
        Ok(())
    }
}

fn answer(tracked: Tracked) -> TrackResponse {
    TrackResponse {
        event_id: tracked.event.event_id,
        awards: tracked
            .awards
            .into_iter()
            .map(|a| Award {
                rule_id: a.rule_id,
                currency: a.currency,
                points: a.points,
                transfer_id: a.transfer_id.unwrap_or_default(),
            })
            .collect(),
    }
}
