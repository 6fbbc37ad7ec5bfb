//! Segments: defined by admins, evaluated by the brand's backend.

use questline_kit::auth::Caller;
use questline_kit::time::now_ms;
use questline_kit::{DomainError, Violations, paging};
use questline_proto::identity as proto;

use super::{IdentityApi, audited, pb};
use crate::domain::segments;
use crate::store::entities::segment;
use crate::store::{SegmentChange, membership};

impl IdentityApi {
    pub(super) async fn create_segment_for(
        &self,
        caller: &Caller,
        req: proto::CreateSegmentRequest,
    ) -> Result<proto::Segment, DomainError> {
        let mut v = Violations::new();
        v.id("tenant_id", &req.tenant_id)
            .id("segment_id", &req.segment_id)
            .text("name", &req.name)
            .optional_text("description", &req.description);
        segments::check(&mut v, &req.predicate);
        v.finish()?;
        caller.require_admin(&req.tenant_id)?;
        self.store.active_tenant(&req.tenant_id).await?;
        let now = now_ms();
        let change = audited(
            caller,
            &req.tenant_id,
            "CreateSegment",
            resource(&req.segment_id),
        )
        .with("name", req.name.as_str())
        .with("predicate", req.predicate.as_str());
        let row = segment::Model {
            tenant_id: req.tenant_id,
            segment_id: req.segment_id,
            name: req.name,
            description: req.description,
            predicate: req.predicate,
            created_at: now,
            updated_at: now,
        };
        Ok(pb::segment(self.store.create_segment(row, &change).await?))
    }

    pub(super) async fn update_segment_for(
        &self,
        caller: &Caller,
        req: proto::UpdateSegmentRequest,
    ) -> Result<proto::Segment, DomainError> {
        let mut v = Violations::new();
        v.id("tenant_id", &req.tenant_id)
            .id("segment_id", &req.segment_id);
        if let Some(name) = &req.name {
            v.text("name", name);
        }
        if let Some(description) = &req.description {
            v.optional_text("description", description);
        }
        if let Some(predicate) = &req.predicate {
            segments::check(&mut v, predicate);
        }
        v.finish()?;
        caller.require_admin(&req.tenant_id)?;
        self.store.active_tenant(&req.tenant_id).await?;
        let mut change = audited(
            caller,
            &req.tenant_id,
            "UpdateSegment",
            resource(&req.segment_id),
        );
        for (field, value) in [("name", &req.name), ("predicate", &req.predicate)] {
            if let Some(value) = value {
                change = change.with(field, value.as_str());
            }
        }
        let fields = SegmentChange {
            name: req.name,
            description: req.description,
            predicate: req.predicate,
        };
        let row = self
            .store
            .update_segment(&req.tenant_id, &req.segment_id, &fields, &change)
            .await?;
        Ok(pb::segment(row))
    }

    pub(super) async fn delete_segment_for(
        &self,
        caller: &Caller,
        req: proto::DeleteSegmentRequest,
    ) -> Result<(), DomainError> {
        segment_ref(&req.tenant_id, &req.segment_id)?;
        caller.require_admin(&req.tenant_id)?;
        let change = audited(
            caller,
            &req.tenant_id,
            "DeleteSegment",
            resource(&req.segment_id),
        );
        self.store
            .delete_segment(&req.tenant_id, &req.segment_id, &change)
            .await
    }

    pub(super) async fn get_segment_for(
        &self,
        caller: &Caller,
        req: proto::GetSegmentRequest,
    ) -> Result<proto::Segment, DomainError> {
        segment_ref(&req.tenant_id, &req.segment_id)?;
        caller.require_server(&req.tenant_id)?;
        let row = self.store.segment(&req.tenant_id, &req.segment_id).await?;
        Ok(pb::segment(row))
    }

    pub(super) async fn list_segments_for(
        &self,
        caller: &Caller,
        req: proto::ListSegmentsRequest,
    ) -> Result<proto::ListSegmentsResponse, DomainError> {
        Violations::new().id("tenant_id", &req.tenant_id).finish()?;
        let page = paging::parse(req.page_size, &req.page_token)?;
        caller.require_server(&req.tenant_id)?;
        let rows = self.store.segments(&req.tenant_id, &page).await?;
        let (rows, next_page_token) = page.finish(rows, |s| s.segment_id.as_str());
        Ok(proto::ListSegmentsResponse {
            segments: rows.into_iter().map(pb::segment).collect(),
            next_page_token,
        })
    }

    pub(super) fn validate_segment_for(
        &self,
        caller: &Caller,
        req: proto::ValidateSegmentRequest,
    ) -> Result<proto::ValidateSegmentResponse, DomainError> {
        Violations::new().id("tenant_id", &req.tenant_id).finish()?;
        caller.require_server(&req.tenant_id)?;
        let errors = match segments::compile(&req.predicate) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(pb::expression_error).collect(),
        };
        Ok(proto::ValidateSegmentResponse {
            valid: errors.is_empty(),
            errors,
        })
    }

    pub(super) async fn evaluate_segment_for(
        &self,
        caller: &Caller,
        req: proto::EvaluateSegmentRequest,
    ) -> Result<proto::EvaluateSegmentResponse, DomainError> {
        Violations::new()
            .id("tenant_id", &req.tenant_id)
            .id("segment_id", &req.segment_id)
            .id("member_id", &req.member_id)
            .finish()?;
        caller.require_server(&req.tenant_id)?;
        let program = self.program(&req.tenant_id, &req.segment_id).await?;
        let member = self.store.member(&req.tenant_id, &req.member_id).await?;
        let outcome = membership(&program, &member);
        Ok(proto::EvaluateSegmentResponse {
            member_in_segment: outcome.is_in(),
            reason: outcome.reason(),
        })
    }

    pub(super) async fn list_segment_members_for(
        &self,
        caller: &Caller,
        req: proto::ListSegmentMembersRequest,
    ) -> Result<proto::ListSegmentMembersResponse, DomainError> {
        segment_ref(&req.tenant_id, &req.segment_id)?;
        let page = paging::parse(req.page_size, &req.page_token)?;
        caller.require_server(&req.tenant_id)?;
        let program = self.program(&req.tenant_id, &req.segment_id).await?;
        let (rows, next_page_token) = self
            .store
            .segment_members(&req.tenant_id, &program, &page)
            .await?;
        Ok(proto::ListSegmentMembersResponse {
            members: rows.into_iter().map(pb::member).collect(),
            next_page_token,
        })
    }

    /// The stored segment's predicate, parsed.
    async fn program(
        &self,
        tenant_id: &str,
        segment_id: &str,
    ) -> Result<cel::Program, DomainError> {
        let row = self.store.segment(tenant_id, segment_id).await?;
        // As saved: a check added later must not break a segment in use.
        questline_kit::expr::parse(&row.predicate).map_err(|errors| {
            DomainError::Internal(format!(
                "segment {segment_id} holds an invalid predicate: {}",
                errors[0]
            ))
        })
    }
}

fn segment_ref(tenant_id: &str, segment_id: &str) -> Result<(), DomainError> {
    Violations::new()
        .id("tenant_id", tenant_id)
        .id("segment_id", segment_id)
        .finish()
}

fn resource(segment_id: &str) -> String {
    format!("segments/{segment_id}")
}
