//! The audit trail: every admin change stages an `audit.recorded` event in
//! the same transaction as the change, so a change is never made without its
//! entry nor an entry written for a change that rolled back. Identity keeps
//! them all, queryable with `ListAuditEntries`.

use questline_proto::events::{AuditRecorded, Event, event::Payload};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::{Map, Value as Json};

use crate::auth::Caller;

/// One admin change: who made it, which method, on what.
#[derive(Debug, Clone)]
pub struct Change {
    pub tenant_id: String,
    pub client_id: String,
    /// The full gRPC method, e.g. `questline.rewards.v1.RewardsService/CreateReward`.
    pub action: String,
    pub resource: String,
    /// What changed: ids, names, settings; never a key, token or personal value.
    pub details: Map<String, Json>,
}

impl Change {
    /// `caller` called `method` of `service` (e.g. `questline.ledger.v1.LedgerService`)
    /// on `resource` in `tenant_id`.
    pub fn by(
        caller: &Caller,
        tenant_id: &str,
        service: &str,
        method: &str,
        resource: String,
    ) -> Change {
        Change::new(
            tenant_id,
            &caller.claims.cid,
            format!("{service}/{method}"),
            resource,
        )
    }

    pub fn new(tenant_id: &str, client_id: &str, action: String, resource: String) -> Change {
        Change {
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
            action,
            resource,
            details: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Change {
        self.details.insert(key.into(), value.into());
        self
    }

    pub fn event(&self, source: &str) -> Event {
        let payload = Payload::AuditRecorded(AuditRecorded {
            client_id: self.client_id.clone(),
            action: self.action.clone(),
            resource: self.resource.clone(),
            details: Some(crate::structs::from_json(&self.details)),
        });
        crate::events::new_event(&self.tenant_id, source, "", payload)
    }
}

/// Stages the entry for `change` inside the caller's transaction.
pub async fn stage<C: ConnectionTrait>(
    conn: &C,
    source: &str,
    change: &Change,
) -> Result<(), DbErr> {
    crate::outbox::stage(conn, &change.event(source)).await
}
