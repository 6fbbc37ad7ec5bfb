//! `questline.notifications.v1.NotificationsService`: decode, authenticate,
//! validate, authorise, read the store, encode the answer.

mod decode;
mod encode;

use questline_kit::auth::TokenVerifier;
use questline_kit::members::MemberDirectory;
use questline_proto::notifications as pb;
use questline_proto::notifications::notifications_service_server::NotificationsService;
use std::sync::Arc;
use tonic::{Request, Response};

use crate::store::Store;

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

#[tonic::async_trait]
impl NotificationsService for NotificationsApi {
    // The inbox.

    async fn list_inbox(
        &self,
        request: Request<pb::ListInboxRequest>,
    ) -> tonic::Result<Response<pb::ListInboxResponse>> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let page = decode::inbox_page(&req)?;
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
            messages: found.messages.into_iter().map(encode::message).collect(),
            next_page_token: found.next_page_token,
        }))
    }

    // Members: what notifications holds about one.

    async fn export_member(
        &self,
        request: Request<pb::ExportMemberRequest>,
    ) -> tonic::Result<Response<pb::ExportMemberResponse>> {
        questline_kit::export::handle(&self.auth, &self.members, request, async |t, m| {
            self.store.export_member(t, m).await
        })
        .await
    }
}
