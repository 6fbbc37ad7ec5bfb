//! Providers: how a message leaves for a member's mailbox or phone. Email
//! goes through an SMTP relay; push and SMS through a generic HTTP
//! provider, a signed JSON POST a brand puts its own gateway behind. The
//! operator configures each (`messaging` settings); a channel without one
//! is not offered.

mod http;
mod smtp;

use async_trait::async_trait;
use questline_kit::config::MessagingSettings;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::channels::Channel;
use crate::store::entities::dispatch;

/// One message ready to leave: the dispatch and where it goes.
pub struct Letter<'a> {
    pub dispatch: &'a dispatch::Model,
    /// The email address or phone number; for push, the member's
    /// external id, which the brand's push gateway knows devices by.
    pub to: String,
    /// The link that turns this kind of message off; empty but for email.
    pub unsubscribe_url: String,
}

/// Why a message did not leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Trying again cannot help (a refused address, a 4xx answer).
    pub permanent: bool,
    pub error: String,
}

impl Failure {
    pub fn transient(error: impl Into<String>) -> Failure {
        Failure {
            permanent: false,
            error: error.into(),
        }
    }

    pub fn permanent(error: impl Into<String>) -> Failure {
        Failure {
            permanent: true,
            error: error.into(),
        }
    }
}

#[async_trait]
pub trait Provider: Send + Sync {
    async fn send(&self, letter: &Letter<'_>) -> Result<(), Failure>;
}

/// The installation's providers, by channel.
#[derive(Clone, Default)]
pub struct Providers {
    email: Option<Arc<dyn Provider>>,
    push: Option<Arc<dyn Provider>>,
    sms: Option<Arc<dyn Provider>>,
}

impl Providers {
    /// The providers the operator configured; a setting that cannot work
    /// (a bad URL, a relay without a sender) stops the service starting.
    pub fn configured(settings: &MessagingSettings) -> anyhow::Result<Providers> {
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let http =
            |channel, url: &str, secret: &str| -> anyhow::Result<Option<Arc<dyn Provider>>> {
                if url.is_empty() {
                    return Ok(None);
                }
                Ok(Some(Arc::new(http::HttpProvider::new(
                    channel, url, secret, timeout,
                )?)))
            };
        let email: Option<Arc<dyn Provider>> = if settings.smtp_url.is_empty() {
            None
        } else {
            Some(Arc::new(smtp::SmtpRelay::new(settings, timeout)?))
        };
        Ok(Providers {
            email,
            push: http(Channel::Push, &settings.push_url, &settings.push_secret)?,
            sms: http(Channel::Sms, &settings.sms_url, &settings.sms_secret)?,
        })
    }

    /// `provider` on push and SMS.
    #[cfg(test)]
    pub fn for_tests(provider: Arc<dyn Provider>) -> Providers {
        Providers {
            email: None,
            push: Some(provider.clone()),
            sms: Some(provider),
        }
    }

    /// The provider of `channel`, if it has one.
    pub fn of(&self, channel: Channel) -> Option<&Arc<dyn Provider>> {
        match channel {
            Channel::Inbox => None,
            Channel::Email => self.email.as_ref(),
            Channel::Push => self.push.as_ref(),
            Channel::Sms => self.sms.as_ref(),
        }
    }

    /// The channels this installation can send on: the inbox, and each
    /// with a provider.
    pub fn channels(&self) -> Vec<Channel> {
        Channel::ALL
            .into_iter()
            .filter(|c| *c == Channel::Inbox || self.of(*c).is_some())
            .collect()
    }
}
