//! Domain values and stored rows to protobuf messages.

use questline_kit::auth::Scope;
use questline_kit::members::PURPOSES;
use questline_kit::structs::from_json;
use questline_kit::time::to_timestamp;
use questline_proto::identity as pb;

use crate::domain::clients::{self, ClientStatus};
use crate::domain::tenants::TenantStatus;
use crate::store::entities::{audit_entry, member, segment, signing_key, tenant};
use crate::store::{ClientWithKeys, consent_of, profile_of};

pub fn tenant(t: tenant::Model) -> pb::Tenant {
    let status = match TenantStatus::parse(&t.status) {
        TenantStatus::Active => pb::TenantStatus::Active,
        TenantStatus::Suspended => pb::TenantStatus::Suspended,
    };
    pb::Tenant {
        tenant_id: t.tenant_id,
        name: t.name,
        time_zone: t.time_zone,
        create_time: Some(to_timestamp(t.created_at)),
        default_locale: t.default_locale,
        status: status as i32,
        update_time: Some(to_timestamp(t.updated_at)),
    }
}

pub fn client((c, keys): ClientWithKeys) -> pb::ApiClient {
    let scopes = clients::scopes_from_text(&c.scopes)
        .into_iter()
        .map(|s| match s {
            Scope::Admin => pb::Scope::Admin as i32,
            Scope::Server => pb::Scope::Server as i32,
            Scope::Member => pb::Scope::Member as i32,
            Scope::Service => pb::Scope::Service as i32,
            Scope::Operator => pb::Scope::Unspecified as i32,
        })
        .collect();
    let status = match ClientStatus::parse(&c.status) {
        ClientStatus::Active => pb::ApiClientStatus::Active,
        ClientStatus::Revoked => pb::ApiClientStatus::Revoked,
    };
    pb::ApiClient {
        client_id: c.client_id,
        tenant_id: c.tenant_id,
        name: c.name,
        scopes,
        key_prefix: keys
            .first()
            .map(|k| k.key_prefix.clone())
            .unwrap_or_default(),
        create_time: Some(to_timestamp(c.created_at)),
        status: status as i32,
        keys: keys
            .into_iter()
            .map(|k| pb::ApiKeyInfo {
                key_prefix: k.key_prefix,
                create_time: Some(to_timestamp(k.created_at)),
                expire_time: k.expires_at.map(to_timestamp),
                last_use_time: k.last_used_at.map(to_timestamp),
            })
            .collect(),
        revoke_time: c.revoked_at.map(to_timestamp),
    }
}

pub fn json_web_key(k: signing_key::Model) -> pb::JsonWebKey {
    pb::JsonWebKey {
        kid: k.kid,
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: k.public_x,
        alg: "EdDSA".into(),
        r#use: "sig".into(),
    }
}

pub fn member(m: member::Model) -> pb::Member {
    let profile = profile_of(&m);
    let consent = consent_of(&m)
        .into_iter()
        .filter_map(|(name, entry)| {
            let purpose = PURPOSES.iter().find(|(n, _)| *n == name)?.1;
            Some(pb::ConsentState {
                purpose: purpose as i32,
                granted: entry.granted,
                update_time: Some(to_timestamp(entry.at)),
                source: entry.source,
            })
        })
        .collect();
    pb::Member {
        member_id: m.member_id,
        tenant_id: m.tenant_id,
        external_id: m.external_id,
        create_time: Some(to_timestamp(m.created_at)),
        update_time: Some(to_timestamp(m.updated_at)),
        profile: Some(pb::Profile {
            display_name: profile.display_name,
            email: profile.email,
            phone: profile.phone,
            birthday: profile.birthday,
            locale: profile.locale,
            country: profile.country,
            attributes: Some(from_json(&profile.attributes)),
        }),
        consent,
        erase_time: m.erased_at.map(to_timestamp),
    }
}

pub fn segment(s: segment::Model) -> pb::Segment {
    pb::Segment {
        segment_id: s.segment_id,
        tenant_id: s.tenant_id,
        name: s.name,
        description: s.description,
        predicate: s.predicate,
        create_time: Some(to_timestamp(s.created_at)),
        update_time: Some(to_timestamp(s.updated_at)),
    }
}

pub fn audit_entry(a: audit_entry::Model) -> pb::AuditEntry {
    let details = serde_json::from_str(&a.details).unwrap_or_default();
    pb::AuditEntry {
        audit_id: a.audit_id,
        tenant_id: a.tenant_id,
        client_id: a.client_id,
        action: a.action,
        resource: a.resource,
        time: Some(to_timestamp(a.occurred_at)),
        details: Some(from_json(&details)),
    }
}

pub fn expression_error(e: questline_kit::expr::ExprError) -> pb::ExpressionError {
    pb::ExpressionError {
        line: e.line as i32,
        column: e.column as i32,
        message: e.message,
    }
}
