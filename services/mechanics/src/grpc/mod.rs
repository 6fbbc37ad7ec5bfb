//! `questline.mechanics.v1.MechanicsService`: decode, authenticate,
//! authorise, hand over to the store or the Track flow, encode the answer.

mod batch;
mod decode;
mod encode;

use questline_kit::audit::Change;
use questline_kit::auth::{Caller, TokenVerifier};
use questline_proto::mechanics as pb;
use questline_proto::mechanics::mechanics_service_server::{MechanicsService, SERVICE_NAME};
use std::sync::Arc;
use tonic::{Request, Response};

use crate::domain::rules::RuleSpec;
use crate::flow::Tracker;
use crate::store::Store;

pub struct MechanicsApi {
    store: Store,
    tracker: Tracker,
    auth: Arc<TokenVerifier>,
}

impl MechanicsApi {
    pub fn new(store: Store, tracker: Tracker, auth: Arc<TokenVerifier>) -> MechanicsApi {
        MechanicsApi {
            store,
            tracker,
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
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let compiled = decode::rule(&req)?;
        caller.require_admin(&req.tenant_id)?;
        let spec = &compiled.spec;
        let change = rule_created(&caller, &req.tenant_id, spec);
        let row = self
            .store
            .create_rule(&req.tenant_id, spec, &change)
            .await?;
        Ok(Response::new(pb::CreateRuleResponse {
            rule: Some(encode::rule(row)),
        }))
    }

    async fn list_rules(
        &self,
        request: Request<pb::ListRulesRequest>,
    ) -> tonic::Result<Response<pb::ListRulesResponse>> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let page = decode::rules_page(&req)?;
        caller.require_server(&req.tenant_id)?;
        let rows = self.store.list_rules(&req.tenant_id, &page).await?;
        let (rows, next_page_token) = page.finish(rows, |r| r.rule_id.as_str());
        Ok(Response::new(pb::ListRulesResponse {
            rules: rows.into_iter().map(encode::rule).collect(),
            next_page_token,
        }))
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

/// The audit entry of a rule's creation: every field as written.
fn rule_created(caller: &Caller, tenant_id: &str, spec: &RuleSpec) -> Change {
    let resource = format!("rules/{}", spec.rule_id);
    Change::by(caller, tenant_id, SERVICE_NAME, "CreateRule", resource)
        .with("name", spec.name.as_str())
        .with("event_type", spec.event_type.as_str())
        .with("condition", spec.condition.as_str())
        .with("points", spec.points.as_str())
        .with("currency", spec.currency.as_str())
}
