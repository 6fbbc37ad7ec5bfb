//! The notifications storage: each event is recorded as handled in the same
//! transaction as the message it produced, so a redelivery adds nothing.

pub mod caps;
pub mod dispatches;
pub mod entities;
mod export;
pub mod inbox;
pub mod migrations;
pub mod preferences;
pub mod programme;
pub mod webhooks;

use questline_kit::outbox::{self, Relay};
use questline_kit::paging::Page;
use questline_kit::{DomainError, new_id, time::now_ms};
use questline_proto::events::Event;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use crate::domain::Content;
use crate::domain::channels::{Channel, Purpose};
use crate::events::published;
use entities::{dispatch, message};
use std::collections::HashSet;

/// Who a message is for, which event caused it, on which channel, the
/// caps it counts against (a marketing message on a capped channel), and
/// what becomes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery<'a> {
    pub tenant_id: &'a str,
    pub member_id: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub channel: Channel,
    pub purpose: Purpose,
    pub topic: &'a str,
    pub allowance: Option<caps::Allowance>,
    pub fate: Fate,
    /// An email's unsubscribe token.
    pub unsubscribe_token: String,
}

/// What becomes of a message, judged before it is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Goes at `due_at` (now, or when quiet hours end: `reason` says so).
    Send { due_at: i64, reason: &'static str },
    /// Not sent, for this reason; recorded off the inbox, never rendered.
    Refused(&'static str),
}

/// What `deliver_all` did: the inbox messages put, the other channels'
/// dispatches staged, and how many a cap or the member's wishes held back.
#[derive(Debug, Default)]
pub struct Delivered {
    pub messages: Vec<message::Model>,
    pub dispatches: Vec<dispatch::Model>,
    pub capped: usize,
    pub refused: usize,
    /// `message.dispatched` for what settled: inbox messages and refusals.
    pub settled: Vec<Event>,
}

/// One page of a member's inbox, newest first.
pub struct InboxPage {
    pub messages: Vec<message::Model>,
    pub next_page_token: String,
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Woken when a change staged events in the outbox.
    relay: Relay,
}

impl Store {
    pub fn new(db: DatabaseConnection, relay: Relay) -> Store {
        Store { db, relay }
    }

    /// Puts each message in its member's inbox the first time its event is
    /// seen, all in one transaction; `render(i)` gives the message for
    /// `to[i]`, called for first deliveries only, None when it has no
    /// words (the event is handled all the same: a template does not mend
    /// by retrying). A message past its member's cap is left out and
    /// counted, its event handled too. What settles here (inbox messages,
    /// refusals) is announced as `message.dispatched` in the same
    /// transaction; dispatches still to send are announced when they settle.
    pub async fn deliver_all<F>(
        &self,
        to: &[Delivery<'_>],
        render: F,
    ) -> Result<Delivered, DomainError>
    where
        F: Fn(usize) -> Option<Content>,
    {
        let event_ids: Vec<&str> = to.iter().map(|d| d.event_id).collect();
        let delivered = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let first =
                questline_kit::inbox::first_deliveries(&txn, crate::events::CONSUMER, &event_ids)
                    .await?;
            let now = now_ms();
            let mut done = Delivered::default();
            // An event given twice is delivered once on each channel.
            let mut seen = HashSet::new();
            for (i, delivery) in to.iter().enumerate() {
                if !first.contains(delivery.event_id)
                    || !seen.insert((delivery.event_id, delivery.channel))
                {
                    continue;
                }
                if let Fate::Refused(reason) = delivery.fate {
                    done.refused += 1;
                    done.record_refusal(delivery, reason, now);
                    continue;
                }
                let Some(content) = render(i) else {
                    done.record_refusal(delivery, "NO_TEMPLATE", now);
                    continue;
                };
                if let Some(allowance) = &delivery.allowance {
                    let (tenant_id, member_id) = (delivery.tenant_id, delivery.member_id);
                    if !caps::take_allowance(&txn, tenant_id, member_id, allowance).await? {
                        done.capped += 1;
                        done.record_refusal(delivery, "CAPPED", now);
                        continue;
                    }
                }
                match delivery.channel {
                    Channel::Inbox => done.put_message(delivery, content, now),
                    _ => done.dispatches.push(dispatch_of(delivery, content, now)),
                }
            }
            questline_kit::db::insert_all(&txn, done.messages.clone(), None).await?;
            questline_kit::db::insert_all(&txn, done.dispatches.clone(), None).await?;
            outbox::stage_all(&txn, &done.settled).await?;
            txn.commit().await?;
            Ok(done)
        })
        .await?;
        if !delivered.settled.is_empty() {
            self.relay.wake();
        }
        Ok(delivered)
    }

    /// Deletes every message of an erased member.
    pub async fn forget(&self, tenant_id: &str, member_id: &str) -> Result<(), DomainError> {
        message::Entity::delete_many()
            .filter(message::Column::TenantId.eq(tenant_id))
            .filter(message::Column::MemberId.eq(member_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// A member's messages (or only the unread ones), newest first,
    /// resuming after `page.after`.
    pub async fn inbox(
        &self,
        tenant_id: &str,
        member_id: &str,
        unread_only: bool,
        page: &Page,
    ) -> Result<InboxPage, DomainError> {
        let mut query = message::Entity::find()
            .filter(message::Column::TenantId.eq(tenant_id))
            .filter(message::Column::MemberId.eq(member_id));
        if unread_only {
            query = query.filter(message::Column::ReadAt.eq(0));
        }
        if let Some(after) = &page.after {
            query = query.filter(message::Column::MessageId.lt(after.as_str()));
        }
        let rows = query
            .order_by_desc(message::Column::MessageId)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await?;
        let (messages, next_page_token) = page.finish(rows, |m| m.message_id.as_str());
        Ok(InboxPage {
            messages,
            next_page_token,
        })
    }
}

impl Delivered {
    fn put_message(&mut self, to: &Delivery<'_>, content: Content, now: i64) {
        let message = message_of(to, content, now);
        self.settled
            .push(published::inbox_put(to, &message.message_id));
        self.messages.push(message);
    }

    /// Keeps a refusal in the channel's log (the inbox has none).
    fn record_refusal(&mut self, to: &Delivery<'_>, reason: &'static str, now: i64) {
        if to.channel == Channel::Inbox {
            self.settled.push(published::inbox_held_back(to, reason));
            return;
        }
        let mut row = dispatch_of(to, Content::default(), now);
        row.status = dispatches::SUPPRESSED.into();
        row.reason = reason.into();
        row.due_at = 0;
        self.settled.push(published::dispatch_settled(&row));
        self.dispatches.push(row);
    }
}

fn dispatch_of(to: &Delivery<'_>, content: Content, now: i64) -> dispatch::Model {
    let (due_at, reason) = match to.fate {
        Fate::Send { due_at, reason } => (due_at, reason),
        Fate::Refused(reason) => (0, reason),
    };
    dispatch::Model {
        dispatch_id: new_id(),
        tenant_id: to.tenant_id.into(),
        member_id: to.member_id.into(),
        event_id: to.event_id.into(),
        event_type: to.event_type.into(),
        channel: to.channel.name().into(),
        purpose: to.purpose.name().into(),
        topic: to.topic.into(),
        subject: content.title,
        body: content.body,
        html: content.html,
        unsubscribe_token: to.unsubscribe_token.clone(),
        status: dispatches::PENDING.into(),
        reason: reason.into(),
        due_at,
        attempts: 0,
        last_error: String::new(),
        created_at: now,
        sent_at: 0,
    }
}

fn message_of(to: &Delivery<'_>, content: Content, now: i64) -> message::Model {
    message::Model {
        message_id: new_id(),
        tenant_id: to.tenant_id.into(),
        member_id: to.member_id.into(),
        event_id: to.event_id.into(),
        event_type: to.event_type.into(),
        title: content.title,
        body: content.body,
        created_at: now,
        read_at: 0,
    }
}

#[cfg(test)]
pub(crate) mod tests;
