//! The rule admin handlers: authenticate, decode, authorise, call the
//! store, encode. Changes are for tenant admins; reads for server clients.

use questline_kit::DomainError;
use questline_kit::audit::Change;
use questline_kit::auth::Caller;
use questline_proto::mechanics as pb;
use questline_proto::mechanics::mechanics_service_server::SERVICE_NAME;
use tonic::{Request, Response};

use super::{MechanicsApi, decode, encode, schemas, zones};
use crate::domain::rules::{CompiledRule, RuleStatus};
use crate::store::StoredRule;

pub(super) async fn create(
    api: &MechanicsApi,
    request: Request<pb::CreateRuleRequest>,
) -> tonic::Result<Response<pb::CreateRuleResponse>> {
    let caller = api.auth.caller(&request).await?;
    let mut req = request.into_inner();
    let zone = req.rule.as_mut().map(|r| &mut r.time_zone);
    zones::fill(api, &caller, &req.tenant_id, zone).await?;
    let compiled = decode::rule(&req.tenant_id, req.rule.as_ref())?;
    caller.require_admin(&req.tenant_id)?;
    schemas::rule_fits(&*api.store.rule_book(&req.tenant_id).await?, &compiled.spec)?;
    let status = if req.activate {
        RuleStatus::Active
    } else {
        RuleStatus::Draft
    };
    let change =
        defined(&caller, &req.tenant_id, "CreateRule", &compiled).with("status", status.as_str());
    let stored = api
        .store
        .create_rule(
            &req.tenant_id,
            &compiled.rule_id,
            &compiled.spec,
            status,
            &change,
        )
        .await?;
    Ok(Response::new(pb::CreateRuleResponse {
        rule: Some(encode::rule(stored)),
    }))
}

pub(super) async fn update(
    api: &MechanicsApi,
    request: Request<pb::UpdateRuleRequest>,
) -> tonic::Result<Response<pb::UpdateRuleResponse>> {
    let caller = api.auth.caller(&request).await?;
    let mut req = request.into_inner();
    decode::rule_ref(&req.tenant_id, &req.rule_id)?;
    if let Some(rule) = req.rule.as_mut() {
        if rule.rule_id.is_empty() {
            rule.rule_id.clone_from(&req.rule_id);
        } else if rule.rule_id != req.rule_id {
            return Err(
                DomainError::invalid("rule.rule_id", "must be empty or the rule_id").into(),
            );
        }
    }
    let zone = req.rule.as_mut().map(|r| &mut r.time_zone);
    zones::fill(api, &caller, &req.tenant_id, zone).await?;
    let compiled = decode::rule(&req.tenant_id, req.rule.as_ref())?;
    if req.expected_version < 0 {
        return Err(DomainError::invalid("expected_version", "must not be negative").into());
    }
    caller.require_admin(&req.tenant_id)?;
    schemas::rule_fits(&*api.store.rule_book(&req.tenant_id).await?, &compiled.spec)?;
    let change = defined(&caller, &req.tenant_id, "UpdateRule", &compiled);
    let expected = (req.expected_version > 0).then_some(req.expected_version);
    let stored = api
        .store
        .update_rule(
            &req.tenant_id,
            &compiled.rule_id,
            &compiled.spec,
            expected,
            &change,
        )
        .await?;
    Ok(Response::new(pb::UpdateRuleResponse {
        rule: Some(encode::rule(stored)),
    }))
}

pub(super) async fn get(
    api: &MechanicsApi,
    request: Request<pb::GetRuleRequest>,
) -> tonic::Result<Response<pb::GetRuleResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    decode::rule_ref(&req.tenant_id, &req.rule_id)?;
    if req.version < 0 {
        return Err(DomainError::invalid("version", "must not be negative").into());
    }
    caller.require_server(&req.tenant_id)?;
    let stored = api
        .store
        .rule(&req.tenant_id, &req.rule_id, req.version)
        .await?;
    Ok(Response::new(pb::GetRuleResponse {
        rule: Some(encode::rule(stored)),
    }))
}

pub(super) async fn list(
    api: &MechanicsApi,
    request: Request<pb::ListRulesRequest>,
) -> tonic::Result<Response<pb::ListRulesResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let page = decode::rules_page(&req)?;
    caller.require_server(&req.tenant_id)?;
    let rows = api.store.list_rules(&req.tenant_id, &page).await?;
    let (rows, next_page_token) = page.finish(rows, |r| r.head.rule_id.as_str());
    Ok(Response::new(pb::ListRulesResponse {
        rules: rows.into_iter().map(encode::rule).collect(),
        next_page_token,
    }))
}

pub(super) async fn versions(
    api: &MechanicsApi,
    request: Request<pb::ListRuleVersionsRequest>,
) -> tonic::Result<Response<pb::ListRuleVersionsResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    decode::rule_ref(&req.tenant_id, &req.rule_id)?;
    caller.require_server(&req.tenant_id)?;
    let history = api.store.rule_history(&req.tenant_id, &req.rule_id).await?;
    Ok(Response::new(encode::history(history)))
}

/// Moves a rule to `to`: ActivateRule, ShadowRule, PauseRule, ArchiveRule.
pub(super) async fn set_status<T>(
    api: &MechanicsApi,
    request: Request<T>,
    (tenant_id, rule_id): (String, String),
    to: RuleStatus,
    method: &str,
) -> tonic::Result<StoredRule> {
    let caller = api.auth.caller(&request).await?;
    decode::rule_ref(&tenant_id, &rule_id)?;
    caller.require_admin(&tenant_id)?;
    let resource = format!("rules/{rule_id}");
    let change =
        Change::by(&caller, &tenant_id, SERVICE_NAME, method, resource).with("status", to.as_str());
    let stored = api.store.set_rule_status(&tenant_id, &rule_id, to, &change);
    Ok(stored.await?)
}

pub(super) async fn validate(
    api: &MechanicsApi,
    request: Request<pb::ValidateRuleRequest>,
) -> tonic::Result<Response<pb::ValidateRuleResponse>> {
    let caller = api.auth.caller(&request).await?;
    let mut req = request.into_inner();
    decode::tenant(&req.tenant_id)?;
    caller.require_server(&req.tenant_id)?;
    let zone = req.rule.as_mut().map(|r| &mut r.time_zone);
    zones::fill(api, &caller, &req.tenant_id, zone).await?;
    let book = api.store.rule_book(&req.tenant_id).await?;
    let checked = decode::rule(&req.tenant_id, req.rule.as_ref())
        .and_then(|compiled| schemas::rule_fits(&book, &compiled.spec));
    let found = match checked {
        Ok(()) => vec![],
        Err(DomainError::Invalid(found)) => found,
        Err(other) => return Err(other.into()),
    };
    Ok(Response::new(encode::validation(found)))
}

/// The audit entry of a definition: every field as written.
fn defined(caller: &Caller, tenant_id: &str, method: &str, rule: &CompiledRule) -> Change {
    let resource = format!("rules/{}", rule.rule_id);
    let definition = serde_json::to_value(&rule.spec).unwrap_or_default();
    Change::by(caller, tenant_id, SERVICE_NAME, method, resource).with("definition", definition)
}
