//! A member's inbox beyond the list: what is unread, marking read,
//! deleting, and the new messages the live feed looks for.

use questline_kit::DomainError;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Store;
use super::entities::message;

/// How many messages a member has, and how many are unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxSummary {
    pub messages: u64,
    pub unread: u64,
}

/// Which messages to mark read.
pub enum Marked<'a> {
    These(&'a [String]),
    All,
}

impl Store {
    pub async fn inbox_summary(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<InboxSummary, DomainError> {
        let mine = || {
            message::Entity::find()
                .filter(message::Column::TenantId.eq(tenant_id))
                .filter(message::Column::MemberId.eq(member_id))
        };
        let messages = mine().count(&self.db).await?;
        let unread = mine()
            .filter(message::Column::ReadAt.eq(0))
            .count(&self.db)
            .await?;
        Ok(InboxSummary { messages, unread })
    }

    /// Marks the unread ones among `which` read at `now`; how many were.
    pub async fn mark_read(
        &self,
        tenant_id: &str,
        member_id: &str,
        which: Marked<'_>,
        now: i64,
    ) -> Result<u64, DomainError> {
        let mut update = message::Entity::update_many()
            .col_expr(message::Column::ReadAt, Expr::value(now))
            .filter(message::Column::TenantId.eq(tenant_id))
            .filter(message::Column::MemberId.eq(member_id))
            .filter(message::Column::ReadAt.eq(0));
        if let Marked::These(ids) = which {
            update = update.filter(message::Column::MessageId.is_in(ids.iter().cloned()));
        }
        Ok(update.exec(&self.db).await?.rows_affected)
    }

    /// Deletes one message; NOT_FOUND when the member has no such message.
    pub async fn delete_message(
        &self,
        tenant_id: &str,
        member_id: &str,
        message_id: &str,
    ) -> Result<(), DomainError> {
        let gone = message::Entity::delete_many()
            .filter(message::Column::TenantId.eq(tenant_id))
            .filter(message::Column::MemberId.eq(member_id))
            .filter(message::Column::MessageId.eq(message_id))
            .exec(&self.db)
            .await?;
        if gone.rows_affected == 0 {
            return Err(DomainError::NotFound(format!(
                "no message {message_id} in this inbox"
            )));
        }
        Ok(())
    }

    /// The member's messages after `after_id`, oldest first, at most `most`.
    pub async fn inbox_after(
        &self,
        tenant_id: &str,
        member_id: &str,
        after_id: &str,
        most: u64,
    ) -> Result<Vec<message::Model>, DomainError> {
        Ok(message::Entity::find()
            .filter(message::Column::TenantId.eq(tenant_id))
            .filter(message::Column::MemberId.eq(member_id))
            .filter(message::Column::MessageId.gt(after_id))
            .order_by_asc(message::Column::MessageId)
            .limit(most)
            .all(&self.db)
            .await?)
    }

    /// Every member's messages created at or after `since` (ms), oldest
    /// first, at most `most`: what the live feed looks through.
    pub async fn messages_since(
        &self,
        since: i64,
        most: u64,
    ) -> Result<Vec<message::Model>, DomainError> {
        Ok(message::Entity::find()
            .filter(message::Column::CreatedAt.gte(since))
            .order_by_asc(message::Column::CreatedAt)
            .limit(most)
            .all(&self.db)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{put, store, to};

    async fn deliver(store: &Store, member_id: &str, event_id: &str) -> String {
        let put = put(store, to("acme", member_id, event_id), event_id).await;
        put[0].message_id.clone()
    }

    #[tokio::test]
    async fn read_marks_count_once_and_stay_in_their_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let first = deliver(&store, "m1", "e1").await;
        deliver(&store, "m1", "e2").await;
        let theirs = deliver(&store, "m2", "e3").await;
        let summary = |member| store.inbox_summary("acme", member);
        assert_eq!(summary("m1").await.unwrap().unread, 2);

        let named = [first.clone(), theirs.clone(), "nope".into()];
        let marked = store.mark_read("acme", "m1", Marked::These(&named), 7);
        assert_eq!(marked.await.unwrap(), 1);
        let again = store.mark_read("acme", "m1", Marked::These(&named), 8);
        assert_eq!(again.await.unwrap(), 0);
        assert_eq!(
            summary("m1").await.unwrap(),
            InboxSummary {
                messages: 2,
                unread: 1
            }
        );
        // The other member's message was named, not touched.
        assert_eq!(summary("m2").await.unwrap().unread, 1);

        assert_eq!(
            store.mark_read("acme", "m1", Marked::All, 9).await.unwrap(),
            1
        );
        assert_eq!(summary("m1").await.unwrap().unread, 0);
    }

    #[tokio::test]
    async fn a_message_is_deleted_from_its_own_inbox_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let mine = deliver(&store, "m1", "e1").await;
        let theirs = deliver(&store, "m2", "e2").await;
        let refused = store.delete_message("acme", "m1", &theirs).await;
        assert!(matches!(refused, Err(DomainError::NotFound(_))));
        store.delete_message("acme", "m1", &mine).await.unwrap();
        assert!(store.delete_message("acme", "m1", &mine).await.is_err());
        assert_eq!(store.inbox_summary("acme", "m2").await.unwrap().messages, 1);
    }

    #[tokio::test]
    async fn messages_after_one_come_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let first = deliver(&store, "m1", "e1").await;
        let second = deliver(&store, "m1", "e2").await;
        let third = deliver(&store, "m1", "e3").await;
        let after = store.inbox_after("acme", "m1", &first, 10).await.unwrap();
        let ids: Vec<_> = after.into_iter().map(|m| m.message_id).collect();
        assert_eq!(ids, [second, third]);
        let recent = store.messages_since(0, 2).await.unwrap();
        assert_eq!(recent.len(), 2);
    }
}
