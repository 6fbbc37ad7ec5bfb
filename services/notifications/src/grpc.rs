//! `questline.notifications.v1.NotificationsService`: decode, authenticate,
//! validate, authorise, read the store, map the answer.

use questline_kit::Violations;
use questline_kit::auth::TokenVerifier;
use questline_kit::members::MemberDirectory;
use questline_kit::paging;
use questline_kit::time::to_timestamp;
use questline_proto::notifications::{
    self as pb, notifications_service_server::NotificationsService,
};
use std::sync::Arc;
use tonic::{Request, Response, Status};

use crate::store::Store;
use crate::store::entities::message;

pub struct NotificationsApi {
    store: Store,
    members: MemberDirectory,
    auth: Arc<TokenVerifier>,
}

impl NotificationsApi {
    pub fn new(store: Store, members: MemberDirectory, auth: Arc<TokenVerifier>) -> Self {
        NotificationsApi {
            store,
            members,
            auth,
        }
    }
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl NotificationsService for NotificationsApi {
    async fn list_inbox(
        &self,
        request: Request<pb::ListInboxRequest>,
    ) -> Answer<pb::ListInboxResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        Violations::new()
            .id("tenant_id", &req.tenant_id)
            .id("member_id", &req.member_id)
            .finish()?;
        let page = paging::parse(req.page_size, &req.page_token)?;
        caller.require_member_access(&req.tenant_id, &req.member_id)?;
        // Another tenant's or an erased member is NOT_FOUND, not an empty inbox.
        self.members
            .get(&req.tenant_id, &req.member_id, &caller.token)
            .await?;
        let found = self
            .store
            .inbox(&req.tenant_id, &req.member_id, &page)
            .await?;
        Ok(Response::new(pb::ListInboxResponse {
            messages: found.messages.into_iter().map(message_pb).collect(),
            next_page_token: found.next_page_token,
        }))
    }

    async fn export_member(
        &self,
        request: Request<pb::ExportMemberRequest>,
    ) -> Answer<pb::ExportMemberResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let (tenant_id, member_id) = (&req.tenant_id, &req.member_id);
        questline_kit::export::authorise(&caller, &self.members, tenant_id, member_id).await?;
        let data = self.store.export_member(tenant_id, member_id).await?;
        Ok(Response::new(pb::ExportMemberResponse {
            data: Some(data.into_struct()),
        }))
    }
}

fn message_pb(m: message::Model) -> pb::InboxMessage {
    pb::InboxMessage {
        message_id: m.message_id,
        tenant_id: m.tenant_id,
        member_id: m.member_id,
        event_type: m.event_type,
        title: m.title,
        body: m.body,
        create_time: Some(to_timestamp(m.created_at)),
    }
}
