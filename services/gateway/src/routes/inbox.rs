//! `GET /v1/members/{member_id}/inbox`: a member's messages, a page at a
//! time or as a live stream (Server-Sent Events).

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use http::HeaderMap;
use questline_kit::client::Outgoing;
use questline_proto::notifications::notifications_service_client::NotificationsServiceClient;
use questline_proto::notifications::{ListInboxRequest, WatchInboxRequest};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use utoipa::{IntoParams, ToSchema};

use super::Gateway;
use super::document::PROBLEM;
use crate::credentials::Credentials;
use crate::problem::Problem;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct InboxQuery {
    /// At most this many messages: 20 when absent or 0; above 100 is read as 100.
    #[param(minimum = 0)]
    page_size: Option<i32>,
    /// Where the previous page ended (its `next_page_token`).
    #[param(
        pattern = "^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$"
    )]
    page_token: Option<String>,
    /// Only the messages not read yet.
    unread_only: Option<bool>,
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
    /// RFC 3339; absent while unread.
    #[serde(skip_serializing_if = "Option::is_none")]
    read_at: Option<String>,
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
        gateway.notifications.get(),
        Outgoing::bearer(&partner.token),
    );
    let page = notifications
        .list_inbox(ListInboxRequest {
            tenant_id: partner.tenant_id,
            member_id,
            page_size: query.page_size.unwrap_or_default(),
            page_token: query.page_token.unwrap_or_default(),
            unread_only: query.unread_only.unwrap_or_default(),
        })
        .await?
        .into_inner();
    Ok(Json(Inbox {
        messages: page.messages.into_iter().map(InboxMessage::from).collect(),
        next_page_token: page.next_page_token,
    }))
}

/// New messages as they arrive, as Server-Sent Events: each an event
/// `message` whose id is the message id. Send `Last-Event-ID` to resume
/// after a message; without it the stream starts with what arrives next.
/// An `error` event (a problem as JSON) ends it, e.g. when the token
/// expires; reconnect with a fresh one and `Last-Event-ID`.
#[utoipa::path(
    get,
    path = "/v1/members/{member_id}/inbox/stream",
    tag = "members",
    operation_id = "streamInbox",
    params(
        ("member_id" = String, Path, description = "The member's id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this message id (empty: from now)", pattern = "^[A-Za-z0-9._:-]{0,256}$"),
    ),
    responses(
        (status = 200, description = "A stream of `message` events, kept alive by comments", content_type = "text/event-stream", body = String),
        (status = 400, description = "An invalid `Last-Event-ID`", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such member", body = Problem, content_type = PROBLEM),
    )
)]
pub(super) async fn stream(
    State(gateway): State<Gateway>,
    partner: Credentials,
    member_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let Path(member_id) = member_id?;
    let after_message_id = match headers.get("last-event-id") {
        None => String::new(),
        Some(value) => value
            .to_str()
            .map_err(|_| Problem::invalid("Last-Event-ID", "must be a message id"))?
            .to_string(),
    };
    let mut notifications = NotificationsServiceClient::with_interceptor(
        gateway.notifications.get(),
        Outgoing::bearer(&partner.token),
    );
    // A refusal (403, 404) answers before any stream starts.
    let watch = notifications
        .watch_inbox(WatchInboxRequest {
            tenant_id: partner.tenant_id,
            member_id,
            after_message_id,
        })
        .await?
        .into_inner();
    let events = futures::stream::unfold(Some(watch), |watch| async move {
        let mut watch = watch?;
        let (event, next) = match watch.message().await {
            Ok(Some(answer)) => (message_event(answer.message), Some(watch)),
            Ok(None) => return None,
            // The last event: what ended the stream, as a problem.
            Err(status) => (error_event(status), None),
        };
        Some((Ok(event), next))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn message_event(message: Option<questline_proto::notifications::InboxMessage>) -> Event {
    let message = InboxMessage::from(message.unwrap_or_default());
    let event = Event::default()
        .event("message")
        .id(message.message_id.clone());
    event.json_data(&message).unwrap_or_else(|err| {
        tracing::error!(%err, "inbox message not written as an event");
        Event::default().comment("a message could not be written")
    })
}

fn error_event(status: tonic::Status) -> Event {
    let problem = Problem::from(status);
    let data = serde_json::to_string(&problem).unwrap_or_default();
    Event::default().event("error").data(data)
}

impl From<questline_proto::notifications::InboxMessage> for InboxMessage {
    fn from(m: questline_proto::notifications::InboxMessage) -> InboxMessage {
        InboxMessage {
            message_id: m.message_id,
            event_type: m.event_type,
            title: m.title,
            body: m.body,
            created_at: m.create_time.map(|t| t.to_string()),
            read_at: m.read_time.map(|t| t.to_string()),
        }
    }
}
