//! GDPR access: each service answers `ExportMember` with every row it holds
//! about the member, grouped by table, as JSON.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Select};
use serde_json::{Map, Value as Json};
use tonic::{Request, Response};

use crate::DomainError;
use crate::auth::TokenVerifier;
use crate::members::MemberDirectory;
use questline_proto as proto;

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

    /// Adds the rows of `E` whose `tenant` and `member` columns name the
    /// member, in `order`, under `table`.
    pub async fn member_rows<E: EntityTrait, C: ConnectionTrait>(
        self,
        conn: &C,
        table: &str,
        [tenant, member, order]: [E::Column; 3],
        tenant_id: &str,
        member_id: &str,
    ) -> Result<MemberExport, DomainError> {
        let select = E::find()
            .filter(tenant.eq(tenant_id))
            .filter(member.eq(member_id))
            .order_by_asc(order);
        self.table(conn, table, select).await
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

/// A service's `ExportMemberRequest` and the answer it pairs with: every
/// service but identity answers the same two ids with one `Struct`.
pub trait ExportRequest {
    type Answer;
    fn ids(&self) -> (&str, &str);
    fn answer(data: prost_types::Struct) -> Self::Answer;
}

macro_rules! export_request {
    ($($package:ident),*) => {$(
        impl ExportRequest for proto::$package::ExportMemberRequest {
            type Answer = proto::$package::ExportMemberResponse;
            fn ids(&self) -> (&str, &str) {
                (&self.tenant_id, &self.member_id)
            }
            fn answer(data: prost_types::Struct) -> Self::Answer {
                proto::$package::ExportMemberResponse { data: Some(data) }
            }
        }
    )*};
}

export_request!(ledger, mechanics, rewards, notifications);

/// The whole `ExportMember` handler of a service: authorise, then answer
/// what `gather` finds for the member.
pub async fn handle<R: ExportRequest>(
    auth: &TokenVerifier,
    members: &MemberDirectory,
    request: Request<R>,
    gather: impl AsyncFnOnce(&str, &str) -> Result<MemberExport, DomainError>,
) -> tonic::Result<Response<R::Answer>> {
    let caller = auth.caller(&request).await?;
    let (tenant_id, member_id) = request.get_ref().ids();
    authorise(&caller, members, tenant_id, member_id).await?;
    let data = gather(tenant_id, member_id).await?;
    Ok(Response::new(R::answer(data.into_struct())))
}
