//! `ExportMember`: identity's own record of the member plus what every other
//! service holds, asked of each with the caller's own token so each service
//! applies its own access checks.

use prost_types::Struct;
use questline_kit::DomainError;
use questline_kit::client::Channel;
use questline_kit::client::Outgoing;
use questline_kit::error::from_upstream;
use questline_kit::time::{now_ms, to_timestamp};
use questline_proto::identity as pb;
use questline_proto::{ledger, mechanics, notifications, rewards};
use tonic::{Request, Response};

use super::{IdentityApi, decode, encode};

/// Channels to the services whose data an export gathers.
#[derive(Clone)]
pub struct Peers {
    pub ledger: Channel,
    pub mechanics: Channel,
    pub rewards: Channel,
    pub notifications: Channel,
}

pub(super) async fn member(
    api: &IdentityApi,
    request: Request<pb::ExportMemberRequest>,
) -> tonic::Result<Response<pb::ExportMemberResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    decode::within_tenant(&req.tenant_id, "member_id", &req.member_id)?;
    caller.require_member_access(&req.tenant_id, &req.member_id)?;
    let member = api.store.member(&req.tenant_id, &req.member_id).await?;
    let services = api
        .peers
        .gather(&caller.token, &req.tenant_id, &req.member_id)
        .await?;
    Ok(Response::new(pb::ExportMemberResponse {
        member: Some(encode::member(member)),
        services,
        export_time: Some(to_timestamp(now_ms())),
    }))
}

/// One service's `ExportMember`, asked with `out`'s credentials.
macro_rules! export_from {
    ($service:literal, $client:ty, $module:ident, $channel:expr, $out:expr, $t:expr, $m:expr) => {
        async {
            let req = $module::ExportMemberRequest {
                tenant_id: $t.to_string(),
                member_id: $m.to_string(),
            };
            let mut client = <$client>::with_interceptor($channel.clone(), $out.clone());
            let result = client.export_member(req).await;
            answer($service, result.map(|r| r.into_inner().data))
        }
    };
}

impl Peers {
    /// Every service's export, all at once; one failure fails the export.
    async fn gather(
        &self,
        token: &str,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<Vec<pb::ServiceExport>, DomainError> {
        use ledger::ledger_service_client::LedgerServiceClient as Ledger;
        use mechanics::mechanics_service_client::MechanicsServiceClient as Mechanics;
        use notifications::notifications_service_client::NotificationsServiceClient as Notifications;
        use rewards::rewards_service_client::RewardsServiceClient as Rewards;
        let out = Outgoing::bearer(token);
        let (t, m) = (tenant_id, member_id);
        let parts = tokio::try_join!(
            export_from!("ledger", Ledger<Channel>, ledger, self.ledger, out, t, m),
            export_from!(
                "mechanics",
                Mechanics<Channel>,
                mechanics,
                self.mechanics,
                out,
                t,
                m
            ),
            export_from!(
                "rewards",
                Rewards<Channel>,
                rewards,
                self.rewards,
                out,
                t,
                m
            ),
            export_from!(
                "notifications",
                Notifications<Channel>,
                notifications,
                self.notifications,
                out,
                t,
                m
            ),
        )?;
        Ok(vec![parts.0, parts.1, parts.2, parts.3])
    }
}

/// One service's part, or why the export cannot be whole.
fn answer(
    service: &str,
    result: Result<Option<Struct>, tonic::Status>,
) -> Result<pb::ServiceExport, DomainError> {
    match result {
        Ok(data) => Ok(pb::ServiceExport {
            service: service.into(),
            data: Some(data.unwrap_or_default()),
        }),
        Err(status) => match status.code() {
            tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Internal
            | tonic::Code::Unknown
            | tonic::Code::Cancelled => Err(DomainError::Unavailable(format!(
                "{service} could not export the member's data ({}); try again",
                status.message()
            ))),
            _ => Err(from_upstream(status)),
        },
    }
}
