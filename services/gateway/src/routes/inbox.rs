//! `GET /v1/members/{member_id}/inbox`: a member's messages.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use questline_kit::client::Outgoing;
use questline_proto::notifications::ListInboxRequest;
use questline_proto::notifications::notifications_service_client::NotificationsServiceClient;
use serde::{Deserialize, Serialize};

use super::Gateway;
use crate::credentials::Credentials;
use crate::problem::Problem;

#[derive(Debug, Deserialize)]
pub(super) struct InboxQuery {
    page_size: Option<i32>,
    page_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct Inbox {
    messages: Vec<InboxMessage>,
    next_page_token: String,
}

#[derive(Debug, Serialize)]
pub(super) struct InboxMessage {
    message_id: String,
    event_type: String,
    title: String,
    body: String,
    /// RFC 3339.
    created_at: Option<String>,
}

/// `GET /v1/members/{member_id}/inbox`: a member's messages, newest first.
pub(super) async fn inbox(
    State(gateway): State<Gateway>,
    partner: Credentials,
    member_id: Result<Path<String>, PathRejection>,
    query: Result<Query<InboxQuery>, QueryRejection>,
) -> Result<Json<Inbox>, Problem> {
    let Path(member_id) = member_id?;
    let Query(query) = query?;
    let mut notifications = NotificationsServiceClient::with_interceptor(
        gateway.notifications.clone(),
        Outgoing::bearer(&partner.token),
    );
    let page = notifications
        .list_inbox(ListInboxRequest {
            tenant_id: partner.tenant_id,
            member_id,
            page_size: query.page_size.unwrap_or_default(),
            page_token: query.page_token.unwrap_or_default(),
        })
        .await?
        .into_inner();
    Ok(Json(Inbox {
        messages: page
            .messages
            .into_iter()
            .map(|m| InboxMessage {
                message_id: m.message_id,
                event_type: m.event_type,
                title: m.title,
                body: m.body,
                created_at: m.create_time.map(|t| t.to_string()),
            })
            .collect(),
        next_page_token: page.next_page_token,
    }))
}
