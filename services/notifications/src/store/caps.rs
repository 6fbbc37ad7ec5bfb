//! Frequency caps: the programme's settings, and each member's allowance
//! taken in the transaction that puts the message, one conditional
//! increment per calendar window, so concurrent messages never overshoot
//! (PostgreSQL re-reads the count a concurrent writer left before it
//! compares; SQLite writes one transaction at a time).

use questline_kit::audit::Change;
use questline_kit::db::expect_version;
use questline_kit::{DomainError, time::now_ms};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

use super::Store;
use super::entities::{count, programme};
use super::programme::changed;
use crate::domain::caps::{Cap, Windows};
use crate::domain::quiet_hours::QuietHours;

/// The quiet hours a programme row holds; None when it has none (or they
/// do not read back, which is logged).
pub fn quiet_hours_of(row: &programme::Model) -> Option<QuietHours> {
    if row.quiet_hours.is_empty() {
        return None;
    }
    serde_json::from_str(&row.quiet_hours)
        .inspect_err(|err| {
            tracing::warn!(tenant_id = %row.tenant_id, %err, "stored quiet hours do not read back; none applied");
        })
        .ok()
}

/// A message's claim on its member's caps: the channel's cap and the
/// windows it counts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    pub cap: Cap,
    pub windows: Windows,
}

impl Store {
    /// Replaces the programme's caps and quiet hours; the same again
    /// changes nothing.
    pub async fn put_settings(
        &self,
        tenant_id: &str,
        caps: &[Cap],
        quiet_hours: Option<&QuietHours>,
        expected_version: Option<i32>,
        change: &Change,
    ) -> Result<programme::Model, DomainError> {
        use programme::Column as P;
        let text = serde_json::to_string(caps).map_err(DomainError::internal)?;
        let quiet = match quiet_hours {
            Some(q) => serde_json::to_string(q).map_err(DomainError::internal)?,
            None => String::new(),
        };
        questline_kit::db::retrying(|| async {
            let txn = self.db.begin().await?;
            let current = programme::Entity::find_by_id(tenant_id.to_string())
                .one(&txn)
                .await?;
            let version = current.as_ref().map_or(0, |p| p.settings_version);
            if let Some(p) = current
                .as_ref()
                .filter(|p| p.caps == text && p.quiet_hours == quiet)
            {
                return Ok(p.clone());
            }
            expect_version("messaging settings", version, expected_version)?;
            // The row exists after this (a revision of 1 if it is new).
            changed(&txn, tenant_id, change).await?;
            let moved = programme::Entity::update_many()
                .col_expr(P::Caps, Expr::value(text.clone()))
                .col_expr(P::QuietHours, Expr::value(quiet.clone()))
                .col_expr(P::SettingsVersion, Expr::value(version + 1))
                .col_expr(P::SettingsUpdatedAt, Expr::value(now_ms()))
                .filter(P::TenantId.eq(tenant_id))
                .filter(P::SettingsVersion.eq(version))
                .exec(&txn)
                .await?;
            if moved.rows_affected == 0 {
                return Err(DomainError::Aborted(
                    "messaging settings changed meanwhile".into(),
                ));
            }
            let row = programme::Entity::find_by_id(tenant_id.to_string())
                .one(&txn)
                .await?
                .ok_or_else(|| DomainError::internal("the programme row vanished"))?;
            txn.commit().await?;
            Ok(row)
        })
        .await
    }
}

impl Store {
    /// Deletes an erased member's counts.
    pub async fn forget_counts(&self, tenant_id: &str, member_id: &str) -> Result<(), DomainError> {
        count::Entity::delete_many()
            .filter(count::Column::TenantId.eq(tenant_id))
            .filter(count::Column::MemberId.eq(member_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// Takes one message from the member's allowance in each capped window;
/// false (and nothing taken) when a window is full.
pub(super) async fn take_allowance(
    txn: &impl ConnectionTrait,
    tenant_id: &str,
    member_id: &str,
    allowance: &Allowance,
) -> Result<bool, DomainError> {
    let cap = &allowance.cap;
    let windows = [
        (&allowance.windows.day, cap.per_day),
        (&allowance.windows.week, cap.per_week),
    ];
    let mut taken: Vec<Key<'_>> = Vec::with_capacity(2);
    for (period, limit) in windows.into_iter().filter(|(_, limit)| *limit > 0) {
        let key = Key {
            tenant_id,
            member_id,
            channel: cap.channel.name(),
            period,
        };
        if !key.take(txn, limit).await? {
            for key in taken {
                key.give_back(txn).await?;
            }
            return Ok(false);
        }
        taken.push(key);
    }
    Ok(true)
}

/// One member's count on one channel in one window.
struct Key<'a> {
    tenant_id: &'a str,
    member_id: &'a str,
    channel: &'a str,
    period: &'a str,
}

impl Key<'_> {
    fn filter<Q: QueryFilter>(&self, query: Q) -> Q {
        use count::Column as C;
        query
            .filter(C::TenantId.eq(self.tenant_id))
            .filter(C::MemberId.eq(self.member_id))
            .filter(C::Channel.eq(self.channel))
            .filter(C::Period.eq(self.period))
    }

    /// One more, unless `limit` are counted already.
    async fn take(&self, txn: &impl ConnectionTrait, limit: u32) -> Result<bool, DomainError> {
        use count::Column as C;
        let row = count::ActiveModel {
            tenant_id: Set(self.tenant_id.into()),
            member_id: Set(self.member_id.into()),
            channel: Set(self.channel.into()),
            period: Set(self.period.into()),
            sent: Set(0),
        };
        let keys = [C::TenantId, C::MemberId, C::Channel, C::Period];
        count::Entity::insert(row)
            .on_conflict(OnConflict::columns(keys).do_nothing().to_owned())
            .exec_without_returning(txn)
            .await?;
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let took = self
            .filter(count::Entity::update_many())
            .col_expr(C::Sent, Expr::col(C::Sent).add(1))
            .filter(C::Sent.lt(limit))
            .exec(txn)
            .await?;
        Ok(took.rows_affected == 1)
    }

    async fn give_back(&self, txn: &impl ConnectionTrait) -> Result<(), DomainError> {
        use count::Column as C;
        self.filter(count::Entity::update_many())
            .col_expr(C::Sent, Expr::col(C::Sent).sub(1))
            .exec(txn)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::channels::Channel;
    use crate::store::Delivery;
    use crate::store::tests::store;

    fn allowance(day: &str, week: &str, per_day: u32, per_week: u32) -> Allowance {
        Allowance {
            cap: Cap {
                channel: Channel::Inbox,
                per_day,
                per_week,
            },
            windows: Windows {
                day: day.into(),
                week: week.into(),
            },
        }
    }

    /// Offers one message per event id; how many were put and capped.
    async fn offer(store: &Store, events: &[&str], allowance: &Allowance) -> (usize, usize) {
        let to: Vec<Delivery<'_>> = events
            .iter()
            .map(|event_id| Delivery {
                event_type: "rule.message.promo",
                allowance: Some(allowance.clone()),
                ..crate::store::tests::to("acme", "m1", event_id)
            })
            .collect();
        let done = store
            .deliver_all(&to, |_| crate::store::tests::content("Promo"))
            .await
            .unwrap();
        (done.messages.len(), done.capped)
    }

    #[tokio::test]
    async fn a_day_and_a_week_each_hold_their_cap() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let monday = allowance("d2026-12-07", "w2026-W50", 3, 4);
        assert_eq!(
            offer(&store, &["e1", "e2", "e3", "e4", "e5"], &monday).await,
            (3, 2)
        );
        // Offered again: handled events count nothing more.
        assert_eq!(offer(&store, &["e1", "e2"], &monday).await, (0, 0));
        // Tuesday: a fresh day, but one left in the week.
        let tuesday = allowance("d2026-12-08", "w2026-W50", 3, 4);
        assert_eq!(offer(&store, &["e6", "e7"], &tuesday).await, (1, 1));
        // The day's count took nothing for the message the week refused.
        let next_week = allowance("d2026-12-08", "w2026-W51", 3, 4);
        assert_eq!(
            offer(&store, &["e8", "e9", "e10"], &next_week).await,
            (2, 1)
        );
    }
}
