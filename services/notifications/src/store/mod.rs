//! The notifications storage: each event is recorded as handled in the same
//! transaction as the message it produced, so a redelivery adds nothing.

pub mod entities;
mod export;
pub mod migrations;

use questline_kit::paging::Page;
use questline_kit::{DomainError, inbox, new_id, time::now_ms};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use crate::domain::Content;
use entities::message;

/// Who a message is for and which event caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery<'a> {
    pub tenant_id: &'a str,
    pub member_id: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
}

/// One page of a member's inbox, newest first.
pub struct InboxPage {
    pub messages: Vec<message::Model>,
    pub next_page_token: String,
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Store {
        Store { db }
    }

    /// Puts the message rendered by `render` in the member's inbox, the first
    /// time the event is seen; a redelivery returns `None` without rendering.
    /// If `render` fails nothing is recorded, so the event comes again.
    pub async fn deliver<F>(
        &self,
        to: &Delivery<'_>,
        render: F,
    ) -> Result<Option<message::Model>, DomainError>
    where
        F: Fn() -> Result<Content, DomainError>,
    {
        questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            if !inbox::first_delivery(&txn, crate::events::CONSUMER, to.event_id).await? {
                return Ok(None);
            }
            let content = render()?;
            let row = message::ActiveModel {
                message_id: Set(new_id()),
                tenant_id: Set(to.tenant_id.into()),
                member_id: Set(to.member_id.into()),
                event_id: Set(to.event_id.into()),
                event_type: Set(to.event_type.into()),
                title: Set(content.title),
                body: Set(content.body),
                created_at: Set(now_ms()),
            }
            .insert(&txn)
            .await?;
            txn.commit().await?;
            Ok(Some(row))
        })
        .await
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

    /// A member's messages, newest first, resuming after `page.after`.
    pub async fn inbox(
        &self,
        tenant_id: &str,
        member_id: &str,
        page: &Page,
    ) -> Result<InboxPage, DomainError> {
        let mut query = message::Entity::find()
            .filter(message::Column::TenantId.eq(tenant_id))
            .filter(message::Column::MemberId.eq(member_id));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Content;
    use questline_kit::paging;

    async fn store(dir: &tempfile::TempDir) -> Store {
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("notifications.db").display()
        );
        Store::new(
            questline_kit::db::connect::<migrations::Migrator>(&url)
                .await
                .unwrap(),
        )
    }

    fn to<'a>(tenant_id: &'a str, member_id: &'a str, event_id: &'a str) -> Delivery<'a> {
        Delivery {
            tenant_id,
            member_id,
            event_id,
            event_type: "points.credited",
        }
    }

    fn content(title: &str) -> Result<Content, DomainError> {
        Ok(Content {
            title: title.into(),
            body: "body".into(),
        })
    }

    fn first_page() -> Page {
        paging::parse(2, "").unwrap()
    }

    #[tokio::test]
    async fn a_redelivered_event_gives_one_message() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let first = store
            .deliver(&to("acme", "m1", "e1"), || content("once"))
            .await
            .unwrap();
        assert!(first.is_some());
        let again = store
            .deliver(&to("acme", "m1", "e1"), || {
                panic!("a redelivery must not render")
            })
            .await
            .unwrap();
        assert!(again.is_none());
        let page = store.inbox("acme", "m1", &first_page()).await.unwrap();
        assert_eq!(page.messages.len(), 1);
        assert_eq!(page.messages[0].title, "once");
    }

    #[tokio::test]
    async fn a_failed_render_records_nothing_so_the_event_can_come_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let failed = store
            .deliver(&to("acme", "m1", "e1"), || {
                Err(DomainError::Internal("template".into()))
            })
            .await;
        assert!(failed.is_err());
        let retried = store
            .deliver(&to("acme", "m1", "e1"), || content("second try"))
            .await
            .unwrap();
        assert!(retried.is_some());
    }

    #[tokio::test]
    async fn pages_run_newest_first_and_stay_in_their_tenant_and_member() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        for (n, event_id) in ["e1", "e2", "e3"].into_iter().enumerate() {
            let title = format!("message {n}");
            store
                .deliver(&to("acme", "m1", event_id), || content(&title))
                .await
                .unwrap();
        }
        store
            .deliver(&to("acme", "m2", "e4"), || content("another member"))
            .await
            .unwrap();
        store
            .deliver(&to("globex", "m1", "e5"), || content("another tenant"))
            .await
            .unwrap();

        let first = store.inbox("acme", "m1", &first_page()).await.unwrap();
        let titles: Vec<_> = first.messages.iter().map(|m| m.title.as_str()).collect();
        assert_eq!(titles, ["message 2", "message 1"]);
        assert!(!first.next_page_token.is_empty());

        let next = paging::parse(2, &first.next_page_token).unwrap();
        let second = store.inbox("acme", "m1", &next).await.unwrap();
        let titles: Vec<_> = second.messages.iter().map(|m| m.title.as_str()).collect();
        assert_eq!(titles, ["message 0"]);
        assert_eq!(second.next_page_token, "");
    }
}
