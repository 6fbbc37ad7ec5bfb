//! Email through the operator's SMTP relay (lettre, pooled connections).
//! A marketing email carries its unsubscribe link twice: in the text (and
//! HTML) for the member, and as `List-Unsubscribe` with one-click POST
//! (RFC 8058) for the mailbox provider's own button.

use async_trait::async_trait;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use questline_kit::config::MessagingSettings;
use std::time::Duration;

use super::{Failure, Letter, Provider};

pub struct SmtpRelay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpRelay {
    pub fn new(settings: &MessagingSettings, timeout: Duration) -> anyhow::Result<SmtpRelay> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
            .map_err(|err| anyhow::anyhow!("messaging.smtp_url: {err}"))?
            .timeout(Some(timeout))
            .build();
        let from = settings
            .email_from
            .parse()
            .map_err(|err| anyhow::anyhow!("messaging.email_from: {err}"))?;
        let public = url::Url::parse(&settings.public_url)
            .map_err(|err| anyhow::anyhow!("messaging.public_url: {err}"))?;
        if matches!(public.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) {
            tracing::warn!(public_url = %settings.public_url, "emails' unsubscribe links point at this machine: set messaging.public_url to where members reach the gateway");
        }
        Ok(SmtpRelay { transport, from })
    }

    fn message(&self, letter: &Letter<'_>) -> Result<Message, Failure> {
        let d = letter.dispatch;
        let to: Mailbox = letter
            .to
            .parse()
            .map_err(|err| Failure::permanent(format!("the address is not one: {err}")))?;
        let url = &letter.unsubscribe_url;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(d.subject.as_str());
        let (mut text, mut html) = (d.body.clone(), d.html.clone());
        if !url.is_empty() {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
            text.push_str(&format!("\n\n--\nTo stop these messages: {url}\n"));
            // The URL is ours: letters, digits and `-_.:/` only.
            html.push_str(&format!(
                "\n<p style=\"font-size:12px;color:#666\"><a href=\"{url}\">Unsubscribe</a></p>\n"
            ));
        }
        let built = if d.html.is_empty() {
            builder.singlepart(SinglePart::plain(text))
        } else {
            builder.multipart(MultiPart::alternative_plain_html(text, html))
        };
        built.map_err(|err| Failure::permanent(format!("the email could not be built: {err}")))
    }
}

#[async_trait]
impl Provider for SmtpRelay {
    async fn send(&self, letter: &Letter<'_>) -> Result<(), Failure> {
        let message = self.message(letter)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_permanent() => {
                Err(Failure::permanent(format!("the relay refused it: {err}")))
            }
            Err(err) => Err(Failure::transient(format!("the relay failed: {err}"))),
        }
    }
}

/// `List-Unsubscribe: <https://…>`.
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.into()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}
