//! Messages by email, push and SMS: staged with the event that caused them
//! (in `deliver_all`), claimed for one attempt at a time by moving their
//! `due_at` to the end of a lease, and left SENT, PENDING for a retry,
//! FAILED, or SUPPRESSED with the reason.

use questline_kit::DomainError;
use questline_kit::paging::Page;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Store;
use super::entities::dispatch;
use crate::domain::channels::{Channel, Purpose};

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
    /// attempt outlived its lease and another took it).
    pub async fn finish_dispatch(
        &self,
        d: &dispatch::Model,
        lease_until: i64,
        outcome: Outcome,
    ) -> Result<bool, DomainError> {
        use dispatch::Column as D;
        let mut update = dispatch::Entity::update_many()
            .col_expr(D::Status, Expr::value(outcome.status))
            .col_expr(D::DueAt, Expr::value(outcome.due_at))
            .col_expr(D::SentAt, Expr::value(outcome.sent_at))
            .col_expr(D::LastError, Expr::value(outcome.error));
        if !outcome.reason.is_empty() {
            update = update.col_expr(D::Reason, Expr::value(outcome.reason));
        }
        if !outcome.counted {
            update = update.col_expr(D::Attempts, Expr::value(d.attempts));
        }
        let done = update
            .filter(D::DispatchId.eq(d.dispatch_id.as_str()))
            .filter(D::Status.eq(PENDING))
            .filter(D::DueAt.eq(lease_until))
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected == 1)
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
