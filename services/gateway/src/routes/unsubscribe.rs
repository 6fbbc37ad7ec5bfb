//! `/v1/unsubscribe/{token}`: the link every email carries. A GET shows a
//! page with one button and changes nothing (mail scanners open links); a
//! POST, from that button or from a mailbox's own one-click button (RFC
//! 8058, `List-Unsubscribe=One-Click`), turns the messages off. No
//! credentials: the link is signed, and notifications checks it.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Html;
use questline_kit::client::Outgoing;
use questline_proto::notifications::notifications_service_client::NotificationsServiceClient;
use questline_proto::notifications::{Channel, UnsubscribeRequest};

use super::Gateway;
use super::document::PROBLEM;
use crate::problem::Problem;

/// The page a member lands on from an email: one button to confirm.
#[utoipa::path(
    get,
    path = "/v1/unsubscribe/{token}",
    tag = "members",
    operation_id = "showUnsubscribe",
    security(()),
    params(("token" = String, Path, description = "The token of the email's link", pattern = r"^[A-Za-z0-9_-]{1,2000}\.[A-Za-z0-9_-]{1,100}$")),
    responses(
        (status = 200, description = "A page asking the member to confirm", content_type = "text/html", body = String),
        (status = 400, description = "Not the shape of a link", body = Problem, content_type = PROBLEM),
    )
)]
pub(super) async fn page(
    token: Result<Path<String>, PathRejection>,
) -> Result<Html<String>, Problem> {
    let token = shaped(token?.0)?;
    // The shape leaves nothing to escape.
    let action = format!("/v1/unsubscribe/{token}");
    Ok(Html(page_of(
        "Stop these messages?",
        &format!(
            "<p>You will no longer get messages of the kind that brought you here, by email or otherwise.</p>\
             <form method=\"post\" action=\"{action}\">\
             <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">Unsubscribe</button></form>"
        ),
    )))
}

/// Turns off what the link names: its message's topic, or its channel
/// when the message had none. The same link again changes nothing more.
#[utoipa::path(
    post,
    path = "/v1/unsubscribe/{token}",
    tag = "members",
    operation_id = "unsubscribe",
    security(()),
    params(("token" = String, Path, description = "The token of the email's link", pattern = r"^[A-Za-z0-9_-]{1,2000}\.[A-Za-z0-9_-]{1,100}$")),
    responses(
        (status = 200, description = "Done: a page saying what was turned off", content_type = "text/html", body = String),
        (status = 400, description = "Not a link of this installation", body = Problem, content_type = PROBLEM),
    )
)]
pub(super) async fn unsubscribe(
    State(gateway): State<Gateway>,
    token: Result<Path<String>, PathRejection>,
) -> Result<Html<String>, Problem> {
    let token = shaped(token?.0)?;
    let mut notifications = NotificationsServiceClient::with_interceptor(
        gateway.notifications.get(),
        Outgoing::default(),
    );
    let done = notifications
        .unsubscribe(UnsubscribeRequest { token })
        .await?
        .into_inner();
    let what = if done.topic.is_empty() {
        let channel = Channel::try_from(done.channel).unwrap_or(Channel::Unspecified);
        format!("messages by {}", channel_words(channel))
    } else {
        format!("messages about {}", escape(&done.topic))
    };
    Ok(Html(page_of(
        "You are unsubscribed",
        &format!("<p>You will no longer get {what}. You can turn them on again in the app.</p>"),
    )))
}

/// `token` if it has a link's shape: base64url, a dot, base64url.
fn shaped(token: String) -> Result<String, Problem> {
    let part = |p: &str, most: usize| {
        (1..=most).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    match token.split_once('.') {
        Some((claim, mac)) if part(claim, 2000) && part(mac, 100) => Ok(token),
        _ => Err(Problem::invalid("token", "is not an unsubscribe link")),
    }
}

fn channel_words(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "email",
        Channel::Push => "push notification",
        Channel::Sms => "SMS",
        _ => "this channel",
    }
}

fn page_of(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem\">\
         <h1>{title}</h1>{body}</body></html>"
    )
}

/// `text` safe inside HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_page_is_shown_only_for_a_links_shape() {
        let shown = page(Ok(Path("eyJhIjoxfQ.c2ln".into()))).await.unwrap();
        assert!(
            shown
                .0
                .contains("action=\"/v1/unsubscribe/eyJhIjoxfQ.c2ln\"")
        );
        for bad in [
            "\"><script>alert(1)</script>.x",
            "null,null",
            "abc",
            ".x",
            "a.",
            "a.b.c",
        ] {
            assert!(page(Ok(Path(bad.into()))).await.is_err(), "{bad}");
        }
    }
}
