//! `questline.mechanics.v1.MechanicsService`.

use questline_kit::Violations;
use questline_kit::audit::Change;
use questline_kit::auth::TokenVerifier;
use questline_kit::paging;
use questline_kit::time::to_timestamp;
use questline_proto::mechanics::mechanics_service_server::{MechanicsService, SERVICE_NAME};
use questline_proto::mechanics::{self as pb};
use std::sync::Arc;
use tonic::{Request, Response, Status};

use crate::domain::rules::RuleSpec;
use crate::store::Store;
use crate::store::entities::rule;
use crate::tracking::Tracker;

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

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl MechanicsService for MechanicsApi {
    async fn create_rule(
        &self,
        request: Request<pb::CreateRuleRequest>,
    ) -> Answer<pb::CreateRuleResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        Violations::new().id("tenant_id", &req.tenant_id).finish()?;
        let spec = RuleSpec {
            rule_id: req.rule_id,
            name: req.name,
            event_type: req.event_type,
            condition: req.condition,
            points: req.points,
            currency: req.currency,
        };
        let compiled = spec.compile()?;
        caller.require_admin(&req.tenant_id)?;
        let s = &compiled.spec;
        let resource = format!("rules/{}", s.rule_id);
        let change = Change::by(
            &caller,
            &req.tenant_id,
            SERVICE_NAME,
            "CreateRule",
            resource,
        )
        .with("name", s.name.as_str())
        .with("event_type", s.event_type.as_str())
        .with("condition", s.condition.as_str())
        .with("points", s.points.as_str())
        .with("currency", s.currency.as_str());
        let row = self.store.create_rule(&req.tenant_id, s, &change).await?;
        Ok(Response::new(pb::CreateRuleResponse {
            rule: Some(rule_pb(row)),
        }))
    }

    async fn list_rules(
        &self,
        request: Request<pb::ListRulesRequest>,
    ) -> Answer<pb::ListRulesResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        Violations::new().id("tenant_id", &req.tenant_id).finish()?;
        let page = paging::parse(req.page_size, &req.page_token)?;
        caller.require_server(&req.tenant_id)?;
        let rows = self.store.list_rules(&req.tenant_id, &page).await?;
        let (rows, next_page_token) = page.finish(rows, |r| r.rule_id.as_str());
        Ok(Response::new(pb::ListRulesResponse {
            rules: rows.into_iter().map(rule_pb).collect(),
            next_page_token,
        }))
    }

    async fn track(&self, request: Request<pb::TrackRequest>) -> Answer<pb::TrackResponse> {
        let caller = self.auth.caller(&request).await?;
        let answer = self.tracker.track(&caller, request.into_inner()).await;
        Ok(Response::new(answer.map_err(Status::from)?))
    }

    async fn export_member(
        &self,
        request: Request<pb::ExportMemberRequest>,
    ) -> Answer<pb::ExportMemberResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let (tenant_id, member_id) = (&req.tenant_id, &req.member_id);
        questline_kit::export::authorise(&caller, self.tracker.members(), tenant_id, member_id)
            .await?;
        let data = self.store.export_member(tenant_id, member_id).await?;
        Ok(Response::new(pb::ExportMemberResponse {
            data: Some(data.into_struct()),
        }))
    }
}

fn rule_pb(r: rule::Model) -> pb::Rule {
    pb::Rule {
        rule_id: r.rule_id,
        tenant_id: r.tenant_id,
        name: r.name,
        event_type: r.event_type,
        condition: r.condition,
        points: r.points,
        currency: r.currency,
        active: r.active,
        create_time: Some(to_timestamp(r.created_at)),
    }
}
