//! `GET /v1/members/{member_id}/inbox`: a member's messages.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use questline_kit::client::Outgoing;
use questline_proto::notifications::ListInboxRequest;
use questline_proto::notifications::notifications_service_client::NotificationsServiceClient;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Gateway;
use super::document::PROBLEM;
use crate::credentials::Credentials;
use crate::problem::Problem;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct InboxQuery {
    /// At most this many messages (1 to 100; 20 when absent).
    page_size: Option<i32>,
    /// Where the previous page ended (its `next_page_token`).
    page_token: Option<String>,
}

/// One page of a member's messages, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "messages": [{"message_id": "01a242f4-0926-77f5-9b24-7e66a706fc16", "event_type": "points.credited",
                  "title": "You earned 25 stars", "body": "Your balance is now 25 stars.",
                  "created_at": "2026-12-04T21:26:59.110Z"}],
    "next_page_token": ""
}))]
pub(super) struct Inbox {
    messages: Vec<InboxMessage>,
    next_page_token: String,
}

/// A message in a member's inbox.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct InboxMessage {
    message_id: String,
    event_type: String,
    title: String,
    body: String,
    /// RFC 3339.
    created_at: Option<String>,
}

/// A member's messages, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/members/{member_id}/inbox",
    tag = "members",
    operation_id = "listInbox",
    params(("member_id" = String, Path, description = "The member's id"), InboxQuery),
    responses(
        (status = 200, description = "One page of messages; an empty `next_page_token` ends the list", body = Inbox),
        (status = 400, description = "Invalid parameters, each named in `errors`", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such member", body = Problem, content_type = PROBLEM),
    )
)]
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
