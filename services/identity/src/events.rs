//! What identity publishes: `member.upserted`, `member.consent_changed` and
//! `member.erased`, so other services keep their own read model of members
//! instead of calling identity on the hot path (and forget erased ones); and
//! what switches access off everywhere: `tenant.updated` (suspension),
//! `api_client.revoked`, `signing_key.retired`; and `segment.changed`, so
//! rules evaluate segments where they run.

use questline_kit::events::{INSTALLATION, new_event};
use questline_kit::structs::from_json;
use questline_proto::events::{
    ApiClientRevoked, Event, MemberConsentChanged, MemberErased, MemberUpserted, SegmentChanged,
    SigningKeyRetired, TenantUpdated, event::Payload,
};
use serde_json::{Map, Value as Json};

use crate::domain::tenants::TenantStatus;
use crate::store::entities::{api_client, member, segment, tenant};

pub const SOURCE: &str = "identity";

pub fn member_upserted(row: &member::Model, facts: &Map<String, Json>) -> Event {
    let payload = Payload::MemberUpserted(MemberUpserted {
        member_id: row.member_id.clone(),
        external_id: row.external_id.clone(),
        facts: Some(from_json(facts)),
    });
    new_event(&row.tenant_id, SOURCE, &row.member_id, payload)
}

pub fn member_consent_changed(row: &member::Model, facts: &Map<String, Json>) -> Event {
    let payload = Payload::MemberConsentChanged(MemberConsentChanged {
        member_id: row.member_id.clone(),
        external_id: row.external_id.clone(),
        facts: Some(from_json(facts)),
    });
    new_event(&row.tenant_id, SOURCE, &row.member_id, payload)
}

pub fn member_erased(row: &member::Model) -> Event {
    let payload = Payload::MemberErased(MemberErased {
        member_id: row.member_id.clone(),
    });
    new_event(&row.tenant_id, SOURCE, &row.member_id, payload)
}

pub fn tenant_updated(row: &tenant::Model) -> Event {
    let payload = Payload::TenantUpdated(TenantUpdated {
        tenant_id: row.tenant_id.clone(),
        name: row.name.clone(),
        time_zone: row.time_zone.clone(),
        default_locale: row.default_locale.clone(),
        suspended: TenantStatus::parse(&row.status) == TenantStatus::Suspended,
    });
    new_event(&row.tenant_id, SOURCE, "", payload)
}

pub fn api_client_revoked(row: &api_client::Model) -> Event {
    let payload = Payload::ApiClientRevoked(ApiClientRevoked {
        client_id: row.client_id.clone(),
    });
    new_event(&row.tenant_id, SOURCE, "", payload)
}

pub fn signing_key_retired(kid: &str) -> Event {
    let payload = Payload::SigningKeyRetired(SigningKeyRetired { kid: kid.into() });
    new_event(INSTALLATION, SOURCE, "", payload)
}

/// Identity's own bus consumer: it keeps every service's audit entries.
pub const CONSUMER: &str = "identity";

/// Keeps `audit.recorded` events from every service as audit entries.
pub struct AuditTrail(pub crate::store::Store);

#[async_trait::async_trait]
impl questline_kit::bus::EventHandler for AuditTrail {
    fn wants(&self, event: &Event) -> bool {
        matches!(event.payload, Some(Payload::AuditRecorded(_)))
    }

    async fn handle(&self, event: &Event) -> Result<(), questline_kit::DomainError> {
        self.0.keep_audit_entry(event).await
    }
}

/// A segment's predicate as it now stands (`deleted`: gone).
pub fn segment_changed(row: &segment::Model, deleted: bool) -> Event {
    let payload = Payload::SegmentChanged(SegmentChanged {
        segment_id: row.segment_id.clone(),
        predicate: if deleted {
            String::new()
        } else {
            row.predicate.clone()
        },
        deleted,
    });
    new_event(&row.tenant_id, SOURCE, "", payload)
}
