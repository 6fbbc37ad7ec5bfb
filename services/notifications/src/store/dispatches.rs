//! Messages by email, push and SMS: staged with the event that caused them
//! (in `deliver_all`), claimed for one attempt at a time by moving their
//! `due_at` to the end of a lease, and left SENT, PENDING for a retry,
//! FAILED, or SUPPRESSED with the reason.

use questline_kit::DomainError;
use questline_kit::outbox;
use questline_kit::paging::Page;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::Store;
use super::entities::dispatch;
use crate::domain::channels::{Channel, Purpose};
use crate::events::published;

pub const PENDING: &str = "PENDING";
pub const SENT: &str = "SENT";
pub const FAILED: &str = "FAILED";
pub const SUPPRESSED: &str = "SUPPRESSED";

/// Where an attempt leaves its dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: &'static str,
    /// Kept unless empty: why it was not sent.
    pub reason: &'static str,
    /// The next attempt's time, for PENDING.
    pub due_at: i64,
    pub sent_at: i64,
    pub error: String,
    /// False when the provider was not tried (the attempt is given back).
    pub counted: bool,
}

impl Store {
    /// Up to `limit` dispatches of `purpose` on `channel` due at `now`,
    /// oldest first.
    pub async fn due_dispatches(
        &self,
        channel: Channel,
        purpose: Purpose,
        now: i64,
        limit: u64,
    ) -> Result<Vec<dispatch::Model>, DomainError> {
        use dispatch::Column as D;
        Ok(dispatch::Entity::find()
            .filter(D::Status.eq(PENDING))
            .filter(D::DueAt.lte(now))
            .filter(D::Channel.eq(channel.name()))
            .filter(D::Purpose.eq(purpose.name()))
            .order_by_asc(D::DueAt)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// Claims `d` for one attempt until `lease_until`: false when another
    /// sender claimed it first or it is no longer due.
    pub async fn claim_dispatch(
        &self,
        d: &dispatch::Model,
        lease_until: i64,
    ) -> Result<bool, DomainError> {
        use dispatch::Column as D;
        let claimed = dispatch::Entity::update_many()
            .col_expr(D::DueAt, Expr::value(lease_until))
            .col_expr(D::Attempts, Expr::value(d.attempts + 1))
            .filter(D::DispatchId.eq(d.dispatch_id.as_str()))
            .filter(D::Status.eq(PENDING))
            .filter(D::DueAt.eq(d.due_at))
            .exec(&self.db)
            .await?;
        Ok(claimed.rows_affected == 1)
    }

    /// Records where an attempt under the lease `lease_until` left `d`;
    /// false when the lease was lost (the member erased meanwhile, or the
    /// attempt outlived its lease and another took it). A dispatch that
    /// settles (sent, failed, suppressed) is announced as
    /// `message.dispatched` in the same transaction.
    pub async fn finish_dispatch(
        &self,
        d: &dispatch::Model,
        lease_until: i64,
        outcome: Outcome,
    ) -> Result<bool, DomainError> {
        let left = left_by(d, &outcome);
        let settles = outcome.status != PENDING;
        let finished = questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            if !record(&txn, &left, lease_until).await? {
                return Ok(false);
            }
            if settles {
                outbox::stage(&txn, &published::dispatch_settled(&left)).await?;
            }
            txn.commit().await?;
            Ok(true)
        })
        .await?;
        if finished && settles {
            self.relay.wake();
        }
        Ok(finished)
    }

    /// A member's dispatches (of one channel, if given), newest first.
    pub async fn dispatches(
        &self,
        tenant_id: &str,
        member_id: &str,
        channel: Option<Channel>,
        page: &Page,
    ) -> Result<Vec<dispatch::Model>, DomainError> {
        use dispatch::Column as D;
        let mut query = dispatch::Entity::find()
            .filter(D::TenantId.eq(tenant_id))
            .filter(D::MemberId.eq(member_id));
        if let Some(channel) = channel {
            query = query.filter(D::Channel.eq(channel.name()));
        }
        if let Some(after) = &page.after {
            query = query.filter(D::DispatchId.lt(after.as_str()));
        }
        Ok(query
            .order_by_desc(D::DispatchId)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await?)
    }

    /// Deletes every dispatch of an erased member, sent or not.
    pub async fn forget_dispatches(
        &self,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<(), DomainError> {
        use dispatch::Column as D;
        dispatch::Entity::delete_many()
            .filter(D::TenantId.eq(tenant_id))
            .filter(D::MemberId.eq(member_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// `d` (as read before its claim) as the attempt leaves it: the reason
/// kept unless the outcome gives one, the attempt counted only when the
/// provider was tried.
fn left_by(d: &dispatch::Model, outcome: &Outcome) -> dispatch::Model {
    let mut row = d.clone();
    row.status = outcome.status.into();
    if !outcome.reason.is_empty() {
        row.reason = outcome.reason.into();
    }
    row.attempts = d.attempts + i32::from(outcome.counted);
    row.due_at = outcome.due_at;
    row.sent_at = outcome.sent_at;
    row.last_error = outcome.error.clone();
    row
}

/// Writes `left` over the lease; false when the lease was lost.
async fn record(
    txn: &impl ConnectionTrait,
    left: &dispatch::Model,
    lease_until: i64,
) -> Result<bool, DomainError> {
    use dispatch::Column as D;
    let done = dispatch::Entity::update_many()
        .col_expr(D::Status, Expr::value(left.status.as_str()))
        .col_expr(D::Reason, Expr::value(left.reason.as_str()))
        .col_expr(D::Attempts, Expr::value(left.attempts))
        .col_expr(D::DueAt, Expr::value(left.due_at))
        .col_expr(D::SentAt, Expr::value(left.sent_at))
        .col_expr(D::LastError, Expr::value(left.last_error.as_str()))
        .filter(D::DispatchId.eq(left.dispatch_id.as_str()))
        .filter(D::Status.eq(PENDING))
        .filter(D::DueAt.eq(lease_until))
        .exec(txn)
        .await?;
    Ok(done.rows_affected == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{content, store, to};
    use crate::store::{Delivery, Fate};

    fn email(event_id: &str) -> Delivery<'_> {
        Delivery {
            channel: Channel::Email,
            fate: Fate::Send {
                due_at: 0,
                reason: "",
            },
            ..to("acme", "m1", event_id)
        }
    }

    fn outcome(status: &'static str, reason: &'static str, due_at: i64, counted: bool) -> Outcome {
        Outcome {
            status,
            reason,
            due_at,
            sent_at: if status == SENT { due_at } else { 0 },
            error: String::new(),
            counted,
        }
    }

    /// The one dispatch due at `now`, claimed until `lease`.
    async fn claim(store: &Store, now: i64, lease: i64) -> dispatch::Model {
        let due = store
            .due_dispatches(Channel::Email, Purpose::Transactional, now, 1)
            .await
            .unwrap();
        assert!(store.claim_dispatch(&due[0], lease).await.unwrap());
        due[0].clone()
    }

    /// A fresh store holding one email dispatch, due at once.
    async fn with_one_email(dir: &tempfile::TempDir) -> Store {
        let store = store(dir).await;
        store
            .deliver_all(&[email("e1")], |_| content("hi"))
            .await
            .unwrap();
        store
    }

    #[tokio::test]
    async fn a_dispatch_is_announced_when_it_settles_never_while_it_waits() {
        let dir = tempfile::tempdir().unwrap();
        let store = with_one_email(&dir).await;
        assert!(store.settled().await.is_empty(), "still to send");

        let first = claim(&store, 1_000, 5_000).await;
        let retry = outcome(PENDING, "", 9_000, true);
        assert!(store.finish_dispatch(&first, 5_000, retry).await.unwrap());
        assert!(store.settled().await.is_empty(), "a retry is not settled");

        let second = claim(&store, 10_000, 20_000).await;
        let sent = outcome(SENT, "", 10_500, true);
        assert!(
            store
                .finish_dispatch(&second, 20_000, sent.clone())
                .await
                .unwrap()
        );
        let settled = store.settled().await;
        assert_eq!(settled.len(), 1);
        assert_eq!(settled[0].dispatch_id, first.dispatch_id);
        assert_eq!(
            (settled[0].status.as_str(), settled[0].attempts),
            ("SENT", 2)
        );
        assert_eq!(settled[0].channel, "email");

        // The lease is spent: a late second answer changes and announces nothing.
        assert!(!store.finish_dispatch(&second, 20_000, sent).await.unwrap());
        assert_eq!(store.settled().await.len(), 1);
    }

    #[tokio::test]
    async fn a_suppression_found_at_sending_is_announced_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = with_one_email(&dir).await;
        let due = claim(&store, 1_000, 5_000).await;
        let withdrawn = outcome(SUPPRESSED, "NO_CONSENT", 0, false);
        assert!(store.finish_dispatch(&due, 5_000, withdrawn).await.unwrap());
        let settled = store.settled().await;
        let seen = (settled[0].status.as_str(), settled[0].reason.as_str());
        assert_eq!(seen, ("SUPPRESSED", "NO_CONSENT"));
        assert_eq!(settled[0].attempts, 0, "the provider was never tried");
    }
}
