//! `questline.mechanics.v1.MechanicsService`: decode, authenticate,
//! authorise, hand over to the store or the Track flow, encode the answer.

mod batch;
mod counters;
mod decode;
mod encode;
mod rules;
mod schemas;
mod simulate;
mod zones;

use questline_kit::auth::TokenVerifier;
use questline_kit::{DomainError, structs};
use questline_proto::mechanics as pb;
use questline_proto::mechanics::mechanics_service_server::MechanicsService;
use std::sync::Arc;
use tonic::{Request, Response};

use crate::domain::rules::RuleStatus;
use crate::flow::Tracker;
use crate::flow::upstream::TenantZones;
use crate::store::{Store, StoredVerdict};

pub struct MechanicsApi {
    store: Store,
    tracker: Arc<Tracker>,
    zones: TenantZones,
    auth: Arc<TokenVerifier>,
}

impl MechanicsApi {
    pub fn new(
        store: Store,
        tracker: Arc<Tracker>,
        zones: TenantZones,
        auth: Arc<TokenVerifier>,
    ) -> MechanicsApi {
        MechanicsApi {
            store,
            tracker,
            zones,
            auth,
        }
    }
}

#[tonic::async_trait]
impl MechanicsService for MechanicsApi {
    // Rules

    async fn create_rule(
        &self,
        request: Request<pb::CreateRuleRequest>,
    ) -> tonic::Result<Response<pb::CreateRuleResponse>> {
        rules::create(self, request).await
    }

    async fn update_rule(
        &self,
        request: Request<pb::UpdateRuleRequest>,
    ) -> tonic::Result<Response<pb::UpdateRuleResponse>> {
        rules::update(self, request).await
    }

    async fn get_rule(
        &self,
        request: Request<pb::GetRuleRequest>,
    ) -> tonic::Result<Response<pb::GetRuleResponse>> {
        rules::get(self, request).await
    }

    async fn list_rules(
        &self,
        request: Request<pb::ListRulesRequest>,
    ) -> tonic::Result<Response<pb::ListRulesResponse>> {
        rules::list(self, request).await
    }

    async fn list_rule_versions(
        &self,
        request: Request<pb::ListRuleVersionsRequest>,
    ) -> tonic::Result<Response<pb::ListRuleVersionsResponse>> {
        rules::versions(self, request).await
    }

    async fn activate_rule(
        &self,
        request: Request<pb::ActivateRuleRequest>,
    ) -> tonic::Result<Response<pb::ActivateRuleResponse>> {
        let ids = (
            request.get_ref().tenant_id.clone(),
            request.get_ref().rule_id.clone(),
        );
        let stored =
            rules::set_status(self, request, ids, RuleStatus::Active, "ActivateRule").await?;
        Ok(Response::new(pb::ActivateRuleResponse {
            rule: Some(encode::rule(stored)),
        }))
    }

    async fn shadow_rule(
        &self,
        request: Request<pb::ShadowRuleRequest>,
    ) -> tonic::Result<Response<pb::ShadowRuleResponse>> {
        let ids = (
            request.get_ref().tenant_id.clone(),
            request.get_ref().rule_id.clone(),
        );
        let stored =
            rules::set_status(self, request, ids, RuleStatus::Shadow, "ShadowRule").await?;
        Ok(Response::new(pb::ShadowRuleResponse {
            rule: Some(encode::rule(stored)),
        }))
    }

    async fn pause_rule(
        &self,
        request: Request<pb::PauseRuleRequest>,
    ) -> tonic::Result<Response<pb::PauseRuleResponse>> {
        let ids = (
            request.get_ref().tenant_id.clone(),
            request.get_ref().rule_id.clone(),
        );
        let stored = rules::set_status(self, request, ids, RuleStatus::Paused, "PauseRule").await?;
        Ok(Response::new(pb::PauseRuleResponse {
            rule: Some(encode::rule(stored)),
        }))
    }

    async fn archive_rule(
        &self,
        request: Request<pb::ArchiveRuleRequest>,
    ) -> tonic::Result<Response<pb::ArchiveRuleResponse>> {
        let ids = (
            request.get_ref().tenant_id.clone(),
            request.get_ref().rule_id.clone(),
        );
        let stored =
            rules::set_status(self, request, ids, RuleStatus::Archived, "ArchiveRule").await?;
        Ok(Response::new(pb::ArchiveRuleResponse {
            rule: Some(encode::rule(stored)),
        }))
    }

    async fn validate_rule(
        &self,
        request: Request<pb::ValidateRuleRequest>,
    ) -> tonic::Result<Response<pb::ValidateRuleResponse>> {
        rules::validate(self, request).await
    }

    // Events

    async fn track(
        &self,
        request: Request<pb::TrackRequest>,
    ) -> tonic::Result<Response<pb::TrackResponse>> {
        let caller = self.auth.caller(&request).await?;
        let track = decode::track(request.into_inner())?;
        caller.require_server(&track.tenant_id)?;
        let tracked = self.tracker.track(&caller.token, &track).await?;
        Ok(Response::new(encode::tracked(tracked)))
    }

    async fn track_batch(
        &self,
        request: Request<pb::TrackBatchRequest>,
    ) -> tonic::Result<Response<pb::TrackBatchResponse>> {
        batch::track_batch(self, request).await
    }

    async fn explain_event(
        &self,
        request: Request<pb::ExplainEventRequest>,
    ) -> tonic::Result<Response<pb::ExplainEventResponse>> {
        let caller = self.auth.caller(&request).await?;
        let req = request.get_ref();
        questline_kit::Violations::new()
            .id("tenant_id", &req.tenant_id)
            .id("event_id", &req.event_id)
            .finish()?;
        caller.require_server(&req.tenant_id)?;
        let tracked = self
            .store
            .tracked(&req.tenant_id, &req.event_id)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("event {} not found", req.event_id)))?;
        let verdicts: Vec<StoredVerdict> =
            serde_json::from_str(&tracked.event.verdicts).map_err(DomainError::internal)?;
        let attributes = serde_json::from_str(&tracked.event.attributes)
            .map(|a| structs::from_json(&a))
            .map_err(DomainError::internal)?;
        Ok(Response::new(encode::explanation(
            tracked, verdicts, attributes,
        )))
    }

    type SimulateRulesStream = simulate::Stream;

    async fn simulate_rules(
        &self,
        request: Request<pb::SimulateRulesRequest>,
    ) -> tonic::Result<Response<Self::SimulateRulesStream>> {
        simulate::simulate(self, request).await
    }

    // Event schemas

    async fn put_event_schema(
        &self,
        request: Request<pb::PutEventSchemaRequest>,
    ) -> tonic::Result<Response<pb::PutEventSchemaResponse>> {
        schemas::put(self, request).await
    }

    async fn get_event_schema(
        &self,
        request: Request<pb::GetEventSchemaRequest>,
    ) -> tonic::Result<Response<pb::GetEventSchemaResponse>> {
        schemas::get(self, request).await
    }

    async fn list_event_schemas(
        &self,
        request: Request<pb::ListEventSchemasRequest>,
    ) -> tonic::Result<Response<pb::ListEventSchemasResponse>> {
        schemas::list(self, request).await
    }

    async fn delete_event_schema(
        &self,
        request: Request<pb::DeleteEventSchemaRequest>,
    ) -> tonic::Result<Response<pb::DeleteEventSchemaResponse>> {
        schemas::delete(self, request).await
    }

    // Counters

    async fn put_counter(
        &self,
        request: Request<pb::PutCounterRequest>,
    ) -> tonic::Result<Response<pb::PutCounterResponse>> {
        counters::put(self, request).await
    }

    async fn get_counter(
        &self,
        request: Request<pb::GetCounterRequest>,
    ) -> tonic::Result<Response<pb::GetCounterResponse>> {
        counters::get(self, request).await
    }

    async fn list_counters(
        &self,
        request: Request<pb::ListCountersRequest>,
    ) -> tonic::Result<Response<pb::ListCountersResponse>> {
        counters::list(self, request).await
    }

    async fn delete_counter(
        &self,
        request: Request<pb::DeleteCounterRequest>,
    ) -> tonic::Result<Response<pb::DeleteCounterResponse>> {
        counters::delete(self, request).await
    }

    async fn get_member_counters(
        &self,
        request: Request<pb::GetMemberCountersRequest>,
    ) -> tonic::Result<Response<pb::GetMemberCountersResponse>> {
        counters::member_values(self, request).await
    }

    // Members

    async fn export_member(
        &self,
        request: Request<pb::ExportMemberRequest>,
    ) -> tonic::Result<Response<pb::ExportMemberResponse>> {
        let members = self.tracker.members();
        questline_kit::export::handle(&self.auth, members, request, async |t, m| {
            self.store.export_member(t, m).await
        })
        .await
    }
}
