//! GDPR access: each service answers `ExportMember` with every row it holds
//! about the member, grouped by table, as JSON.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Select};
use serde_json::{Map, Value as Json};

use crate::DomainError;

/// The tables of one service's export, filled one query at a time.
#[derive(Debug, Default)]
pub struct MemberExport(Map<String, Json>);

impl MemberExport {
    /// Adds every row `select` finds, under `table`.
    pub async fn table<E: EntityTrait, C: ConnectionTrait>(
        mut self,
        conn: &C,
        table: &str,
        select: Select<E>,
    ) -> Result<MemberExport, DomainError> {
        let rows = select.into_json().all(conn).await?;
        self.0.insert(table.into(), Json::Array(rows));
        Ok(self)
    }

    /// Adds the member's row in this service's read model of members.
    pub async fn member_snapshot<C: ConnectionTrait>(
        self,
        conn: &C,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<MemberExport, DomainError> {
        use crate::members::entity;
        let select = entity::Entity::find()
            .filter(entity::Column::TenantId.eq(tenant_id))
            .filter(entity::Column::MemberId.eq(member_id));
        self.table(conn, "member_snapshots", select).await
    }

    pub fn into_struct(self) -> prost_types::Struct {
        crate::structs::from_json(&self.0)
    }
}

/// What every `ExportMember` checks first: valid ids, a caller who may see
/// the member (its own app, or the brand's backend), and a member the tenant
/// knows (another tenant's or an erased member is NOT_FOUND).
pub async fn authorise(
    caller: &crate::auth::Caller,
    members: &crate::members::MemberDirectory,
    tenant_id: &str,
    member_id: &str,
) -> Result<(), DomainError> {
    crate::Violations::new()
        .id("tenant_id", tenant_id)
        .id("member_id", member_id)
        .finish()?;
    caller.require_member_access(tenant_id, member_id)?;
    members.get(tenant_id, member_id, &caller.token).await?;
    Ok(())
}
