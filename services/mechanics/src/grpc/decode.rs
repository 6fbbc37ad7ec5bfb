//! Requests to checked domain values, every bad field reported at once.

use questline_kit::paging::{self, Page};
use questline_kit::time::from_timestamp;
use questline_kit::{DomainError, Violations, fingerprint, structs};
use questline_proto::mechanics as pb;

use crate::domain::rules::{CompiledRule, RuleSpec};
use crate::domain::track::{self, Track};

/// A rule to create: its tenant, then every field and both expressions.
pub fn rule(req: &pb::CreateRuleRequest) -> Result<CompiledRule, DomainError> {
    tenant(&req.tenant_id)?;
    RuleSpec {
        rule_id: req.rule_id.clone(),
        name: req.name.clone(),
        event_type: req.event_type.clone(),
        condition: req.condition.clone(),
        points: req.points.clone(),
        currency: req.currency.clone(),
    }
    .compile()
}

/// The page of a tenant's rules asked for.
pub fn rules_page(req: &pb::ListRulesRequest) -> Result<Page, DomainError> {
    tenant(&req.tenant_id)?;
    paging::parse(req.page_size, &req.page_token)
}

/// An event to track, with the fingerprint of the whole request.
pub fn track(req: pb::TrackRequest) -> Result<Track, DomainError> {
    let fingerprint = fingerprint::of(&req);
    let attributes = structs::to_json(req.attributes.unwrap_or_default());
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
    Ok(Track {
        tenant_id: req.tenant_id,
        event_id: req.event_id,
        member_id: req.member_id,
        event_type: req.event_type,
        attributes,
        occurred_at: req.occur_time.as_ref().map(from_timestamp),
        fingerprint,
    })
}

fn tenant(tenant_id: &str) -> Result<(), DomainError> {
    Violations::new().id("tenant_id", tenant_id).finish()
}
